"""PNGs people would rather look at: training curves, confusion matrices, t-SNE maps.

One matplotlib policy for the whole toolkit: figures are built with `matplotlib.figure.Figure`
(no pyplot, so no global backend state and no display needed in long headless jobs), saved
as PNG through the atomic write and dropped. t-SNE uses scikit-learn on a class-stratified
subsample (default 1,500 points) so it takes seconds, not minutes, on a CPU.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ssl_skel.core.io import atomic_write_bytes
from ssl_skel.engine.metrics import confusion_matrix


def _figure(size: tuple[float, float]):
    from matplotlib.figure import Figure

    return Figure(figsize=size)


def _save(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write a figure as PNG (folders created, atomically) and return the path."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _class_colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n <= 20 else "nipy_spectral"]
    return [cmap(i / max(1, n - 1)) if n > 20 else cmap(i) for i in range(n)]


def history_panels(
    history: Sequence[dict], skip: Sequence[str] = ("epoch",), shared: Sequence[str] = ("accuracy/",)
) -> dict[str, list[str]]:
    """{panel title: the history keys drawn in it}: one panel per key, except keys starting with a `shared`
    prefix, which share the prefix's panel (shared panels first)."""
    # every key any epoch has (an online monitor reports only every few epochs), in first-seen order
    names = list(
        dict.fromkeys(k for h in history for k, v in h.items() if k not in skip and isinstance(v, (int, float)))
    )
    panels: dict[str, list[str]] = {}
    for name in sorted(names, key=lambda n: not any(n.startswith(p) for p in shared)):  # stable: order kept
        group = next((prefix for prefix in shared if name.startswith(prefix)), name)
        panels.setdefault(group, []).append(name)
    return panels


def plot_history(
    history: Sequence[dict],
    path: str | Path,
    skip: Sequence[str] = ("epoch",),
    shared: Sequence[str] = ("accuracy/",),
) -> Path | None:
    """history: per-epoch dicts of floats (FitResult.history). Returns the file, or None if empty.

    Keys starting with one of `shared` share one panel with a legend (e.g. accuracy/clean_train beside
    accuracy/test, so a run whose training accuracy does not rise above the held-out one is seen at a glance).
    """
    panels = history_panels(history, skip, shared)
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = _figure((4 * cols, 3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (group, members) in zip(axes.flat, panels.items()):
        is_shared = group not in members
        for name in members:
            points = [(h.get("epoch", i + 1), h[name]) for i, h in enumerate(history) if name in h]
            label = name[len(group) :] if is_shared else None
            ax.plot([e for e, _ in points], [v for _, v in points], marker="o", markersize=3, label=label)
        ax.set_title(group.rstrip("/"), fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if is_shared:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    return _save(fig, path)


def plot_confusion(
    labels: np.ndarray,
    predictions: np.ndarray,
    path: str | Path,
    class_names: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """Row-normalised confusion matrix; class names shown when there are at most 30."""
    k = len(class_names) if class_names else int(max(np.max(labels), np.max(predictions))) + 1
    cm = confusion_matrix(labels, predictions, k).astype(np.float64)
    cm /= np.maximum(cm.sum(1, keepdims=True), 1)
    size = min(14.0, 3.0 + 0.2 * k)
    fig = _figure((size, size))
    ax = fig.subplots()
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


def plot_tsne(
    features: np.ndarray,
    labels: np.ndarray,
    path: str | Path,
    *,
    max_points: int = 1500,
    seed: int = 0,
    title: str = "",
    class_names: Sequence[str] | None = None,
) -> Path:
    """2-D t-SNE of (N, D) features, points coloured by class (named in a legend up to 30 classes)."""
    from sklearn.manifold import TSNE

    features = np.asarray(features, np.float32)
    rows = stratified_subsample(labels, max_points, seed)
    x, y = features[rows], np.asarray(labels)[rows]
    if len(x) < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {len(x)}")
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    fig = _figure((8, 6) if class_names else (6, 6))
    ax = fig.subplots()
    classes = np.unique(y)
    colours = _class_colours(len(classes))
    for colour, c in zip(colours, classes):
        name = class_names[c] if class_names is not None and c < len(class_names) else str(c)
        ax.scatter(xy[y == c, 0], xy[y == c, 1], color=colour, s=6, label=name)
    if class_names is not None and len(classes) <= 30:
        ax.legend(fontsize=6, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"t-SNE of {len(x)} test embeddings")
    return _save(fig, path)
