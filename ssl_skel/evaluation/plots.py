"""PNGs people would rather look at: a confusion matrix and a t-SNE of test embeddings.

matplotlib runs headless (Agg); t-SNE uses scikit-learn on a class-stratified subsample
(default 1,500 points) so it takes seconds, not minutes, on CPU.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return cm


def plot_confusion(labels: np.ndarray, predictions: np.ndarray, path: str | Path,
                   class_names: Sequence[str] | None = None, title: str = "") -> Path:
    """Row-normalised confusion matrix; class names shown when there are at most 30."""
    k = len(class_names) if class_names else int(max(np.max(labels), np.max(predictions))) + 1
    cm = confusion_matrix(labels, predictions, k).astype(np.float64)
    cm /= np.maximum(cm.sum(1, keepdims=True), 1)
    plt = _pyplot()
    size = min(14.0, 3.0 + 0.2 * k)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if class_names and k <= 30:
        ax.set_xticks(range(k), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(k), class_names, fontsize=7)
    acc = 100.0 * float(np.mean(np.asarray(labels) == np.asarray(predictions))) if len(labels) else 0.0
    ax.set_title(f"{title} top-1 {acc:.1f}%".strip())
    return _save(fig, path)


def stratified_subsample(labels: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """Row indices, at most `max_points`, spread evenly over classes (seeded)."""
    labels = np.asarray(labels)
    if len(labels) <= max_points:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per = max(1, max_points // len(classes))
    rows = [rng.permutation(np.flatnonzero(labels == c))[:per] for c in classes]
    return np.sort(np.concatenate(rows))[:max_points]


def plot_tsne(features: np.ndarray, labels: np.ndarray, path: str | Path, *, max_points: int = 1500,
              seed: int = 0, title: str = "") -> Path:
    """2-D t-SNE of (N, D) features, points coloured by class."""
    from sklearn.manifold import TSNE

    features = np.asarray(features, np.float32)
    rows = stratified_subsample(labels, max_points, seed)
    x, y = features[rows], np.asarray(labels)[rows]
    if len(x) < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {len(x)}")
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(xy[:, 0], xy[:, 1], c=y, cmap="tab20" if y.max() < 20 else "nipy_spectral", s=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"t-SNE of {len(x)} test embeddings")
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    """Write a figure as PNG (folders created) and free it: plots run in long jobs."""
    plt = _pyplot()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
