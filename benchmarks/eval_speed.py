#!/usr/bin/env python
"""Evaluation speed, side by side: fused-feature extraction vs the authors' code, exact 1-NN retrieval per backend.

    python benchmarks/eval_speed.py --reference /path/to/UmURL      # extraction side by side + KNN
    python benchmarks/eval_speed.py --skip-knn --reference PATH      # extraction only
    python benchmarks/eval_speed.py --skip-extraction --kinds decaying
    python benchmarks/eval_speed.py --quick                          # small sizes, a smoke check

Extraction (`--reference`, a local checkout of HuiGuanLab/UmURL; nothing downloaded or copied):
our unified encoder (FrozenEncoder.embed, fused feature, from raw (N, 3, 64, 25, 2) clips:
bone and motion derived inside; with `keep_freed_memory`, as the evaluation runner sets it on
CPU) and the authors' `umurl.Downstream(...)(jt, js, bt, bs, mt, ms, knn_eval=True)` under
torch.no_grad in eval mode (their action_retrieval.py), fed the six token tensors their
feeder prepares (computed before timing, so their side does less work), at the paper's
size, in two worker processes, alternating rounds with a 4096^2 fp32 matmul probe.

KNN: exact cosine 1-NN at NTU-60 xsub size (40,091 x 16,487, D=2048) on L2-normalised features
of named kinds: "isotropic" (Gaussian noise: no dominant subspace, the worst case for pruning),
"decaying" (a common mean + 60 class centres + noise with variance of dimension i ~ i^-1.5),
and `--real FILE.npz` (arrays `train`, `test`: embeddings of a real encoder). Backends: faiss
IndexFlatIP, torch blocked matmul, the pruned exact search, `auto` (energy test -> pruned or
faiss) and scikit-learn's brute-force cosine KNeighborsClassifier (what UmURL's
action_retrieval.py uses; timed on a subset of queries and scaled). Backends alternate over
`--rounds`; every backend's neighbours are checked against float64 brute force.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import side_by_side as sbs  # noqa: E402


# --------------------------------------------------------------------------- extraction workers
def _clips(batch: int, length: int) -> torch.Tensor:
    return torch.randn(batch, 3, length, 25, 2, generator=torch.Generator().manual_seed(0))


def ours_extractor(args: argparse.Namespace):
    from ssl_skel.core.memory import keep_freed_memory
    from ssl_skel.models.encoders import build_encoder
    from ssl_skel.models.encoders.base import InputSpec
    from ssl_skel.models.frozen import FrozenEncoder

    keep_freed_memory()  # as the evaluation runner does on CPU
    spec = InputSpec("ntu25", 3, 2, args.length)
    enc = FrozenEncoder(build_encoder("unified", {"hidden_size": args.hidden}, spec))
    x = _clips(args.batch, args.length)
    return lambda: enc.embed(x, "fused"), "ssl_skel (FrozenEncoder.embed, fused)"


def reference_extractor(args: argparse.Namespace):
    sys.path.insert(0, str(Path(args.reference).resolve()))
    from umurl import Downstream, UmURL

    model = Downstream(150, 3 * args.length, args.hidden, 1, 1, num_class=60).eval()
    x = _clips(args.batch, args.length)
    # the six token tensors their downstream feeder builds, made once by their own modality_generation
    tokens = []
    with torch.no_grad():
        tiny = UmURL(150, 3 * args.length, 8, 1, 1)
        for name in ("joint", "bone", "motion"):
            tokens += [t.contiguous() for t in tiny.modality_generation(x, name)]
    del tiny

    def run():
        with torch.no_grad():
            return model(*tokens, knn_eval=True)

    return run, f"authors' code ({Path(args.reference).name}: Downstream, knn_eval=True)"


def worker(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    fn, name = ours_extractor(args) if args.worker == "ours" else reference_extractor(args)
    fn()  # warm-up

    def extract(n: int) -> dict:
        times, cpu = [], []
        for _ in range(n):
            t, c = time.perf_counter(), time.process_time()
            fn()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        return {"times": times, "cpu": cpu}

    return sbs.serve({"extract": extract}, {"execution": name})


def extraction_side_by_side(args: argparse.Namespace, argv: list[str]) -> None:
    torch.set_num_threads(args.threads)
    script = str(Path(__file__).resolve())
    workers = [
        sbs.Worker([script, *argv, "--worker", "ours"], "ours"),
        sbs.Worker(
            [script, *argv, "--worker", "reference"], "reference", extra_path=str(Path(args.reference).resolve())
        ),
    ]
    run = sbs.alternate(workers, args.rounds, "extract", n=args.batches)
    final = {w.name: w.close() for w in workers}
    flops = fused_flops(args.hidden, args.length)
    probe = sbs.median(run["probe_gflops"])
    print(
        f"fused-feature extraction, hidden {args.hidden}, T={args.length}, batch {args.batch}, {args.batches} "
        f"batches per round; 4096^2 fp32 matmul probe GFLOP/s per round: {[round(p, 1) for p in run['probe_gflops']]}"
    )
    print("| side | clips/s per round | CPU-s per clip per round | fraction of probe | peak RSS GiB |")
    print("|---|---|---|---:|---:|")
    rates = {}
    for w in workers:
        r = run["rounds"][w.name]
        clips = [args.batch / sbs.median(x["times"]) for x in r]
        rates[w.name] = sbs.median([args.batch / t for x in r for t in x["times"]])
        cpu = [min(x["cpu"]) / args.batch for x in r]
        print(
            f"| {w.ready['execution']} | {', '.join(f'{c:.1f}' for c in clips)} | "
            f"{', '.join(f'{c:.4f}' for c in cpu)} | {flops * rates[w.name] / 1e9 / probe:.3f} | "
            f"{final[w.name]['peak_rss_gib']:.2f} |"
        )
    print(
        f"ratio ours / authors' (clips/s): {rates['ours'] / rates['reference']:.3f}x; {flops / 1e9:.2f} GFLOP per clip"
    )


def fused_flops(hidden: int, length: int) -> int:
    from ssl_skel.models.encoders import build_encoder
    from ssl_skel.models.encoders.base import InputSpec

    enc = build_encoder("unified", {"hidden_size": hidden}, InputSpec("ntu25", 3, 2, length)).eval()
    return enc.flops_per_clip(("fused",))


# --------------------------------------------------------------------------- KNN
def features(kind: str, n: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) unit rows of the named kind and their labels (see the module doc)."""
    from ssl_skel.evaluation.knn_search import l2_normalize

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


def float64_top1(train: np.ndarray, test: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Exact (float64) nearest train row of the given test rows."""
    t64 = torch.from_numpy(train).double()
    return np.concatenate(
        [
            (torch.from_numpy(test[rows[s : s + 512]]).double() @ t64.T).argmax(1).numpy()
            for s in range(0, len(rows), 512)
        ]
    )


def knn(label: str, train: np.ndarray, test: np.ndarray, args: argparse.Namespace) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    from ssl_skel.evaluation import knn_search as K

    train, test = K.l2_normalize(train), K.l2_normalize(test)
    print(
        f"KNN 1-NN, {label}: train {len(train)} x test {len(test)}, D={train.shape[1]}, {args.threads} threads; "
        f"energy in top principal directions: {spectrum(train)}",
        flush=True,
    )
    q = min(args.sklearn_queries, len(test))
    clf = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute", n_jobs=args.threads)
    clf.fit(train, np.zeros(len(train), np.int64))
    times: dict[str, list[float]] = {b: [] for b in (*args.backends, "sklearn")}
    found: dict[str, np.ndarray] = {}
    for r in range(args.rounds):
        order = list(args.backends) + ["sklearn"]
        for backend in order if r % 2 == 0 else order[::-1]:
            t = time.perf_counter()
            if backend == "sklearn":
                sk = clf.kneighbors(test[:q], 1, return_distance=False)[:, 0]
                times[backend].append((time.perf_counter() - t) * len(test) / q)
                found[backend] = sk
                continue
            res = K.search(train, test, 1, backend=backend, gpu=False)
            times[backend].append(time.perf_counter() - t)
            found[backend] = res.indices[:, 0]
            if r == 0 and res.stats is not None:
                st = res.stats
                print(
                    f"  {backend} ran {res.backend}: rank {st.rank}, energy left out {st.left_out:.3f}, "
                    f"{st.proven_queries} proven / {st.thresholded_queries} thresholded / {st.brute_queries} brute "
                    f"queries, {st.candidates / max(st.pruned_queries, 1):.1f} rows rescored per pruned query",
                    flush=True,
                )
            elif r == 0:
                print(f"  {backend} ran {res.backend}", flush=True)
    # float64 truth on the queries where backends disagree with the first one, plus a sample
    base = found[args.backends[0]]
    check = np.union1d(
        np.flatnonzero(np.any([found[b] != base for b in args.backends], axis=0)),
        np.arange(0, len(test), max(1, len(test) // 500)),
    )
    # the truth of the rows the backends scored: search() L2-normalises its inputs again, which can move ulps
    truth = float64_top1(K.l2_normalize(train), K.l2_normalize(test), check)
    sk_time = sbs.median(times["sklearn"])
    print(
        f"  scikit-learn brute (cosine): {', '.join(f'{t:.1f}' for t in times['sklearn'])} s (scaled from {q} queries)"
    )
    for backend in args.backends:
        sec = sbs.median(times[backend])
        wrong = int(np.sum(found[backend][check] != truth))
        agree = np.mean(found[backend] == base) * 100
        print(
            f"  {backend:<8}: {', '.join(f'{t:.2f}' for t in times[backend])} s; "
            f"x{sk_time / sec:5.2f} vs scikit-learn; "
            f"same neighbour as {args.backends[0]} on {agree:.3f}% of queries; "
            f"{wrong} of {len(check)} checked queries differ from float64 brute force",
            flush=True,
        )
    if "faiss" in args.backends:
        f = sbs.median(times["faiss"])
        print("  vs faiss: " + ", ".join(f"{b} x{f / sbs.median(times[b]):.2f}" for b in args.backends if b != "faiss"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    p.add_argument("--reference", default=None, help="local checkout of HuiGuanLab/UmURL (extraction side by side)")
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--batch", type=int, default=256, help="clips per extraction batch")
    p.add_argument("--batches", type=int, default=2, help="timed batches per round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--dim", type=int, default=2048, help="feature dim (unified encoder at the paper's size: 2048)")
    p.add_argument("--kinds", nargs="*", default=["isotropic", "decaying"], choices=["isotropic", "decaying"])
    p.add_argument("--real", nargs="*", default=[], help=".npz files with `train` and `test` embedding arrays")
    p.add_argument(
        "--backends",
        nargs="+",
        default=["faiss", "torch", "pruned", "cascade", "auto"],
        choices=["torch", "faiss", "pruned", "cascade", "auto"],
    )
    p.add_argument("--sklearn-queries", type=int, default=2000)
    p.add_argument("--skip-extraction", action="store_true")
    p.add_argument("--skip-knn", action="store_true")
    p.add_argument("--worker", default=None, choices=["ours", "reference"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.batch, args.batches = 128, 16, 1
    if args.worker:
        return worker(args)
    torch.set_num_threads(args.threads)
    from ssl_skel.evaluation.faiss_setup import faiss_openblas_core, import_faiss

    import_faiss().omp_set_num_threads(args.threads)
    print(f"python benchmarks/eval_speed.py {' '.join(argv)}")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {sbs.describe_machine(args.threads)}; "
        f"faiss-cpu OpenBLAS kernels: {faiss_openblas_core()}",
        flush=True,
    )
    if not args.skip_extraction and args.reference:
        if not (Path(args.reference) / "umurl.py").exists():
            raise SystemExit(f"--reference {args.reference}: no umurl.py (expected a checkout of HuiGuanLab/UmURL)")
        extraction_side_by_side(args, argv)
    if args.skip_knn:
        return 0
    n_train, n_test, dim = (4000, 1000, 256) if args.quick else (40091, 16487, args.dim)
    for kind in args.kinds:
        both, _ = features(kind, n_train + n_test, dim, 60, seed=0)
        knn(f"{kind} features", both[:n_train], both[n_train:], args)
    for path in args.real:
        arrays = np.load(path)
        knn(f"real embeddings {Path(path).name}", arrays["train"], arrays["test"], args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
