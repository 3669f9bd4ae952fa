"""`ssl-skel fusion --adapter {umdr,integral,epam,mmcl} --config PRESET [key=value ...]`.

Trains a fusion adapter with the one training engine (each stage of a multi-stage
schedule is one `fit` run in `<run_dir>/stage<i>_<name>`, later stages starting from
the weights of earlier ones), then evaluates every stream on the test split and writes
`<run_dir>/results.json` beside the engine's checkpoints. With `data.synthetic` set and
no data at `data.root`, the built-in RGB-D data is rendered there first.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Sequence

log = logging.getLogger("ssl_skel.fusion")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssl-skel fusion", description=__doc__.split("\n\n")[0])
    p.add_argument("--adapter", choices=("umdr", "integral", "epam", "mmcl"), default=None,
                   help="adapter to train (must match the preset's `adapter` when it sets one)")
    p.add_argument("--config", required=True, help="preset name in configs/ or a YAML path")
    p.add_argument("--resume", default="auto", help="auto (default), none, or a checkpoint path")
    p.add_argument("--eval-only", action="store_true", help="evaluate the run's last checkpoint, no training")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides (YAML values)")
    return p


def ensure_data(cfg) -> None:
    """Render the synthetic RGB-D data when the preset asks for it and it is not there."""
    from ssl_skel.data.synthetic_rgbd import generate_rgbd_dataset, is_complete

    syn = cfg.data.synthetic
    if syn is None or is_complete(cfg.data.root):
        return
    log.info("rendering the synthetic RGB-D data into %s", cfg.data.root)
    generate_rgbd_dataset(
        cfg.data.root, seed=syn.seed, clips_per_class=syn.clips_per_class, render_frames=syn.render_frames,
        size=syn.size, corrupt_fraction=syn.corrupt_fraction, corrupt_parts=syn.corrupt_parts,
        corrupt_noise=syn.corrupt_noise,
    )


def _format_paths(params: dict, data_root: str) -> dict:
    return {k: v.format(data_root=data_root) if isinstance(v, str) else v for k, v in params.items()}


def build_run(cfg):
    """Datasets and adapter for a validated FusionConfig: (adapter, train_set, test_set)."""
    from ssl_skel.data.rgbd import build_rgbd_dataset
    from ssl_skel.models.fusion import build_adapter
    from ssl_skel.models.fusion.skeleton import build_skeleton_branch

    train_set = build_rgbd_dataset(cfg.data, "train", train=True, seed=cfg.seed)
    test_set = build_rgbd_dataset(cfg.data, "test", train=False, seed=cfg.seed)
    encoder = build_skeleton_branch(cfg.skeleton, train_set.spec)
    adapter = build_adapter(
        cfg.adapter, _format_paths(cfg.params, cfg.data.root), encoder, train_set.num_classes, train_set.rgbd_spec,
        freeze_encoder=cfg.skeleton.freeze, modality=cfg.skeleton.modality or None,
    )
    adapter.ddp_find_unused_parameters = True  # stages leave streams out of a step
    return adapter, train_set, test_set


def run_fusion(cfg, *, resume: str = "auto", eval_only: bool = False) -> dict:
    """Train (stage by stage) and evaluate; returns the results written to results.json."""
    import torch

    from ssl_skel.config import to_dict
    from ssl_skel.engine.checkpoint import load_checkpoint
    from ssl_skel.engine.trainer import fit
    from ssl_skel.models.fusion.evaluate import evaluate_adapter
    from ssl_skel.models.fusion.skeleton import encoder_entry

    torch.manual_seed(cfg.seed)
    ensure_data(cfg)
    adapter, train_set, test_set = build_run(cfg)
    run_dir = Path(cfg.run_dir)
    stages = [(s.name, s.epochs) for s in cfg.stages] or [("all", cfg.train.epochs)]
    meta = {
        "kind": "fusion", "config": to_dict(cfg), "adapter": cfg.adapter,
        "encoder": encoder_entry(adapter.encoder, cfg.skeleton.encoder.name if not cfg.skeleton.checkpoint
                                 else load_checkpoint(cfg.skeleton.checkpoint)["encoder"]["name"]),
    }
    history, last = {}, None
    for i, (stage, epochs) in enumerate(stages):
        adapter.set_stage(stage)
        stage_dir = run_dir if len(stages) == 1 else run_dir / f"stage{i + 1}_{stage}"
        if eval_only:
            last = stage_dir / "last.pt"
            continue
        train_cfg = dataclasses.replace(cfg.train, epochs=epochs, warmup_epochs=min(cfg.train.warmup_epochs, epochs))
        result = fit(adapter, train_set, train_cfg, stage_dir, seed=cfg.seed, checkpoint_meta={**meta, "stage": stage},
                     num_workers=cfg.data.num_workers, resume=resume)
        history[stage], last = result.history, result.last_checkpoint
    if eval_only:
        adapter.load_state_dict(load_checkpoint(last)["model"])
    metrics = evaluate_adapter(adapter, test_set, batch_size=cfg.eval_batch_size)
    results = {"adapter": cfg.adapter, "name": cfg.name, "checkpoint": str(last), "stages": [s for s, _ in stages],
               **metrics, "history": history}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    return results


def main(argv: Sequence[str]) -> int:
    from ssl_skel.models.fusion.config import load_fusion_config

    args = _parser().parse_args(list(argv))
    cfg = load_fusion_config(args.config, args.overrides, adapter=args.adapter)
    results = run_fusion(cfg, resume=args.resume, eval_only=args.eval_only)
    streams = "  ".join(f"{k}={v:.3f}" for k, v in results["top1"].items())
    print(f"{cfg.adapter} on {cfg.data.root} ({results['num_clips']} test clips): top-1 {streams}; "
          f"{results['clips_per_s']:.0f} clips/s; results in {Path(cfg.run_dir) / 'results.json'}")
    return 0
