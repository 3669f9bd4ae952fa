"""`ssl-skel knn`: KNN retrieval (k=1 cosine, the skeleton papers' protocol) with faiss.

Example: ssl-skel knn --checkpoint runs/synthetic/last.pt --k 1
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser
from ssl_skel.core.config import ConfigError
from ssl_skel.engine.metrics import topk_accuracy
from ssl_skel.evaluation import runner
from ssl_skel.evaluation.knn import knn_classify

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="ssl-skel knn", description=__doc__.splitlines()[0])
    runner.add_common_args(p)
    p.add_argument("--modalities", default=None, help="comma list, or all (default: the encoder's default, e.g. fused)")
    p.add_argument("--k", type=int, default=None, help="neighbours (default: eval.knn_k, 1 = retrieval protocol)")
    p.add_argument("--weighted", action="store_true", help="weighted k-NN classifier exp(sim/T) (InstDisc/DINO)")
    p.add_argument("--temperature", type=float, default=None, help="for --weighted (default: eval.knn_temperature)")
    p.add_argument(
        "--backend",
        choices=("auto", "faiss", "torch", "pruned"),
        default="auto",
        help="exact search (see ssl_skel.evaluation.knn): auto = faiss GPU index when available, "
        "torch on CUDA, else faiss on CPU; pruned = PCA-bound exact search",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = runner.make_context(args, "knn")
    try:
        modalities = runner.parse_modalities(args.modalities, ctx.encoder)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    k = args.k or ctx.cfg.eval.knn_k
    temperature = args.temperature or ctx.cfg.eval.knn_temperature
    if k < 1 or temperature <= 0:
        raise ConfigError("--k must be >= 1 and --temperature > 0")
    train_ds, train_f = runner.features(ctx, "train", modalities)
    test_ds, test_f = runner.features(ctx, "test", modalities)
    metrics, scores = {}, {}
    for m in modalities:
        res = knn_classify(
            train_f.embeddings[m],
            train_f.labels,
            test_f.embeddings[m],
            test_ds.num_classes,
            k=min(k, len(train_f)),
            weighted=args.weighted,
            temperature=temperature,
            backend=args.backend,
        )
        # top-5 only means something when at least 5 neighbours (or weights) rank the classes
        ks = (1, 5) if k >= 5 else (1,)
        metrics[m], scores[m] = topk_accuracy(res.scores, test_f.labels, ks), res.scores
        log.info("knn %s: top1 %.2f", m, metrics[m]["top1"])
    settings = {
        "k": k,
        "weighted": args.weighted,
        "temperature": temperature if args.weighted else None,
        "similarity": "cosine (inner product of L2-normalised features)",
        "backend": args.backend,
        "features": "un-augmented clips",
    }
    path = runner.write_outputs(
        ctx,
        "knn",
        metrics,
        settings=settings,
        selection="no training: nothing selected",
        scores=scores,
        labels=test_f.labels,
        indices=test_f.indices,
        class_names=test_ds.class_names,
        embeddings=test_f.embeddings[modalities[0]],
    )
    from ssl_skel.commands.linear import format_table

    print(format_table(f"knn k={k}", metrics))
    print(f"results: {path}")
    return 0
