#!/usr/bin/env python
"""Pretraining data speed per worker core: ssl_skel's dataset vs the UmURL authors' feeder, side by side.

    python benchmarks/feeder_speed.py --umurl /path/to/UmURL [--clips 256] [--rounds 3]

What one DataLoader worker does, on one core (1 torch/BLAS thread), on the same clips: read a
clip from the memory-mapped array, make its four augmented views, collate batches of 32. Theirs:
`feeder/feeder_pretraining.py`'s `Feeder` (crop-resize with torch's interpolate, then joint
corruption or shear per view) with torch's `default_collate`; ours: `build_dataset` with the
ntu60_xsub preset's data section (the same recipe, parity in BENCHMARKS.md), reading the very
same files in place (a UmURL-style folder). Rounds alternate (ours, theirs, ours, ...) so both
see the same machine load; the figure is the ratio of the median clips/s.

Their checkout is imported in a `python -I` subprocess (see parity.py); their feeder's
`np.random.rand(1)` is given the scalar numpy 2 needs (same draw).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

BATCH = 32


def write_folder(folder: Path, clips: int, seed: int) -> None:
    """A UmURL-style folder: train_data_joint.npy (N, 3, 300, 25, 2), train_num_frame.npy, train_label.pkl."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(30, 301, size=clips)
    data = np.zeros((clips, 3, 300, 25, 2), np.float32)
    for i, n in enumerate(frames):
        for m in range(1 + i % 2):
            walk = np.cumsum(rng.normal(scale=0.01, size=(3, int(n), 25)), axis=1) + rng.normal(size=(3, 1, 25))
            data[i, :, :n, :, m] = walk
    folder.mkdir(parents=True)
    np.save(folder / "train_data_joint.npy", data)
    np.save(folder / "train_num_frame.npy", frames.astype(np.int64))
    with open(folder / "train_label.pkl", "wb") as fh:
        pickle.dump(
            ([f"S001C001P001R001A{1 + i % 60:03d}.skeleton" for i in range(clips)], [i % 60 for i in range(clips)]), fh
        )


def worker_umurl(repo: Path, folder: Path) -> None:
    """Their feeder + default_collate over every clip once; prints clips/s as JSON."""
    sys.path.insert(0, str(repo))
    import types

    import torch
    from torch.utils.data import default_collate

    torch.set_num_threads(1)
    from feeder import augmentations, feeder_pretraining

    shim = types.ModuleType("numpy_shim")
    shim.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    rand = types.SimpleNamespace(**{k: getattr(np.random, k) for k in dir(np.random) if not k.startswith("__")})
    rand.rand = lambda *shape: np.random.rand() if shape == (1,) else np.random.rand(*shape)
    shim.random = rand
    augmentations.np = shim
    feeder = feeder_pretraining.Feeder(
        str(folder / "train_data_joint.npy"), str(folder / "train_num_frame.npy"), [0.1, 1], 64
    )
    np.random.seed(0)
    start = time.perf_counter()
    for b in range(0, len(feeder), BATCH):
        default_collate([feeder[i] for i in range(b, min(b + BATCH, len(feeder)))])
    print(json.dumps({"clips_per_s": len(feeder) / (time.perf_counter() - start)}))


def ours(folder: Path, epoch: int) -> float:
    import dataclasses

    import torch
    from torch.utils.data import default_collate

    from ssl_skel.core.config import load_config
    from ssl_skel.data.datasets import build_dataset

    torch.set_num_threads(1)
    cfg = load_config("ntu60_xsub")
    data = dataclasses.replace(cfg.data, root=str(folder), make_command="")
    ds = build_dataset(data, "train", train=True, seed=0)
    ds.set_epoch(epoch)
    start = time.perf_counter()
    for b in range(0, len(ds), BATCH):
        default_collate([ds[i] for i in range(b, min(b + BATCH, len(ds)))])
    return len(ds) / (time.perf_counter() - start)


def theirs(repo: Path, folder: Path) -> float:
    cmd = [
        sys.executable,
        "-I",
        str(Path(__file__).resolve()),
        "--worker",
        "--umurl",
        str(repo),
        "--folder",
        str(folder),
    ]
    env = {**os.environ, "PYTHONPATH": "", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit("feeder_speed: the UmURL worker failed")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["clips_per_s"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--umurl", type=Path, required=True, help="checkout of HuiGuanLab/UmURL")
    p.add_argument("--clips", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker_umurl(args.umurl, args.folder)
        return 0
    if not (args.umurl / "feeder" / "feeder_pretraining.py").is_file():
        p.error(f"--umurl must be a checkout of HuiGuanLab/UmURL (no feeder/feeder_pretraining.py in {args.umurl})")
    with tempfile.TemporaryDirectory(prefix="ssl_skel_feeder_") as name:
        folder = Path(name) / "xsub"
        write_folder(folder, args.clips, args.seed)
        ours(folder, 99)  # warm-up: imports, page cache
        rows = []
        for r in range(args.rounds):
            a = ours(folder, r)
            b = theirs(args.umurl, folder)
            rows.append((a, b))
            print(f"round {r + 1}: ssl_skel {a:7.1f} clips/s   authors {b:7.1f} clips/s   ratio {a / b:.2f}")
    mine, their = statistics.median(a for a, _ in rows), statistics.median(b for _, b in rows)
    print(
        f"median over {args.rounds} rounds, {args.clips} clips of 30-300 frames, 4 views each, batches of {BATCH}, "
        f"1 thread: ssl_skel {mine:.1f} clips/s, authors' feeder {their:.1f} clips/s, ratio {mine / their:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
