"""`ssl-skel finetune`: supervised fine-tuning of a pretrained encoder with a linear head.

Runs through the one training engine (torchrun for DDP; AMP, checkpoints and resume as in
pretraining); training settings come from the config's `train` section, the clips from its
`supervised` section (augmentation, clip length, repeat, head; by default no augmentation; the
SSL views' `data.augment` is never used), e.g.
    ssl-skel finetune --checkpoint runs/synthetic/last.pt train.epochs=30 train.lr=0.01 \
        supervised.augment.rotate_deg=15
Every epoch it logs the accuracy on un-augmented training clips beside the test accuracy
(log.txt, TensorBoard, curves.png); results.json flags a run whose training accuracy ends at or
below its test accuracy (`underfitting`). `--random-init` trains the architecture from scratch;
`ssl-skel supervised --config PRESET` does so from a supervised preset alone.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser, eval_args


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="ssl-skel finetune", description=__doc__.splitlines()[0])
    eval_args.add_common_args(p)
    eval_args.add_finetune_args(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ssl_skel.evaluation import EvalRun, run_protocol

    args = build_parser().parse_args(argv)
    run = EvalRun.open(eval_args.eval_request(args))
    return eval_args.print_written(run_protocol(run, eval_args.finetune_settings(args, run.cfg)))
