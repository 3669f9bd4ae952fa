"""Training curves as a PNG: one panel per logged scalar, against the epoch."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence


def plot_history(history: Sequence[dict], path: str | Path, skip: Sequence[str] = ("epoch",)) -> Path | None:
    """history: per-epoch dicts of floats (FitResult.history). Returns the file, or None if empty."""
    if not history:
        return None
    from matplotlib.figure import Figure  # no pyplot: no global backend state, no display needed

    names = [k for k in history[0] if k not in skip and isinstance(history[0][k], (int, float))]
    if not names:
        return None
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(4 * cols, 3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names):
        ax.plot(epochs, [h.get(name, float("nan")) for h in history], marker="o", markersize=3)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    return path
