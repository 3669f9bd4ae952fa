"""`ssl-skel knn`: KNN retrieval (k=1 cosine, the skeleton papers' protocol) with faiss.

Example: ssl-skel knn --checkpoint runs/synthetic/last.pt --k 1
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser, eval_args


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="ssl-skel knn", description=__doc__.splitlines()[0])
    eval_args.add_common_args(p)
    eval_args.add_modalities_arg(p)
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
    from ssl_skel.evaluation import EvalRun, KnnSettings, run_protocol

    args = build_parser().parse_args(argv)
    run = EvalRun.open(eval_args.eval_request(args))
    settings = eval_args.checked(
        KnnSettings.from_config,
        run.cfg.eval,
        k=args.k,
        temperature=args.temperature,
        weighted=args.weighted,
        backend=args.backend,
        modalities=eval_args.modality_names(args.modalities),
    )
    return eval_args.print_written(run_protocol(run, settings))
