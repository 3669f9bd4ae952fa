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
import sys
from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser
from ssl_skel.core.config import ConfigError, load_config
from ssl_skel.core.devices import device_arg


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="ssl-skel pretrain", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="preset name (configs/<name>.yaml) or a YAML path")
    p.add_argument(
        "--resume",
        default="auto",
        help="auto (default: continue from RUN_DIR/last.pt if present), none, or a checkpoint path",
    )
    p.add_argument(
        "--stop-after-epoch",
        type=int,
        default=None,
        help="stop after this many epochs (the schedule still spans train.epochs); resume later",
    )
    p.add_argument(
        "--device", default=None, type=device_arg, help="cpu, cuda, cuda:1 (default: cuda:LOCAL_RANK when available)"
    )
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

    from ssl_skel.engine.pretrain import NonFiniteLossError, pretrain

    hook, best = None, None
    if cfg.eval.monitor_every:
        from ssl_skel.evaluation.monitor import KNN_KEY, KnnMonitor

        hook, best = KnnMonitor(cfg), (KNN_KEY if cfg.eval.keep_best else None)
    try:
        result, is_main = pretrain(
            cfg,
            resume=_resume_arg(args.resume),
            device=args.device,
            stop_after_epoch=args.stop_after_epoch,
            eval_hook=hook,
            best_metric=best,
        )
    except NonFiniteLossError as exc:
        print(f"ssl-skel pretrain: stopped: {exc}", file=sys.stderr)
        return 1
    if not is_main:
        return 0
    last = result.history[-1] if result.history else {}
    loss = f", final loss {last['loss']:.4f}" if "loss" in last else ""
    print(f"pretrained {result.epochs_completed}/{cfg.train.epochs} epochs ({result.steps} steps{loss})")
    print(f"checkpoint: {result.last_checkpoint}")
    return 0
