"""Exact cosine k-nearest-neighbour search: faiss, torch, and a pruned search with fewer FLOPs.

Cosine similarity of unit rows is their inner product, so every backend L2-normalises and
searches by inner product; all of them are exact.

- "faiss": `IndexFlatIP` (a GPU index when faiss-gpu and CUDA are present).
- "torch": blocked matmul + top-k (on CUDA when present).
- "pruned": with an orthonormal basis P (D, r) of the top-r principal directions of the
  train features, every score splits as q.x = (P'q).(P'x) + q_perp.x_perp, and
  |q_perp.x_perp| <= |q_perp| |x_perp| (Cauchy-Schwarz), so
  u(q, x) = (P'q).(P'x) + |q_perp||x_perp| >= q.x is an upper bound computed in r+1 dims.
  Per query: the `probe` rows of largest bound are rescored exactly (float64); the k-th of
  those exact scores, t, is a lower bound on the k-th true neighbour's score, and a row can
  only be a neighbour if u >= t. When the `probe`-th largest bound is already below t (minus
  a margin for float32 rounding of the bound) the answer is proven from those rows alone:
  one matmul in r+1 dims and one top-`probe` pass per query chunk, no thresholding pass.
  The few queries not proven that way rescore every row with u >= t, or go to brute force
  when that is a large fraction of the train set.
- "cascade": bf16 scores for every pair (bf16 dot-product instructions run about twice the
  fp32 matmul rate), the `probe` best rows per query rescored exactly (float64), proven by a
  bound on the bf16 rounding error (BF16_SCORE_ERROR): no other row can beat the k-th exact
  score when the `probe`-th bf16 score plus the bound is below it. Unproven queries (near
  ties within the bound) get fp32 brute force.
- "auto" (default): a GPU index or CUDA when available; on CPU, for features of at least
  MIN_DIM_TO_PRUNE dimensions, the energy test below picks "pruned" for features with a
  dominant subspace (what trained embeddings look like), else "cascade" on CPUs with bf16 dot
  products; otherwise fp32 brute force (faiss, or torch when faiss's OpenBLAS runs its generic
  kernels, see faiss_setup) with the exact float64 refinement of `brute_force`. Every answer
  of "auto", "pruned" and "cascade" equals float64 brute force; "faiss" and "torch" alone are
  fp32 searches and may pick either of two rows whose scores tie below fp32 resolution.

The energy test: a randomised SVD of 1024 sampled train rows (matmuls on a (1024, D) sample,
cheap next to the search); pruning pays only when the top-r directions hold most of the
energy (`max_left_out`). Measured speeds: BENCHMARKS.md (benchmarks/eval_speed.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ssl_skel.evaluation.faiss_setup import cpu_flags, faiss_gpu_available, faiss_openblas_core, import_faiss

log = logging.getLogger(__name__)

BACKENDS = ("auto", "faiss", "torch", "pruned", "cascade")
# "auto" prunes (or cascades) only from this feature dimension up: both add passes over every
# (query, row) pair (top-k, thresholds) that cost about as much as a ~600-dimensional product,
# so they beat fp32 brute force at D=2048 and lose to it at D=256 (BENCHMARKS.md, retrieval)
MIN_DIM_TO_PRUNE = 1024


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32 and C-contiguous."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norm, 1e-12), dtype=np.float32)


def search_faiss(train: np.ndarray, test: np.ndarray, k: int, gpu: bool = False) -> tuple[np.ndarray, np.ndarray]:
    faiss = import_faiss()
    index = faiss.IndexFlatIP(train.shape[1])
    if gpu:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(train)
    sims, idx = index.search(test, k)
    return sims, idx


def search_torch(
    train: np.ndarray, test: np.ndarray, k: int, gpu: bool | None = False, block: int = 2048
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


def fp32_score_error(d: int) -> float:
    """Bound on |fp32 score - exact score| for unit rows of dimension d: d + 1 roundings of a
    relative 2^-24 on products and partial sums (each partial sum <= 1 by Cauchy-Schwarz) plus
    the output's; blocked BLAS sums round less, so this is loose, not tight."""
    return (d + 2) * 2.0**-24


def _float64_topk(train: np.ndarray, test: np.ndarray, k: int, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Plain float64 scores of every pair, top-k per query (ties to the lower index)."""
    import torch

    bank = torch.from_numpy(train).double()
    sims, idx = [], []
    for start in range(0, len(test), block):
        scores = (torch.from_numpy(test[start : start + block]).double() @ bank.T).numpy()
        # the k-th largest score per query; rows tied with it may lie outside the partition,
        # so every row at or above it is ranked (ties to the lower index)
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
        for row_scores, threshold in zip(scores, kth):
            keep = np.flatnonzero(row_scores >= threshold)
            v, c = _best_k(row_scores[keep][None], keep[None], k)
            sims.append(v[0])
            idx.append(c[0])
    return np.asarray(sims, np.float32).reshape(-1, k), np.asarray(idx, np.int64).reshape(-1, k)


def brute_force(
    train: np.ndarray, test: np.ndarray, k: int, backend: str = "torch", probe: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-NN of unit rows, equal to float64 brute force (ties to the lower index).

    fp32 search (faiss or torch) for the `probe` best rows, rescored in float64; a query is
    proven when the `probe`-th fp32 score plus fp32_score_error is below its k-th exact score
    (no other row can beat it). The rest, near ties below fp32 resolution (near-duplicate
    gallery rows: augmented views, repeated frames), get float64 scores against every row.
    """
    if len(test) == 0:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    m = min(max(probe, k + 1), len(train))
    if m <= k:  # every row is a candidate
        return _float64_topk(train, test, k)
    if backend == "faiss":
        sims32, cand = search_faiss(train, test, m, gpu=False)
    else:
        sims32, cand = search_torch(train, test, m, gpu=False)
    import torch

    bank, queries, cand_t = torch.from_numpy(train), torch.from_numpy(test), torch.from_numpy(cand)
    # float64 rescoring in chunks: all queries at once would copy (Q, m, D) rows in float64 (GBs at NTU size)
    exact = np.concatenate(
        [_exact(bank, queries[s : s + 1024], cand_t[s : s + 1024]).numpy() for s in range(0, len(test), 1024)]
    )
    vals, cols = _best_k(exact, cand, k)
    unproven = np.flatnonzero(sims32[:, -1].astype(np.float64) + fp32_score_error(train.shape[1]) >= vals[:, k - 1])
    if len(unproven):
        vals[unproven], cols[unproven] = _float64_topk(train, test[unproven], k)
    return vals.astype(np.float32), cols


@dataclass
class PrunedStats:
    """What one pruned search did."""

    rank: int = 0
    left_out: float = 0.0  # fraction of the sample's energy outside the basis (the energy test)
    queries: int = 0
    proven_queries: int = 0  # answered from the `probe` best-bound rows alone
    thresholded_queries: int = 0  # answered by rescoring every row whose bound reaches the threshold
    brute_queries: int = 0  # answered by brute force
    candidates: int = 0  # rows rescored in full dimension, over proven + thresholded queries
    fell_back: bool = False  # brute force for some or all queries

    @property
    def pruned_queries(self) -> int:
        return self.proven_queries + self.thresholded_queries


def principal_basis(train, rank: int, *, sample: int = 1024, seed: int = 0):
    """Orthonormal (D, r) float32 basis of the top uncentred principal directions of `train`
    (r <= rank) and the fraction of the sample's energy it leaves out.

    Randomised SVD (Halko et al., 2011; `torch.svd_lowrank`, 2 power iterations) of a seeded
    subsample of rows: matmuls only, where a dense eigensolver takes seconds. Any orthonormal
    basis keeps the pruned search exact; a good one prunes more.
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


def _project(x, basis):
    """x: (N, D) -> (coordinates (N, r), residual norms (N,)), computed in row blocks."""
    import torch

    low = x @ basis
    res = torch.empty(len(x), dtype=x.dtype)
    for s in range(0, len(x), 4096):
        e = s + 4096
        torch.linalg.vector_norm(x[s:e] - low[s:e] @ basis.T, dim=1, out=res[s:e])
    return low, res


def _best_k(vals: np.ndarray, cols: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of (b, m) exact scores and their row indices: the k best, ties to the lower index."""
    order = np.lexsort((cols, -vals), axis=-1)[:, :k]
    return np.take_along_axis(vals, order, 1), np.take_along_axis(cols, order, 1)


def _topk_per_row(rows, cols, vals, nrows: int, k: int):
    """Top-k (vals, cols) per row from a ragged list of entries (ties to the lower index); every row has >= k."""
    order = np.lexsort((cols, -vals, rows))
    rows_s, cols_s, vals_s = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows_s, np.arange(nrows))
    take = starts[:, None] + np.arange(k)[None, :]
    return vals_s[take], cols_s[take]


def _exact(bank, queries, cols):
    """(b, m) float64 scores of queries (b, D) against bank rows cols (b, m)."""
    import torch

    return torch.einsum("bmd,bd->bm", bank[cols].double(), queries.double())


def pruned_search(
    train: np.ndarray,
    test: np.ndarray,
    k: int = 1,
    *,
    rank: int = 128,
    chunk: int = 128,
    probe: int = 8,
    max_fraction: float = 0.005,
    max_left_out: float = 0.1,
    margin: float = 1e-4,
    fallback: str = "torch",
    basis=None,
) -> tuple[np.ndarray, np.ndarray, PrunedStats]:
    """Exact k-NN by inner product with a low-rank upper bound (module doc) -> (sims, indices, stats).

    train (N, D) and test (Q, D) are unit rows. Neighbours are exact in float64 (ties to
    the lower index). `margin` absorbs the float32 rounding of the bound (scores lie in
    [-1, 1], rounding errors are ~1e-6). Brute force (`fallback` backend) when the basis
    leaves out more than `max_left_out` of the energy, for a query whose thresholded
    candidates exceed `max_fraction` of the train rows, and for all remaining queries once
    a chunk sends most of its queries to brute force. `basis`: a precomputed
    (principal_basis) pair, e.g. from the energy test.
    """
    import torch

    n, d = train.shape
    stats = PrunedStats(queries=len(test))
    rank = min(rank, d // 4)  # the bound costs (rank+1)/D of brute force
    m = min(max(probe, k + 1), n)
    if rank < 1 or len(test) == 0 or m >= n:
        stats.fell_back = len(test) > 0
        stats.brute_queries = len(test)
        return (*brute_force(train, test, k, fallback), stats)
    with torch.inference_mode():
        bank = torch.from_numpy(train)
        basis, left_out = basis if basis is not None else principal_basis(bank, rank)
        stats.rank, stats.left_out = basis.shape[1], left_out
        if left_out > max_left_out:
            log.info(
                "pruned KNN: the top %d directions leave out %.0f%% of the energy; brute force",
                stats.rank,
                100 * left_out,
            )
            stats.fell_back, stats.brute_queries = True, len(test)
            return (*brute_force(train, test, k, fallback), stats)
        low, res = _project(bank, basis)
        bank_aug = torch.cat([low, res[:, None]], 1)  # (N, r+1): bound = [P'q, |q_perp|] . [P'x, |x_perp|]
        del low, res
        sims = np.zeros((len(test), k), np.float32)
        idx = np.zeros((len(test), k), np.int64)
        start = 0
        while start < len(test):
            q = torch.from_numpy(test[start : start + chunk])
            b = len(q)
            q_low, q_res = _project(q, basis)
            upper = torch.cat([q_low, q_res[:, None]], 1) @ bank_aug.T  # (b, N)
            top_u, top_i = upper.topk(m, dim=1)  # sorted, largest first
            vals, cols = _best_k(_exact(bank, q, top_i).numpy(), top_i.numpy(), k)
            tau = vals[:, k - 1]
            proven = top_u[:, -1].double().numpy() < tau - margin
            sims[start : start + b][proven] = vals[proven]
            idx[start : start + b][proven] = cols[proven]
            stats.proven_queries += int(proven.sum())
            stats.candidates += int(proven.sum()) * m
            rest = np.flatnonzero(~proven)
            brute = []
            if len(rest):
                rest_t = torch.from_numpy(rest)
                qi, ci = (upper[rest_t] >= torch.from_numpy(tau[rest] - margin).float()[:, None]).nonzero(as_tuple=True)
                counts = np.bincount(qi.numpy(), minlength=len(rest))
                ok = counts <= max_fraction * n
                keep = torch.from_numpy(ok)[qi]
                qi, ci = qi[keep], ci[keep]
                if len(qi):
                    vals_t = (bank[ci].double() * q[rest_t[qi]].double()).sum(1).numpy()
                    rows_local = np.cumsum(ok) - 1  # rank of each kept query among kept ones
                    s, i = _topk_per_row(rows_local[qi.numpy()], ci.numpy(), vals_t, int(ok.sum()), k)
                    sims[start + rest[ok]] = s
                    idx[start + rest[ok]] = i
                    stats.candidates += len(qi)
                stats.thresholded_queries += int(ok.sum())
                brute = rest[~ok]
            if len(brute):
                s, i = brute_force(train, test[start + brute], k, fallback)
                sims[start + brute], idx[start + brute] = s, i
                stats.brute_queries += len(brute)
                stats.fell_back = True
            del upper
            start += b
            if len(brute) > b // 2 and start < len(test):
                log.info("pruned KNN: brute force for the remaining %d queries", len(test) - start)
                s, i = brute_force(train, test[start:], k, fallback)
                sims[start:], idx[start:] = s, i
                stats.brute_queries += len(test) - start
                break
    return sims, idx, stats


# bf16 scores of unit rows differ from the exact ones by at most: inputs rounded to 8
# significant bits (2 * 2^-9 relative per product, so 2^-8 * sum |q_i x_i| <= 2^-8 by
# Cauchy-Schwarz), fp32 accumulation (D * 2^-24 relative, D <= 2^13), the bf16 output
# rounding (2^-9 for |score| <= 1); rounded up.
BF16_SCORE_ERROR = 2.0**-8 + 2.0**-11 + 2.0**-9 + 1e-4


def fast_bf16_cpu() -> bool:
    """True when the CPU has bf16 dot-product instructions (bf16 matmuls then beat fp32 ones)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cascade_search(
    train: np.ndarray, test: np.ndarray, k: int = 1, *, probe: int = 8, chunk: int = 1024, margin: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, PrunedStats]:
    """Exact k-NN of unit rows: bf16 scores for every pair (about twice fp32 matmul speed on CPUs
    with bf16 dot products), the `probe` best rows per query rescored exactly (float64), and a
    proof: every other row scores at most its bf16 score + BF16_SCORE_ERROR, so when the
    `probe`-th bf16 score plus that bound is below the k-th exact score, the answer is exact.
    Queries without that proof are answered by fp32 brute force. -> (sims, indices, stats).
    """
    import torch

    n, d = train.shape
    stats = PrunedStats(queries=len(test))
    m = min(max(probe, k + 1), n)
    if len(test) == 0 or m >= n or d > 2**13:
        stats.fell_back, stats.brute_queries = len(test) > 0, len(test)
        return (*brute_force(train, test, k), stats)
    sims = np.zeros((len(test), k), np.float32)
    idx = np.zeros((len(test), k), np.int64)
    brute = []
    with torch.inference_mode():
        bank = torch.from_numpy(train)
        bank_t16 = bank.t().to(torch.bfloat16).contiguous()
        for start in range(0, len(test), chunk):
            q = torch.from_numpy(test[start : start + chunk])
            approx = q.to(torch.bfloat16) @ bank_t16  # (b, N) bf16
            top_s, top_i = approx.topk(m, dim=1)
            vals, cols = _best_k(_exact(bank, q, top_i).numpy(), top_i.numpy(), k)
            bound = top_s[:, -1].double().numpy() + BF16_SCORE_ERROR
            proven = bound < vals[:, k - 1] - margin
            rows = start + np.flatnonzero(proven)
            sims[rows], idx[rows] = vals[proven], cols[proven]
            stats.proven_queries += int(proven.sum())
            stats.candidates += int(proven.sum()) * m
            brute.extend((start + np.flatnonzero(~proven)).tolist())
    if brute:
        rows = np.asarray(brute)
        sims[rows], idx[rows] = brute_force(train, test[rows], k)
        stats.brute_queries, stats.fell_back = len(rows), True
    return sims, idx, stats


@dataclass
class SearchResult:
    sims: np.ndarray  # (Q, k), decreasing
    indices: np.ndarray  # (Q, k) train rows
    backend: str  # the backend that ran ("auto" resolved)
    stats: PrunedStats | None = None  # for the pruned backend (and "auto" when it chose it)


def search(
    train: np.ndarray,
    test: np.ndarray,
    k: int = 1,
    *,
    backend: str = "auto",
    gpu: bool | None = None,
    rank: int = 128,
    max_left_out: float = 0.1,
) -> SearchResult:
    """Cosine k-nearest train rows of each test row (both L2-normalised here); backends: module doc."""
    train, test = np.asarray(train), np.asarray(test)
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"expected train (N, D) and test (Q, D) with one D, got {train.shape} and {test.shape}")
    if not 1 <= k <= len(train):
        raise ValueError(f"k={k} must be between 1 and the number of train features ({len(train)})")
    if backend not in BACKENDS:
        raise ValueError(f"unknown KNN backend {backend!r} (use one of {', '.join(BACKENDS)})")
    train, test = l2_normalize(train), l2_normalize(test)
    import torch

    if backend == "auto":
        if gpu is not False and faiss_gpu_available():
            backend = "faiss"
        elif gpu is not False and torch.cuda.is_available():
            backend = "torch"
        else:
            brute = "torch" if faiss_openblas_core() == "Prescott" else "faiss"
            r = min(rank, train.shape[1] // 4)
            wide = train.shape[1] >= MIN_DIM_TO_PRUNE
            if wide and r >= 1 and len(train) > 64 and len(test) > 0:
                basis = principal_basis(torch.from_numpy(train), r)
                if basis[1] <= max_left_out:
                    s, i, st = pruned_search(train, test, k, rank=r, basis=basis, fallback=brute)
                    return SearchResult(s, i, "pruned", st)
            if wide and fast_bf16_cpu() and len(train) > 64:
                backend = "cascade"
            else:
                return SearchResult(*brute_force(train, test, k, brute), brute)
    if backend == "faiss":
        use_gpu = faiss_gpu_available() if gpu is None else gpu
        return SearchResult(*search_faiss(train, test, k, use_gpu), "faiss")
    if backend == "torch":
        return SearchResult(*search_torch(train, test, k, gpu), "torch")
    if backend == "cascade":
        s, i, st = cascade_search(train, test, k)
        return SearchResult(s, i, "cascade", st)
    s, i, st = pruned_search(train, test, k, rank=rank, max_left_out=max_left_out)
    return SearchResult(s, i, "pruned", st)


def knn_search(
    train: np.ndarray, test: np.ndarray, k: int = 1, *, backend: str = "auto", gpu: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k-nearest train rows of each test row -> (sims (Q, k), indices (Q, k)), decreasing.

    `gpu=None` uses the GPU when available (faiss: a GPU index when faiss-gpu is installed;
    torch: CUDA).
    """
    result = search(train, test, k, backend=backend, gpu=gpu)
    return result.sims, result.indices
