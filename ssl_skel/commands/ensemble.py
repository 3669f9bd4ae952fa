"""`ssl-skel ensemble`: combine saved class scores of several runs (streams or seeds).

Given weights:   ssl-skel ensemble A/scores/test_joint.npy B/scores/test_bone.npy --weights 1 0.5
Searched on val: ssl-skel ensemble TEST_A TEST_B --search VAL_A VAL_B   (grid search on the val scores,
                 e.g. those `ssl-skel linear --val-fraction 0.1` writes; the test split never picks weights)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser, UserError


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="ssl-skel ensemble",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    p.add_argument("scores", nargs="+", help="score files (.npy with their .json) of the split to report")
    p.add_argument("--weights", type=float, nargs="+", default=None, help="one weight per score file (default: 1 each)")
    p.add_argument("--search", nargs="+", default=None, metavar="VAL", help="validation score files, same order")
    p.add_argument(
        "--out", default=None, help="folder for results.json and ensemble scores (default: beside the first)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ssl_skel.evaluation.ensemble import EnsembleSettings, run_ensemble

    args = build_parser().parse_args(argv)
    if args.search and args.weights:
        raise UserError("give either --weights or --search, not both")
    if args.search and len(args.search) != len(args.scores):
        raise UserError(f"--search needs {len(args.scores)} validation files, one per score file")
    weights = tuple(args.weights) if args.weights else None
    search = tuple(args.search) if args.search else None
    try:
        result = run_ensemble(args.scores, EnsembleSettings(weights, search), args.out)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    width = max(len(k) for k in result.metrics)
    for name, m in result.metrics.items():
        print(f"{name:<{width}}  top1 {m['top1']:6.2f}  top5 {m['top5']:6.2f}")
    print(f"weights: {result.weights}\nresults: {result.path}")
    return 0
