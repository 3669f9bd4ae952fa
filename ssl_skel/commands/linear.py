"""`ssl-skel linear`: linear probe of a frozen encoder (per modality and fused).

Example: ssl-skel linear --checkpoint runs/synthetic/last.pt eval.linear_epochs=100
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser
from ssl_skel.core.config import ConfigError
from ssl_skel.evaluation import runner
from ssl_skel.evaluation.linear import LinearProtocol, train_linear_probe

log = logging.getLogger(__name__)

SELECTION = (
    "top1/top5: final epoch of the linear classifier on the test split (never the best test epoch); "
    "val_top1_best/best_val_epoch, when present, come from a held-out part of the train split; "
    "test_selected_best_top1/test_selected_best_epoch: the best test epoch (TEST-SELECTED, the figure the "
    "authors' scripts print), for comparison with paper tables only"
)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="ssl-skel linear", description=__doc__.splitlines()[0])
    runner.add_common_args(p)
    p.add_argument("--modalities", default=None, help="comma list, or all (default: the encoder's default, e.g. fused)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="hold out this fraction of the train split to report a best-on-val epoch (and val scores)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = runner.make_context(args, "linear")
    try:
        modalities = runner.parse_modalities(args.modalities, ctx.encoder)
        protocol = LinearProtocol.from_eval(ctx.cfg.eval, val_fraction=args.val_fraction, seed=ctx.seed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    train_ds, train_f = runner.features(ctx, "train", modalities)
    test_ds, test_f = runner.features(ctx, "test", modalities)
    metrics, scores = {}, {}
    for m in modalities:
        res = train_linear_probe(
            train_f.embeddings[m],
            train_f.labels,
            test_f.embeddings[m],
            test_f.labels,
            test_ds.num_classes,
            protocol,
            progress=True,
        )
        metrics[m], scores[m] = res.metrics, res.test_scores
        if res.val_scores is not None:
            from ssl_skel.evaluation.ensemble import save_scores

            save_scores(
                ctx.out_dir / "scores" / f"val_{m}",
                res.val_scores,
                train_f.labels[res.val_rows],
                train_f.indices[res.val_rows],
                {"protocol": "linear", "modality": m, "split": "train-holdout"},
            )
        log.info("linear %s: top1 %.2f top5 %.2f", m, res.metrics["top1"], res.metrics["top5"])
    path = runner.write_outputs(
        ctx,
        "linear",
        metrics,
        settings={**protocol.__dict__, "features": "un-augmented clips, computed once"},
        selection=SELECTION,
        scores=scores,
        labels=test_f.labels,
        indices=test_f.indices,
        class_names=test_ds.class_names,
        embeddings=test_f.embeddings[modalities[0]],
    )
    print(format_table("linear probe", metrics))
    print(f"results: {path}")
    return 0


def format_table(title: str, metrics: dict) -> str:
    lines = [f"{title}: {'modality':<8} {'top1':>7} {'top5':>7}"]
    for m, v in metrics.items():
        top5 = f"{v['top5']:7.2f}" if "top5" in v else f"{'-':>7}"
        lines.append(f"{'':<{len(title) + 1}} {m:<8} {v['top1']:7.2f} {top5}")
    return "\n".join(lines)
