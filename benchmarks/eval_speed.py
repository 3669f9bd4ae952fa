#!/usr/bin/env python
"""Evaluation speed on CPU: feature extraction clips/s and KNN queries/s (faiss vs scikit-learn).

    python benchmarks/eval_speed.py                 # full: NTU-60 xsub sized KNN (40,091 x 16,487)
    python benchmarks/eval_speed.py --quick         # small sizes, for a smoke check

Feature extraction: the default-size unified encoder (UmURL's hidden 1024, clips of 64
frames, NTU-25, 2 persons), batched under torch.inference_mode; the UmURL authors report
43 clips/s. KNN: 1-NN on random L2-normalised features of the given size, exact search
with faiss IndexFlatIP and with the torch backend, against scikit-learn's brute-force
cosine KNeighborsClassifier (what UmURL's action_retrieval.py uses) on the same features;
all three must agree on the neighbours.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


def extraction(batch: int, clips: int, threads: int, hidden: int, length: int) -> float:
    from ssl_skel.evaluation.api import FrozenEncoder
    from ssl_skel.models.encoders import build_encoder
    from ssl_skel.models.encoders.base import InputSpec

    spec = InputSpec("ntu25", 3, 2, length)
    enc = FrozenEncoder(build_encoder("unified", {"hidden_size": hidden}, spec))
    x = torch.randn(batch, 3, length, 25, 2)
    enc.embed(x[:2])  # warm-up
    done, start = 0, time.perf_counter()
    while done < clips:
        enc.embed(x)
        done += batch
    return done / (time.perf_counter() - start)


def knn(n_train: int, n_test: int, dim: int, classes: int, sklearn_queries: int, threads: int) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    from ssl_skel.evaluation.knn import knn_search, l2_normalize

    rng = np.random.default_rng(0)
    train = l2_normalize(rng.standard_normal((n_train, dim), dtype=np.float32))
    test = l2_normalize(rng.standard_normal((n_test, dim), dtype=np.float32))
    labels = rng.integers(0, classes, n_train)
    results = {}
    for backend in ("faiss", "torch"):
        t = time.perf_counter()
        _, idx = knn_search(train, test, 1, backend=backend)
        results[backend] = (time.perf_counter() - t, idx[:, 0])
    # scikit-learn brute force on a subset of queries (it scales linearly in queries)
    q = min(sklearn_queries, n_test)
    clf = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute", n_jobs=threads).fit(train, labels)
    t = time.perf_counter()
    sk_idx = clf.kneighbors(test[:q], 1, return_distance=False)[:, 0]
    sk_time = (time.perf_counter() - t) * n_test / q
    for backend, (_, idx) in results.items():
        agree = float(np.mean(idx[:q] == sk_idx)) * 100
        print(f"  {backend:<7} agreement with scikit-learn on {q} queries: {agree:.2f}%")
    print(f"KNN 1-NN  train {n_train} x test {n_test}, D={dim}, {threads} threads")
    print(f"  scikit-learn brute (cosine): {n_test / sk_time:9.0f} queries/s  ({sk_time:6.1f} s for all, "
          f"extrapolated from {q})")
    for backend, (sec, _) in results.items():
        print(f"  {backend:<27}: {n_test / sec:9.0f} queries/s  ({sec:6.1f} s)  x{sk_time / sec:.1f} vs scikit-learn")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    p.add_argument("--dim", type=int, default=2048, help="feature dim (unified encoder at the paper's size: 2048)")
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    except ImportError:
        pass
    if args.quick:
        rate = extraction(8, 16, args.threads, 256, 64)
        print(f"feature extraction (unified, hidden 256, T=64, batch 8): {rate:.1f} clips/s")
        knn(4000, 1000, 256, 60, 500, args.threads)
        return 0
    rate = extraction(args.batch, 4 * args.batch, args.threads, 1024, 64)
    print(f"feature extraction (unified, paper size: hidden 1024, T=64, batch {args.batch}, {args.threads} threads): "
          f"{rate:.1f} clips/s  (x{rate / 43:.2f} vs the authors' 43 clips/s)")
    knn(40091, 16487, args.dim, 60, 2000, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
