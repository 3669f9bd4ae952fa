"""`ssl-skel ensemble`: combine saved class scores of several runs (streams or seeds).

Given weights:   ssl-skel ensemble A/scores/test_joint.npy B/scores/test_bone.npy --weights 1 0.5
Searched on val: ssl-skel ensemble TEST_A TEST_B --search VAL_A VAL_B   (grid search on the val scores,
                 e.g. those `ssl-skel linear --val-fraction 0.1` writes; the test split never picks weights)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ssl_skel.commands import ArgumentParser, UserError


def main(argv: Sequence[str] | None = None) -> int:
    from ssl_skel.engine.metrics import topk_accuracy
    from ssl_skel.evaluation.ensemble import align, combine, load_scores, search_weights
    from ssl_skel.evaluation.results import write_results

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
    args = p.parse_args(argv)
    try:
        runs = [load_scores(s) for s in args.scores]
        if args.search and args.weights:
            raise UserError("give either --weights or --search, not both")
        if args.search:
            if len(args.search) != len(runs):
                raise UserError(f"--search needs {len(runs)} validation files, one per score file")
            weights, val_acc = search_weights([load_scores(s) for s in args.search])
        else:
            weights, val_acc = list(args.weights or [1.0] * len(runs)), None
        combined = combine(runs, weights)
        runs = align(runs)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    labels = runs[0].labels
    metrics = {"ensemble": topk_accuracy(combined, labels)}
    for i, r in enumerate(runs):  # inputs named input1.. in the order given (paths in settings)
        metrics[f"input{i + 1}"] = topk_accuracy(r.scores, labels)
    out = Path(args.out) if args.out else runs[0].path.parent.parent / "ensemble"
    from ssl_skel.evaluation.ensemble import save_scores

    save_scores(
        out / "scores" / "ensemble",
        combined,
        labels,
        runs[0].indices,
        {"protocol": "ensemble", "inputs": [str(r.path) for r in runs], "weights": weights},
    )
    path = write_results(
        out / "results.json",
        protocol="ensemble",
        dataset=runs[0].meta.get("dataset", {}),
        split=str(runs[0].meta.get("split", "test")),
        checkpoint="",
        metrics=metrics,
        settings={
            "inputs": [str(r.path) for r in runs],
            "weights": weights,
            "searched_on": args.search,
            "val_top1": val_acc,
        },
        selection="weights given" if not args.search else "weights searched on validation scores",
    )
    from ssl_skel.engine.plots import plot_confusion
    from ssl_skel.evaluation.results import log_scalars

    plot_confusion(labels, combined.argmax(1), out / "confusion.png", runs[0].meta.get("class_names"), title="ensemble")
    log_scalars(out / "tb", metrics, "ensemble")
    width = max(len(k) for k in metrics)
    for name, m in metrics.items():
        print(f"{name:<{width}}  top1 {m['top1']:6.2f}  top5 {m['top5']:6.2f}")
    print(f"weights: {weights}\nresults: {path}")
    return 0
