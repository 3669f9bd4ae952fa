#!/usr/bin/env python
"""Embeddings of a trained encoder on real clips, at retrieval-benchmark size, for `eval_speed.py --real`.

    python benchmarks/real_embeddings.py --checkpoint RUN/last.pt --views 40 --out /tmp/ucla_real.npz
    python benchmarks/eval_speed.py --skip-extraction --kinds --real /tmp/ucla_real.npz

Why: the pruned search's speed depends on the spectrum of the features, and synthetic
"decaying" features are only a model of what trained embeddings look like. Real datasets
here are small (NW-UCLA: 1,020 train / 464 test clips), so each clip contributes `--views`
augmented views (the checkpoint's own training augmentations, seeded), embedded by the
frozen encoder: real clips and a real encoder, at NTU-like gallery and query sizes. The
views of one clip are near-duplicates, which makes the ranking harder, not easier (close
runner-up scores). Arrays written: `train`, `test` (float32, L2-normalised by the search).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch


def embed_views(encoder, dataset, views: int, batch: int, modality: str) -> np.ndarray:
    """(len(dataset) * views, D): `views` augmented views of every clip (epoch e gives view e)."""
    out = []
    for e in range(views):
        dataset.set_epoch(e)
        clips = [dataset[i]["views"][0] for i in range(len(dataset))]
        for s in range(0, len(clips), batch):
            out.append(encoder.embed(torch.stack(clips[s : s + batch]), modality).numpy())
    return np.concatenate(out).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="an ssl_skel pretraining checkpoint (last.pt)")
    p.add_argument("--data", default=None, help="dataset folder (default: the checkpoint's data.root)")
    p.add_argument("--views", type=int, default=40, help="augmented views per clip")
    p.add_argument("--modality", default="fused")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True, help=".npz to write")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from dataclasses import replace

    from ssl_skel.core.checkpoint import read_checkpoint
    from ssl_skel.core.config import config_from_tree
    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.evaluation.api import load_encoder

    encoder = load_encoder(args.checkpoint)
    cfg = config_from_tree(read_checkpoint(args.checkpoint)["config"], args.checkpoint)
    data = replace(cfg.data, num_views=1, **({"root": args.data} if args.data else {}))
    parts = {}
    for part in ("train", "test"):
        dataset = build_dataset(data, part, train=True, seed=cfg.seed)
        parts[part] = embed_views(encoder, dataset, args.views, args.batch, args.modality)
        print(f"{part}: {len(dataset)} clips x {args.views} views -> {parts[part].shape}", flush=True)
    np.savez(args.out, **parts)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
