"""`ssl-skel report RUN_DIR`: the evaluation results of a run as one table."""

from __future__ import annotations

from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser, UserError


def main(argv: Sequence[str]) -> int:
    parser = ArgumentParser(prog="ssl-skel report", description=__doc__)
    parser.add_argument("run_dir", help="a pretraining run folder (its eval/*/results.json are read)")
    args = parser.parse_args(argv)
    from pathlib import Path

    from ssl_skel.evaluation.results import read_results, results_table

    if not Path(args.run_dir).is_dir():
        raise UserError(f"{args.run_dir}: no such run folder")
    print(results_table(read_results(args.run_dir)))
    return 0
