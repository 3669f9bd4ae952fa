"""KNN classifiers on frozen features (the retrieval protocol and the weighted k-NN).

Protocol (UmURL, CMD, AimCLR "action retrieval"): L2-normalise train and test features,
find each test clip's nearest train clip by cosine similarity (exact search:
ssl_skel.evaluation.knn_search), and predict its label (k=1).

The weighted k-NN classifier of InstDisc (Wu et al., 2018) and DINO (Caron et al., 2021)
is an option: class score s_c = sum over the k neighbours i with label c of
exp(cos(q, x_i) / tau).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssl_skel.evaluation.knn_search import knn_search


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
