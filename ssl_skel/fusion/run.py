"""A fusion run: render the built-in RGB-D data if asked, train stage by stage, evaluate.

Each stage of a multi-stage schedule is one `fit` run in `<run_dir>/stage<i>_<name>`,
later stages starting from the weights of earlier ones; every stream is then evaluated on
the test split and `<run_dir>/results.json` is written beside the engine's checkpoints.
With `validation=f` a stratified share f of the *training* split is held out instead
(`validation_positions`, the same clips for every training seed), the model trains on
the rest and is evaluated there: the way to choose settings without touching the test split.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import torch

from ssl_skel.core.checkpoint import encoder_entry, load_checkpoint
from ssl_skel.core.config import ConfigError, FusionConfig, from_dict, to_dict
from ssl_skel.core.io import atomic_write_bytes
from ssl_skel.core.registry import ADAPTERS
from ssl_skel.engine.trainer import fit
from ssl_skel.fusion import build_adapter
from ssl_skel.fusion.base import FusionAdapter
from ssl_skel.fusion.evaluate import evaluate_adapter
from ssl_skel.fusion.rgbd import RGBDClips, RGBDSubset, build_rgbd_dataset, validation_positions
from ssl_skel.fusion.skeleton import build_skeleton_branch
from ssl_skel.fusion.synthetic_rgbd import generate_rgbd_dataset, is_complete

log = logging.getLogger(__name__)


def ensure_data(cfg: FusionConfig) -> None:
    """Render the synthetic RGB-D data when the preset asks for it and it is not there."""
    syn = cfg.data.synthetic
    if syn is None or is_complete(cfg.data.root):
        return
    log.info("rendering the synthetic RGB-D data into %s", cfg.data.root)
    generate_rgbd_dataset(
        cfg.data.root,
        seed=syn.seed,
        clips_per_class=syn.clips_per_class,
        render_frames=syn.render_frames,
        size=syn.size,
        corrupt_fraction=syn.corrupt_fraction,
        corrupt_parts=syn.corrupt_parts,
        corrupt_noise=syn.corrupt_noise,
    )


def _format_paths(params: dict, data_root: str) -> dict:
    return {k: v.format(data_root=data_root) if isinstance(v, str) else v for k, v in params.items()}


def build_run(
    cfg: FusionConfig, *, validation: float = 0.0
) -> tuple[FusionAdapter, RGBDClips | RGBDSubset, RGBDClips | RGBDSubset]:
    """Datasets and adapter for a validated FusionConfig: (adapter, train_set, eval_set).

    eval_set is the test split, or with `validation` > 0 the held-out share of the
    training split (train_set is then the rest).
    """
    train_set = build_rgbd_dataset(cfg.data, "train", train=True, seed=cfg.seed)
    if validation > 0:
        fit_rows, val_rows = validation_positions(train_set.labels, validation)
        held_out = build_rgbd_dataset(cfg.data, "train", train=False, seed=cfg.seed)
        test_set = RGBDSubset(held_out, val_rows)
        train_set = RGBDSubset(train_set, fit_rows)
    else:
        test_set = build_rgbd_dataset(cfg.data, "test", train=False, seed=cfg.seed)
    params = _format_paths(cfg.params, cfg.data.root)
    entry = ADAPTERS.get(cfg.adapter)
    if cfg.skeleton.checkpoint and not entry.cls.encoder_used(from_dict(entry.params, params, source=cfg.adapter)):
        raise ConfigError(
            f"skeleton.checkpoint: {cfg.adapter} with these params uses its own pose network, not the skeleton "
            "encoder, so the pretrained encoder would have no effect (see the adapter's docstring)"
        )
    encoder = build_skeleton_branch(cfg.skeleton, train_set.spec)
    adapter = build_adapter(
        cfg.adapter,
        params,
        encoder,
        train_set.num_classes,
        train_set.rgbd_spec,
        freeze_encoder=cfg.skeleton.freeze,
        modality=cfg.skeleton.modality or None,
    )
    adapter.ddp_find_unused_parameters = True  # stages leave streams out of a step
    folder = getattr(adapter, "sample_features", "")
    if folder:
        clips = train_set.clips if isinstance(train_set, RGBDSubset) else train_set
        clips.attach_sample_features(folder, adapter.params.text_dim)
    return adapter, train_set, test_set


def run_fusion(cfg: FusionConfig, *, resume: str = "auto", eval_only: bool = False, validation: float = 0.0) -> dict:
    """Train (stage by stage) and evaluate; returns the results written to results.json."""
    torch.manual_seed(cfg.seed)
    ensure_data(cfg)
    adapter, train_set, test_set = build_run(cfg, validation=validation)
    run_dir = Path(cfg.run_dir)
    stages = [(s.name, s.epochs) for s in cfg.stages] or [("all", cfg.train.epochs)]
    meta = {
        "kind": "fusion",
        "config": to_dict(cfg),
        "adapter": cfg.adapter,
        "encoder": encoder_entry(adapter.encoder),
    }
    history, last = {}, None
    for i, (stage, epochs) in enumerate(stages):
        adapter.set_stage(stage)
        stage_dir = run_dir if len(stages) == 1 else run_dir / f"stage{i + 1}_{stage}"
        if eval_only:
            last = stage_dir / "last.pt"
            continue
        train_cfg = dataclasses.replace(cfg.train, epochs=epochs, warmup_epochs=min(cfg.train.warmup_epochs, epochs))
        result = fit(
            adapter,
            train_set,
            train_cfg,
            stage_dir,
            seed=cfg.seed,
            checkpoint_meta={**meta, "stage": stage},
            num_workers=cfg.data.num_workers,
            resume=resume,
        )
        history[stage], last = result.history, result.last_checkpoint
    if eval_only:
        adapter.load_state_dict(load_checkpoint(last)["model"])
    metrics = evaluate_adapter(adapter, test_set, batch_size=cfg.eval_batch_size)
    results = {
        "adapter": cfg.adapter,
        "name": cfg.name,
        "checkpoint": str(last),
        "stages": [s for s, _ in stages],
        "split": f"validation ({validation:g} of train)" if validation > 0 else "test",
        **metrics,
        "history": history,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(run_dir / "results.json", json.dumps(results, indent=2).encode())
    return results
