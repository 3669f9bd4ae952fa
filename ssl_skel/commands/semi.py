"""`ssl-skel semi`: semi-supervised evaluation, fine-tuning on 1% or 10% of the labels.

The labelled clips are a class-balanced, seeded subset of the train split; the model
after the final epoch is evaluated on the whole test split, e.g.
    ssl-skel semi --checkpoint runs/synthetic/last.pt --percent 10 train.epochs=50
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser, eval_args


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="ssl-skel semi", description=__doc__.splitlines()[0])
    eval_args.add_common_args(p)
    eval_args.add_finetune_args(p)
    p.add_argument("--percent", type=float, default=1.0, help="percent of the train labels (1 or 10 in papers)")
    p.add_argument("--subset-seed", type=int, default=0, help="seed of the labelled subset")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ssl_skel.evaluation import EvalRun, LabelFraction, run_protocol

    args = build_parser().parse_args(argv)
    labelled = eval_args.checked(LabelFraction, args.percent, args.subset_seed)
    run = EvalRun.open(eval_args.eval_request(args))
    return eval_args.print_written(run_protocol(run, eval_args.finetune_settings(args, run.cfg, labelled)))
