"""KNN retrieval on frozen features: exact cosine search (faiss, torch, PCA-pruned) and KNN classifiers.

Protocol (UmURL, CMD, AimCLR "action retrieval"): L2-normalise train and test features,
find each test clip's nearest train clip by cosine similarity, and predict its label
(k=1). Cosine similarity of unit vectors is their inner product, so an exact
inner-product index (faiss `IndexFlatIP`, the GPU index when faiss-gpu and CUDA are
present) gives the same neighbours as a brute-force `test @ train.T`.

The weighted k-NN classifier of InstDisc (Wu et al., 2018) and DINO (Caron et al., 2021)
is an option: class score s_c = sum over the k neighbours i with label c of
exp(cos(q, x_i) / tau).

Backends (all exact; identical neighbours on tie-free data):
- "faiss": `IndexFlatIP` (a GPU index when faiss-gpu and CUDA are present).
- "torch": blocked matmul + top-k (on CUDA when present).
- "pruned": exact search with fewer FLOPs. With an orthonormal basis P (D, r) of the top-r
  principal directions of the train features, every score splits as
  q.x = (P'q).(P'x) + q_perp.x_perp and |q_perp.x_perp| <= |q_perp| |x_perp|
  (Cauchy-Schwarz), so u = (P'q).(P'x) + |q_perp||x_perp| is an upper bound computed in
  r+1 dims. Per query, the k best-bound rows are rescored exactly; the k-th exact score t
  is a lower bound on the k-th true neighbour, so only rows with u >= t can be
  neighbours, and only those are rescored in full dimension. Features without a dominant
  subspace (isotropic noise) go straight to brute force.
- "auto" (default): faiss's GPU index when available, torch on CUDA, else faiss on CPU
  (torch if faiss's OpenBLAS runs its generic kernels, see below).

Measured with benchmarks/eval_speed.py at NTU-60 xsub size (40,091 x 16,487, D=2048, 1-NN,
2 shared cores, load average 2-4): faiss 24.2-24.8 s, torch 21.9-25.8 s, scikit-learn
brute force 45-54 s (so x1.7-2.3); "pruned" 22.9-23.9 s on features with a decaying
spectrum (97.7% of the energy in 128 directions; ~10 candidates rescored per query, 12x
fewer FLOPs) and 28.1 s on isotropic features (fell back). The pruned search's bound is a
(chunk, N) matrix that is written, reduced and thresholded: memory-bound passes that on
this machine cost as much as the FLOPs they save, hence not the default. None reaches the
10 s goal on 2 cores: brute force is 2.7 TFLOP, ~14 s at the fp32 peak.

Why faiss-cpu was slow: the faiss-cpu wheel bundles OpenBLAS 0.3.15, which does not know
recent Xeons (e.g. Emerald Rapids, cpuid model 207) and falls back to its generic
"Prescott" SSE3 kernels: 4-5x slower sgemm than torch's MKL. `import_faiss()` sets
OPENBLAS_CORETYPE (SkylakeX on AVX-512 CPUs, Haswell on AVX2) before faiss is first
imported, unless the user set it; after that faiss brute force runs at torch's speed.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

BACKENDS = ("auto", "faiss", "torch", "pruned")


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32 and C-contiguous."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norm, 1e-12), dtype=np.float32)


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def openblas_coretype_for_cpu(flags: set[str]) -> str | None:
    """OpenBLAS kernel family that an old OpenBLAS should use on a CPU with these flags."""
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= flags or {
        "avx512f",
        "avx512bw",
        "avx512vl",
    } <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def import_faiss():
    """Import faiss with its bundled OpenBLAS told the CPU's kernel family (see module doc)."""
    if "faiss" not in sys.modules and sys.platform.startswith("linux") and "OPENBLAS_CORETYPE" not in os.environ:
        core = openblas_coretype_for_cpu(_cpu_flags())
        if core is not None:
            os.environ["OPENBLAS_CORETYPE"] = core
    import faiss

    return faiss


def faiss_openblas_core() -> str | None:
    """Kernel family the OpenBLAS bundled with faiss-cpu picked ("Prescott" = slow generic), or None."""
    import ctypes
    import glob

    try:
        faiss = import_faiss()
        libs = glob.glob(
            os.path.join(os.path.dirname(os.path.dirname(faiss.__file__)), "faiss*.libs", "libopenblas*.so*")
        )
        if not libs:
            return None
        fn = ctypes.CDLL(libs[0]).openblas_get_corename
        fn.restype = ctypes.c_char_p
        return fn().decode()
    except (OSError, AttributeError, ImportError):
        return None


def faiss_gpu_available() -> bool:
    try:
        faiss = import_faiss()
        import torch

        return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0 and torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - any failure means "no GPU index"
        return False


def _search_faiss(train: np.ndarray, test: np.ndarray, k: int, gpu: bool) -> tuple[np.ndarray, np.ndarray]:
    faiss = import_faiss()
    index = faiss.IndexFlatIP(train.shape[1])
    if gpu:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(train)
    sims, idx = index.search(test, k)
    return sims, idx


def _search_torch(
    train: np.ndarray, test: np.ndarray, k: int, gpu: bool | None, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    import torch

    use_cuda = torch.cuda.is_available() if gpu is None else gpu
    device = torch.device("cuda" if use_cuda else "cpu")
    bank = torch.from_numpy(train).to(device)
    sims, idx = [], []
    with torch.inference_mode():
        for start in range(0, len(test), block):
            query = torch.from_numpy(test[start : start + block]).to(device)
            s, i = torch.topk(query @ bank.T, k, dim=1)
            sims.append(s.cpu().numpy())
            idx.append(i.cpu().numpy())
    return np.concatenate(sims), np.concatenate(idx)


@dataclass
class PrunedStats:
    """What the last pruned search did (for benchmarks and logs)."""

    rank: int = 0
    queries: int = 0
    pruned_queries: int = 0  # answered from the candidate set
    candidates: int = 0  # rows rescored in full dimension, over the pruned queries
    fell_back: bool = False  # pruning did not pay: brute force for the rest


LAST_PRUNED_STATS = PrunedStats()


def principal_basis(train, rank: int, *, sample: int = 1024, seed: int = 0):
    """Orthonormal (D, r) float32 basis of the top uncentred principal directions of `train`
    (r <= rank) and the fraction of the sample's energy it leaves out.

    Randomised SVD (Halko et al., 2011; `torch.svd_lowrank`, 2 power iterations) of a seeded
    subsample of rows: matmuls only, ~0.1 s at D=2048 where a dense eigensolver takes
    seconds. Any orthonormal basis keeps the pruned search exact; a good one prunes more.
    """
    import torch

    n, d = train.shape
    gen = torch.Generator().manual_seed(seed)
    rows = torch.randperm(n, generator=gen)[:sample] if n > sample else torch.arange(n)
    s = train[rows].float()  # (m, D)
    q = min(rank + 16, *s.shape)
    with torch.random.fork_rng(devices=[]):  # seeded, and the caller's RNG stream is left alone
        torch.manual_seed(seed)
        _, sv, v = torch.svd_lowrank(s, q=q, niter=2)
    keep = min(rank, int((sv > sv[0] * 1e-3).sum()))  # relative energy < 1e-6: rounding, not data
    basis, _ = torch.linalg.qr(v[:, :keep].double())  # exactly orthonormal, whatever the rounding above
    total = float(s.double().square().sum())
    left_out = 1.0 - float(sv[:keep].double().square().sum()) / max(total, 1e-300)
    return basis.float().contiguous(), max(left_out, 0.0)


def _rescore(bank, queries, qi, ci):
    """(P,) exact q_qi . x_ci (float32, as brute force): one matmul against the union of the candidate rows."""
    import torch

    rows, pos = torch.unique(ci, return_inverse=True)
    scores = queries @ bank[rows].T  # (b, |union|); float64 measured 2-3x slower here
    return scores[qi, pos]


def _topk_per_row(rows, cols, vals, nrows: int, k: int):
    """Top-k (vals, cols) per row from a ragged list of entries; every row has >= k entries."""
    order = np.lexsort((-vals, rows))  # by row, then decreasing value
    rows_s, cols_s, vals_s = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows_s, np.arange(nrows))
    take = starts[:, None] + np.arange(k)[None, :]
    return vals_s[take], cols_s[take]


def pruned_search(
    train: np.ndarray,
    test: np.ndarray,
    k: int = 1,
    *,
    rank: int = 128,
    chunk: int = 256,
    max_fraction: float = 0.005,
    max_left_out: float = 0.1,
    margin: float = 1e-4,
    fallback: str = "torch",
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN by inner product with a low-rank upper bound and exact rescoring (module doc).

    train (N, D) and test (Q, D) are unit rows. `margin` absorbs float32 rounding of the
    bound (scores are in [-1, 1], rounding errors are ~1e-6); candidates are rescored in
    full dimension (float32, like brute force). Brute force (`fallback` backend) instead when
    the basis leaves out more than `max_left_out` of the energy (the bound is then too loose
    to prune), or for the rest of the queries once a chunk keeps more than `max_fraction` of the train rows (rescoring a
    candidate gathers a D-vector, ~100x the cost of its share of a dense matmul, so pruning
    pays below ~1% candidates). Small query chunks keep the (chunk, N) bound in cache.
    (faiss for the two low-dimensional passes, best bound then a range search with the
    threshold folded into an extra coordinate, measured 2-4x slower than this on 2 cores.)
    """
    global LAST_PRUNED_STATS
    import torch

    n, d = train.shape
    stats = PrunedStats(queries=len(test))
    LAST_PRUNED_STATS = stats
    rank = min(rank, d // 4)  # the bound costs (rank+1)/D of brute force
    if rank < 1 or len(test) == 0:
        stats.fell_back = True
        return _brute(train, test, k, fallback)
    with torch.inference_mode():
        bank = torch.from_numpy(train)
        basis, left_out = principal_basis(bank, rank)
        stats.rank = basis.shape[1]
        if left_out > max_left_out:
            log.info(
                "pruned KNN: the top %d directions leave out %.0f%% of the energy; brute force",
                stats.rank,
                100 * left_out,
            )
            stats.fell_back = True
            return _brute(train, test, k, fallback)
        low, res = _project(bank, basis)
        bank_aug = torch.cat([low, res[:, None]], 1)  # (N, r+1): bound = [P'q, |q_perp|] . [P'x, |x_perp|]
        del low, res
        sims, idx = [], []
        start = 0
        while start < len(test):
            q = torch.from_numpy(test[start : start + chunk])
            q_low, q_res = _project(q, basis)
            upper = torch.cat([q_low, q_res[:, None]], 1) @ bank_aug.T  # (b, N)
            top = upper.argmax(1, keepdim=True) if k == 1 else upper.topk(k, dim=1).indices
            exact_top = torch.einsum("bkd,bd->bk", bank[top], q)  # real rows: a lower bound on the k-th best
            tau = exact_top.min(1).values
            qi, ci = (upper >= (tau - margin)[:, None]).nonzero(as_tuple=True)
            del upper
            if len(qi) > max_fraction * len(q) * n:
                stats.fell_back = True
                log.info(
                    "pruned KNN: %.1f%% of train rows are candidates; brute force for the remaining %d queries",
                    100.0 * len(qi) / (len(q) * n),
                    len(test) - start,
                )
                s, i = _brute(train, test[start:], k, fallback)
                sims.append(s)
                idx.append(i)
                break
            vals = _rescore(bank, q, qi, ci)
            s, i = _topk_per_row(qi.numpy(), ci.numpy(), vals.numpy(), len(q), k)
            sims.append(s.astype(np.float32))
            idx.append(i.astype(np.int64))
            stats.pruned_queries += len(q)
            stats.candidates += len(qi)
            start += len(q)
    return np.concatenate(sims), np.concatenate(idx)


def _project(x, basis):
    """x: (N, D) -> (coordinates (N, r), residual norms (N,)), computed in row blocks."""
    import torch

    low = x @ basis
    res = torch.empty(len(x), dtype=x.dtype)
    for s in range(0, len(x), 4096):
        e = s + 4096
        torch.linalg.vector_norm(x[s:e] - low[s:e] @ basis.T, dim=1, out=res[s:e])
    return low, res


def _brute(train: np.ndarray, test: np.ndarray, k: int, backend: str) -> tuple[np.ndarray, np.ndarray]:
    if len(test) == 0:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    if backend == "faiss":
        return _search_faiss(train, test, k, gpu=False)
    return _search_torch(train, test, k, gpu=False)


def knn_search(
    train: np.ndarray, test: np.ndarray, k: int = 1, *, backend: str = "auto", gpu: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k-nearest train rows of each test row -> (sims (Q, k), indices (Q, k)).

    train: (N, D), test: (Q, D); both are L2-normalised here. Neighbours are sorted by
    decreasing similarity. `gpu=None` uses the GPU when available (faiss: a GPU index when
    faiss-gpu is installed; torch: CUDA). Backends: see the module docstring.
    """
    train, test = np.asarray(train), np.asarray(test)
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"expected train (N, D) and test (Q, D) with one D, got {train.shape} and {test.shape}")
    if not 1 <= k <= len(train):
        raise ValueError(f"k={k} must be between 1 and the number of train features ({len(train)})")
    if backend not in BACKENDS:
        raise ValueError(f"unknown KNN backend {backend!r} (use one of {', '.join(BACKENDS)})")
    train, test = l2_normalize(train), l2_normalize(test)
    if backend == "auto":
        if gpu is not False and faiss_gpu_available():
            backend = "faiss"
        else:
            import torch

            if gpu is not False and torch.cuda.is_available():
                backend = "torch"
            else:  # measured equal on CPU when faiss's OpenBLAS uses the CPU's kernels, 4-5x slower when not
                backend = "torch" if faiss_openblas_core() == "Prescott" else "faiss"
    if backend == "faiss":
        use_gpu = faiss_gpu_available() if gpu is None else gpu
        return _search_faiss(train, test, k, use_gpu)
    if backend == "torch":
        return _search_torch(train, test, k, gpu)
    return pruned_search(train, test, k)


@dataclass
class KnnResult:
    predictions: np.ndarray  # (Q,)
    scores: np.ndarray  # (Q, num_classes) class scores, rows sum to 1
    neighbours: np.ndarray  # (Q, k) train row indices
    similarities: np.ndarray  # (Q, k)


def knn_classify(
    train: np.ndarray,
    train_labels: np.ndarray,
    test: np.ndarray,
    num_classes: int,
    *,
    k: int = 1,
    weighted: bool = False,
    temperature: float = 0.1,
    backend: str = "auto",
    gpu: bool | None = None,
) -> KnnResult:
    """k-NN classifier on cosine similarity.

    Unweighted: majority vote of the k neighbours (ties go to the lower class index, as
    in scikit-learn); k=1 is the retrieval protocol. Weighted: s_c = sum exp(sim / tau).
    """
    train_labels = np.asarray(train_labels, dtype=np.int64)
    if len(train_labels) != len(train):
        raise ValueError(f"{len(train)} train features but {len(train_labels)} labels")
    if train_labels.size and (train_labels.min() < 0 or train_labels.max() >= num_classes):
        raise ValueError(
            f"train labels must be in [0, {num_classes}), got [{train_labels.min()}, {train_labels.max()}]"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    sims, idx = knn_search(train, test, k, backend=backend, gpu=gpu)
    votes = train_labels[idx]  # (Q, k)
    weights = np.exp((sims - 1.0) / temperature) if weighted else np.ones_like(sims)  # shift: no overflow
    scores = np.zeros((len(test), num_classes), dtype=np.float64)
    np.add.at(scores, (np.repeat(np.arange(len(test)), k), votes.ravel()), weights.ravel())
    scores /= np.maximum(scores.sum(1, keepdims=True), 1e-300)
    return KnnResult(scores.argmax(1), scores.astype(np.float32), idx, sims)
