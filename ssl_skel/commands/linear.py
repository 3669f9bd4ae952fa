"""`ssl-skel linear`: linear probe of a frozen encoder (per modality and fused).

Example: ssl-skel linear --checkpoint runs/synthetic/last.pt eval.linear_epochs=100
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser, eval_args


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="ssl-skel linear", description=__doc__.splitlines()[0])
    eval_args.add_common_args(p)
    eval_args.add_modalities_arg(p)
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="hold out this fraction of the train split to report a best-on-val epoch (and val scores)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ssl_skel.evaluation import EvalRun, LinearSettings, run_protocol

    args = build_parser().parse_args(argv)
    run = EvalRun.open(eval_args.eval_request(args))
    settings = eval_args.checked(
        LinearSettings.from_config,
        run.cfg.eval,
        seed=run.seed,
        val_fraction=args.val_fraction,
        modalities=eval_args.modality_names(args.modalities),
    )
    return eval_args.print_written(run_protocol(run, settings))
