"""Semi-supervised protocol: fine-tune with 1% or 10% of the training labels.

Subsets are class-balanced and seeded (as in CrosSCLR / AimCLR / CMD, which take a
fixed fraction of each class): class c with n_c training clips contributes
max(1, round(fraction * n_c)) clips chosen by `default_rng(seed)`, so two runs with one
seed train on the same clips whatever else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelFraction:
    """The labelled part of a semi-supervised run: `percent` of every class, chosen with `seed`."""

    percent: float = 1.0  # 1 or 10 in papers
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.percent <= 100:
            raise ValueError(f"label percent must be in (0, 100], got {self.percent:g}")

    @property
    def tag(self) -> str:
        """The protocol's name: semi1, semi10 (results.json and the output folder)."""
        return f"semi{self.percent:g}"

    def rows(self, labels: np.ndarray) -> np.ndarray:
        """Sorted train rows of the labelled part."""
        return balanced_subset(labels, self.percent / 100.0, self.seed)


def balanced_subset(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted row indices holding `fraction` of every class (at least one clip each)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-d array, got shape {labels.shape}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n = min(len(members), max(1, int(round(fraction * len(members)))))
        rows.append(rng.choice(members, n, replace=False))
    return np.sort(np.concatenate(rows))
