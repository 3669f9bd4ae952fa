"""Classification metrics shared by evaluation, fine-tuning and the fusion adapters."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion_matrix


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Percent of rows whose label is among the k highest scores (ties: lower class first)."""
    labels = np.asarray(labels)
    order = np.argsort(-scores, axis=1, kind="stable")
    out = {}
    for k in ks:
        k_eff = min(k, scores.shape[1])
        out[f"top{k}"] = float(100.0 * np.mean((order[:, :k_eff] == labels[:, None]).any(1))) if len(labels) else 0.0
    return out


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    return _sk_confusion_matrix(np.asarray(labels), np.asarray(predictions), labels=np.arange(num_classes))
