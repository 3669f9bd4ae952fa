"""`ssl-skel finetune`: supervised fine-tuning of a pretrained encoder with a linear head.

Runs through the one training engine (torchrun for DDP; AMP, checkpoints and resume as in
pretraining); training settings come from the config's `train` section, e.g.
    ssl-skel finetune --checkpoint runs/synthetic/last.pt train.epochs=30 train.lr=0.01
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import numpy as np

from ssl_skel.commands import ArgumentParser
from ssl_skel.evaluation import runner

log = logging.getLogger(__name__)


def build_parser(prog: str = "ssl-skel finetune") -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    runner.add_common_args(p)
    p.add_argument("--modality", default="", help="encoder output to classify (default: the encoder's, fused)")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--freeze-encoder", action="store_true", help="train only the head (linear probe with augmentation)")
    p.add_argument("--resume", default="auto", help="auto (default), none, or a checkpoint path")
    return p


def run(args: argparse.Namespace, protocol: str, rows: np.ndarray | None = None, extra: dict | None = None) -> int:
    """Train on the train split (or its `rows`), evaluate the final model on the test split."""
    from ssl_skel.evaluation.finetune import LabelledSubset, evaluate, is_main_process, train_supervised

    ctx = runner.make_context(args, protocol)
    train_set = ctx.build("train", train=True)
    if rows is not None:
        train_set = LabelledSubset(train_set, rows)
    params = {
        "modality": args.modality,
        "dropout": args.dropout,
        "label_smoothing": args.label_smoothing,
        "freeze_encoder": args.freeze_encoder,
    }
    method, result = train_supervised(
        ctx.checkpoint,
        ctx.cfg,
        train_set,
        ctx.out_dir,
        seed=ctx.seed,
        method_params=params,
        random_init=ctx.random_init,
        num_workers=ctx.num_workers,
        kind_note=protocol,
        resume=args.resume,
        device=args.device,
    )
    if not is_main_process():
        return 0
    test_set = ctx.build("test", train=False)
    metrics, pred = evaluate(method, test_set, batch_size=ctx.cfg.eval.feature_batch_size, num_workers=ctx.num_workers)
    name = method.modality
    settings = {
        "train": {
            k: getattr(ctx.cfg.train, k)
            for k in ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "warmup_epochs")
        },
        "method": params,
        "train_clips": len(train_set),
    }
    path = runner.write_outputs(
        ctx,
        protocol,
        {name: metrics},
        settings=settings,
        selection="model after the final epoch, evaluated once on the test split",
        scores={name: pred.scores},
        labels=pred.labels,
        indices=pred.indices,
        class_names=test_set.class_names,
        embeddings=pred.embeddings,
        extra={"checkpoint_out": str(result.last_checkpoint), **(extra or {})},
    )
    from ssl_skel.commands.linear import format_table

    print(format_table(protocol, {name: metrics}))
    print(f"results: {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv), "finetune")
