"""KNN retrieval on frozen features: exact cosine search with faiss, and KNN classifiers.

Protocol (UmURL, CMD, AimCLR "action retrieval"): L2-normalise train and test features,
find each test clip's nearest train clip by cosine similarity, and predict its label
(k=1). Cosine similarity of unit vectors is their inner product, so an exact
inner-product index (faiss `IndexFlatIP`, the GPU index when faiss-gpu and CUDA are
present) gives the same neighbours as a brute-force `test @ train.T`.

The weighted k-NN classifier of InstDisc (Wu et al., 2018) and DINO (Caron et al., 2021)
is an option: class score s_c = sum over the k neighbours i with label c of
exp(cos(q, x_i) / tau).

Backends, all exact and identical on tie-free data: "faiss" (IndexFlatIP; a GPU index
when faiss-gpu and CUDA are present), "torch" (blocked matmul + top-k, on CUDA when
present) and "auto" (default): faiss's GPU index when available, else torch. Why not
faiss on CPU by default: at NTU-60 xsub size (40,091 x 16,487, D=2048) on 2 cores the
faiss-cpu wheel took 94-445 s against torch's 22-50 s (benchmarks/eval_speed.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32 and C-contiguous."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norm, 1e-12), dtype=np.float32)


def faiss_gpu_available() -> bool:
    try:
        import faiss
        import torch

        return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0 and torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - any failure means "no GPU index"
        return False


def _search_faiss(train: np.ndarray, test: np.ndarray, k: int, gpu: bool) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatIP(train.shape[1])
    if gpu:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(train)
    sims, idx = index.search(test, k)
    return sims, idx


def _search_torch(train: np.ndarray, test: np.ndarray, k: int, gpu: bool | None,
                  block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    import torch

    use_cuda = torch.cuda.is_available() if gpu is None else gpu
    device = torch.device("cuda" if use_cuda else "cpu")
    bank = torch.from_numpy(train).to(device)
    sims, idx = [], []
    with torch.inference_mode():
        for start in range(0, len(test), block):
            query = torch.from_numpy(test[start:start + block]).to(device)
            s, i = torch.topk(query @ bank.T, k, dim=1)
            sims.append(s.cpu().numpy())
            idx.append(i.cpu().numpy())
    return np.concatenate(sims), np.concatenate(idx)


def knn_search(train: np.ndarray, test: np.ndarray, k: int = 1, *, backend: str = "auto",
               gpu: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k-nearest train rows of each test row -> (sims (Q, k), indices (Q, k)).

    train: (N, D), test: (Q, D); both are L2-normalised here. Neighbours are sorted by
    decreasing similarity. `gpu=None` uses the GPU when available (faiss: a GPU index when
    faiss-gpu is installed; torch: CUDA).
    """
    train, test = np.asarray(train), np.asarray(test)
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"expected train (N, D) and test (Q, D) with one D, got {train.shape} and {test.shape}")
    if not 1 <= k <= len(train):
        raise ValueError(f"k={k} must be between 1 and the number of train features ({len(train)})")
    train, test = l2_normalize(train), l2_normalize(test)
    if backend == "auto":
        backend = "faiss" if (gpu is not False and faiss_gpu_available()) else "torch"
    if backend == "faiss":
        use_gpu = faiss_gpu_available() if gpu is None else gpu
        return _search_faiss(train, test, k, use_gpu)
    if backend == "torch":
        return _search_torch(train, test, k, gpu)
    raise ValueError(f"unknown KNN backend {backend!r} (use 'auto', 'faiss' or 'torch')")


@dataclass
class KnnResult:
    predictions: np.ndarray  # (Q,)
    scores: np.ndarray  # (Q, num_classes) class scores, rows sum to 1
    neighbours: np.ndarray  # (Q, k) train row indices
    similarities: np.ndarray  # (Q, k)


def knn_classify(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, num_classes: int, *,
                 k: int = 1, weighted: bool = False, temperature: float = 0.1,
                 backend: str = "auto", gpu: bool | None = None) -> KnnResult:
    """k-NN classifier on cosine similarity.

    Unweighted: majority vote of the k neighbours (ties go to the lower class index, as
    in scikit-learn); k=1 is the retrieval protocol. Weighted: s_c = sum exp(sim / tau).
    """
    train_labels = np.asarray(train_labels, dtype=np.int64)
    if len(train_labels) != len(train):
        raise ValueError(f"{len(train)} train features but {len(train_labels)} labels")
    if train_labels.size and (train_labels.min() < 0 or train_labels.max() >= num_classes):
        raise ValueError(f"train labels must be in [0, {num_classes}), got [{train_labels.min()}, {train_labels.max()}]")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    sims, idx = knn_search(train, test, k, backend=backend, gpu=gpu)
    votes = train_labels[idx]  # (Q, k)
    weights = np.exp((sims - 1.0) / temperature) if weighted else np.ones_like(sims)  # shift: no overflow
    scores = np.zeros((len(test), num_classes), dtype=np.float64)
    np.add.at(scores, (np.repeat(np.arange(len(test)), k), votes.ravel()), weights.ravel())
    scores /= np.maximum(scores.sum(1, keepdims=True), 1e-300)
    return KnnResult(scores.argmax(1), scores.astype(np.float32), idx, sims)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Percent of rows whose label is among the k highest scores (ties: lower class first)."""
    labels = np.asarray(labels)
    order = np.argsort(-scores, axis=1, kind="stable")
    out = {}
    for k in ks:
        k_eff = min(k, scores.shape[1])
        out[f"top{k}"] = float(100.0 * np.mean((order[:, :k_eff] == labels[:, None]).any(1))) if len(labels) else 0.0
    return out
