#!/usr/bin/env python
"""Evaluation speed on CPU: feature extraction clips/s and exact 1-NN retrieval time per backend.

    python benchmarks/eval_speed.py                 # full: NTU-60 xsub sized KNN (40,091 x 16,487, D=2048)
    python benchmarks/eval_speed.py --quick         # small sizes, for a smoke check
    python benchmarks/eval_speed.py --skip-extraction --kinds decaying

Feature extraction: the default-size unified encoder (UmURL's hidden 1024, clips of 64
frames, NTU-25, 2 persons, 2048-d features): the encoder alone on a fixed batch, and the
whole `extract_features` pipeline (dataset, eval transform, loader, encoder) on the
built-in dataset; the UmURL authors report 43 clips/s.

KNN: exact cosine 1-NN at the given size, on two kinds of L2-normalised features, each
printed by name: "isotropic" (Gaussian noise: no dominant subspace, the worst case for the
pruned search) and "decaying" (a common mean direction + 60 class centres + noise with a
power-law spectrum, variance of dimension i ~ i^-1.5; the fraction of energy in the top
principal directions is printed). Backends: faiss IndexFlatIP, torch blocked matmul, the
PCA-pruned exact search, and scikit-learn's brute-force cosine KNeighborsClassifier (what
UmURL's action_retrieval.py uses; run on a subset of queries and extrapolated linearly).
Every backend's neighbours are checked against torch brute force.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch


def extraction_encoder(batch: int, clips: int, hidden: int, length: int) -> float:
    """clips/s of FrozenEncoder.embed on one fixed random batch (no data pipeline)."""
    from ssl_skel.models.encoders import build_encoder
    from ssl_skel.models.encoders.base import InputSpec
    from ssl_skel.models.frozen import FrozenEncoder

    spec = InputSpec("ntu25", 3, 2, length)
    enc = FrozenEncoder(build_encoder("unified", {"hidden_size": hidden}, spec))
    x = torch.randn(batch, 3, length, 25, 2)
    enc.embed(x[:2])  # warm-up
    done, start = 0, time.perf_counter()
    while done < clips:
        enc.embed(x)
        done += batch
    return done / (time.perf_counter() - start)


def extraction_pipeline(batch: int, clips: int, hidden: int, length: int, workers: int) -> tuple[float, int]:
    """clips/s of extract_features over the built-in dataset's test split (first `clips` clips)."""
    from torch.utils.data import Subset

    from ssl_skel.core.config import DataConfig
    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.data.synthetic import generate_dataset
    from ssl_skel.evaluation.features import extract_features
    from ssl_skel.models.encoders import build_encoder
    from ssl_skel.models.frozen import FrozenEncoder

    with tempfile.TemporaryDirectory() as tmp:
        root = generate_dataset(os.path.join(tmp, "synthetic"), seed=0)
        ds = build_dataset(
            DataConfig(root=str(root), benchmark="xsub", clip_length=length), "test", train=False, seed=0
        )
        ds = Subset(ds, range(min(clips, len(ds))))
        enc = FrozenEncoder(build_encoder("unified", {"hidden_size": hidden}, ds.dataset.spec))
        enc.embed(torch.zeros(2, 3, length, 25, 2))  # warm-up
        start = time.perf_counter()
        feats = extract_features(enc, ds, ("fused",), batch_size=batch, num_workers=workers, progress=False)
        return len(feats) / (time.perf_counter() - start), len(feats)


def features(kind: str, n: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) unit rows of the named kind and their labels (see the module doc)."""
    from ssl_skel.evaluation.knn import l2_normalize

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    if kind == "isotropic":
        return l2_normalize(rng.standard_normal((n, dim), dtype=np.float32)), labels
    scale = np.arange(1, dim + 1, dtype=np.float32) ** -0.75  # variance ~ i^-1.5
    x = rng.standard_normal((n, dim), dtype=np.float32) * scale
    mean = rng.standard_normal(dim).astype(np.float32) * scale
    centres = rng.standard_normal((classes, dim)).astype(np.float32) * scale
    x += np.linalg.norm(x, axis=1).mean() / np.linalg.norm(mean) * mean + centres[labels]
    return l2_normalize(x), labels


def spectrum(x: np.ndarray, tops=(1, 32, 128, 512)) -> str:
    s = np.linalg.svd(x[:2048].astype(np.float64), compute_uv=False) ** 2
    e = np.cumsum(s) / s.sum()
    return ", ".join(f"top{t} {e[min(t, len(e)) - 1]:.3f}" for t in tops)


def knn(
    kind: str,
    n_train: int,
    n_test: int,
    dim: int,
    classes: int,
    sklearn_queries: int,
    threads: int,
    backends: tuple[str, ...],
) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    from ssl_skel.evaluation import knn as K

    both, labels = features(kind, n_train + n_test, dim, classes, seed=0)
    train, test, labels = both[:n_train], both[n_train:], labels[:n_train]
    print(
        f"KNN 1-NN, {kind} features: train {n_train} x test {n_test}, D={dim}, {threads} threads; "
        f"energy in top principal directions: {spectrum(train)}",
        flush=True,
    )
    results = {}
    for backend in backends:
        t = time.perf_counter()
        _, idx = K.knn_search(train, test, 1, backend=backend)
        results[backend] = (time.perf_counter() - t, idx[:, 0])
        extra = ""
        if backend == "pruned":
            st = K.LAST_PRUNED_STATS
            extra = (
                f"  [rank {st.rank}, fell back to brute force: {st.fell_back}, "
                f"{st.candidates / max(st.pruned_queries, 1):.1f} candidates/query over "
                f"{st.pruned_queries} pruned queries]"
            )
        print(f"  {backend:<8} {results[backend][0]:7.1f} s{extra}", flush=True)
    q = min(sklearn_queries, n_test)
    clf = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute", n_jobs=threads).fit(train, labels)
    t = time.perf_counter()
    sk_idx = clf.kneighbors(test[:q], 1, return_distance=False)[:, 0]
    sk_time = (time.perf_counter() - t) * n_test / q
    ref = results.get("torch", (None, sk_idx))[1]
    print(
        f"  scikit-learn brute (cosine): {sk_time:7.1f} s for all (extrapolated from {q} queries); "
        f"agrees with torch on {100 * np.mean(ref[:q] == sk_idx):.2f}% of them"
    )
    for backend, (sec, idx) in results.items():
        print(
            f"  {backend:<8}: {n_test / sec:8.0f} queries/s  {sec:7.1f} s  x{sk_time / sec:5.1f} vs scikit-learn"
            f"  neighbours equal torch brute force: {100 * np.mean(idx == ref):.3f}%"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    p.add_argument("--dim", type=int, default=2048, help="feature dim (unified encoder at the paper's size: 2048)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--clips", type=int, default=192, help="clips per extraction measurement")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers for the pipeline measurement")
    p.add_argument("--kinds", nargs="+", default=["isotropic", "decaying"], choices=["isotropic", "decaying"])
    p.add_argument(
        "--backends", nargs="+", default=["torch", "faiss", "pruned"], choices=["torch", "faiss", "pruned", "auto"]
    )
    p.add_argument("--skip-extraction", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from ssl_skel.evaluation.knn import faiss_openblas_core, import_faiss

    import_faiss().omp_set_num_threads(args.threads)
    print(
        f"load average {os.getloadavg()}; faiss-cpu OpenBLAS kernels: {faiss_openblas_core()} "
        f"(OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')})",
        flush=True,
    )
    hidden, length = (256, 64) if args.quick else (1024, 64)
    clips = 16 if args.quick else args.clips
    batch = 8 if args.quick else args.batch
    if not args.skip_extraction:
        rate = extraction_encoder(batch, clips, hidden, length)
        print(
            f"feature extraction, encoder only (unified hidden {hidden}, T={length}, batch {batch}, "
            f"{args.threads} threads): {rate:.1f} clips/s (x{rate / 43:.2f} vs the authors' 43 clips/s)",
            flush=True,
        )
        rate, n = extraction_pipeline(batch, clips, hidden, length, args.workers)
        print(
            f"feature extraction, extract_features on the built-in dataset ({n} clips, {args.workers} workers): "
            f"{rate:.1f} clips/s",
            flush=True,
        )
    for kind in args.kinds:
        if args.quick:
            knn(kind, 4000, 1000, 256, 60, 500, args.threads, tuple(args.backends))
        else:
            knn(kind, 40091, 16487, args.dim, 60, 2000, args.threads, tuple(args.backends))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
