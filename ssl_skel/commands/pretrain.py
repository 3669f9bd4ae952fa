"""`ssl-skel pretrain`: self-supervised pretraining from a preset, alone or under torchrun.

    ssl-skel pretrain --config synthetic
    ssl-skel pretrain --config ntu60_xsub train.epochs=100 run_dir=runs/try1
    torchrun --nproc-per-node 4 -m ssl_skel.cli pretrain --config ntu60_xsub

Builds the train split (augmented views), the encoder and the SSL method the config
names, then hands them to the one training engine. The run folder (default runs/<preset>)
receives last.pt, periodic checkpoints, config.yaml, log.txt, TensorBoard events and
curves.png; an interrupted run continues from last.pt on the next call (--resume auto).
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Sequence

from ssl_skel.config import ConfigError, load_config, to_dict

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssl-skel pretrain", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="preset name (configs/<name>.yaml) or a YAML path")
    p.add_argument("--resume", default="auto",
                   help="auto (default: continue from RUN_DIR/last.pt if present), none, or a checkpoint path")
    p.add_argument("--stop-after-epoch", type=int, default=None,
                   help="stop after this many epochs (the schedule still spans train.epochs); resume later")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda:LOCAL_RANK when available)")
    p.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. train.epochs=10")
    return p


def _resume_arg(value: str) -> bool | str:
    low = value.lower()
    if low == "auto":
        return "auto"
    if low in ("none", "no", "false", "off"):
        return False
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    if args.stop_after_epoch is not None and args.stop_after_epoch < 1:
        raise ConfigError("--stop-after-epoch must be >= 1")

    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.engine import distributed as D
    from ssl_skel.engine.trainer import NonFiniteLossError, fit, seed_everything
    from ssl_skel.models.encoders import build_encoder
    from ssl_skel.objectives import build_method
    from ssl_skel.registry import ENCODERS

    info = D.setup(args.device)  # join torchrun's group first; fit reuses it
    try:
        seed_everything(cfg.seed)  # same initial weights on every rank
        train_set = build_dataset(cfg.data, "train", train=True, seed=cfg.seed)
        encoder = build_encoder(cfg.model.name, cfg.model.params, train_set.spec)
        method = build_method(cfg.objective.name, cfg.objective.params, encoder)
        params = ENCODERS.validate_params(cfg.model.name, cfg.model.params, "config", "model")
        meta = {
            "kind": "pretrain",
            "config": to_dict(cfg),
            "encoder": {"name": cfg.model.name, "params": to_dict(params),
                        "spec": dataclasses.asdict(train_set.spec), "prefix": "encoder."},
        }
        if info.is_main:
            log.info("%s: %s encoder (%.2fM parameters), %s objective, %d training clips -> %s",
                     cfg.name, cfg.model.name, encoder.num_parameters() / 1e6, cfg.objective.name,
                     len(train_set), cfg.run_dir)
        try:
            result = fit(method, train_set, cfg.train, cfg.run_dir, seed=cfg.seed, checkpoint_meta=meta,
                         num_workers=cfg.data.num_workers, resume=_resume_arg(args.resume),
                         device=info.device, stop_after_epoch=args.stop_after_epoch)
        except NonFiniteLossError as exc:
            if info.is_main:
                print(f"ssl-skel pretrain: stopped: {exc}", file=sys.stderr)
            return 1
    finally:
        D.cleanup(info)
    if info.is_main:
        last = result.history[-1] if result.history else {}
        loss = f", final loss {last['loss']:.4f}" if "loss" in last else ""
        print(f"pretrained {result.epochs_completed}/{cfg.train.epochs} epochs ({result.steps} steps{loss})")
        print(f"checkpoint: {result.last_checkpoint}")
    return 0
