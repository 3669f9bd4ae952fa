"""Validation splits carved from a training split: the only data that may choose settings.

Why one helper: every choice (a preset's epochs and learning rate, a benchmark's
augmentation, the online KNN monitor, a probe's epochs) is made on held-out *training*
clips, and the test split is touched once at the end. Two ways to hold out:

- by class (stratified): `fraction` of each class's clips, drawn with `seed`;
- by group: whole groups (subjects, a camera view for cross-view protocols, or an actor-pair
  set for SBU's cross-validation by set) leave the training rows, so the validation score
  measures generalisation to unseen people or an unseen view, as the test split will.

Group keys come from clip names (NTU-style `S001C002P003R004A005` / the synthetic
`S001C002A003R0004`, NW-UCLA-style `a01_s02_e03_v04`, SBU-style `s01s02_03_001` whose
leading `s01s02` is the set), so no dataset needs extra files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ssl_skel.data.storage import DataFormatError, SkeletonArrays

if TYPE_CHECKING:
    from ssl_skel.core.config import EvalConfig

BY = ("class", "subject", "view", "set")
_PATTERNS = {
    "subject": (re.compile(r"S(\d{3})"), re.compile(r"_s(\d+)")),
    "view": (re.compile(r"C(\d{3})"), re.compile(r"_v(\d+)")),
    "set": (re.compile(r"^(s\d{2}s\d{2})(?:_|$)"),),  # SBU: the actor pair, kept as written (s01s02 != s02s01)
}


@dataclass(frozen=True)
class ValSplit:
    """Rows (positions within the training split) for fitting and for validation, and how they were drawn."""

    train: np.ndarray
    val: np.ndarray
    by: str
    fraction: float
    seed: int
    groups: tuple[str, ...] = ()  # the held-out groups when by != "class"

    def describe(self) -> dict:
        """What results files record: enough to redraw the split."""
        out = {"by": self.by, "seed": self.seed, "train_clips": len(self.train), "val_clips": len(self.val)}
        if self.by == "class":
            out["fraction"] = self.fraction
        else:
            out["held_out"] = list(self.groups)
        return out


def stratified_rows(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, val rows): round(fraction * n_c) clips of each class c held out (none when that
    rounds to 0 or to all of the class); seeded."""
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        n = int(round(fraction * len(rows)))
        if n and n < len(rows):
            val.append(rng.choice(rows, n, replace=False))
    val_rows = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    return np.setdiff1d(np.arange(len(labels)), val_rows), val_rows


def group_keys(names: Sequence[str], by: str) -> np.ndarray:
    """The subject, view or set of each clip name as a string key; DataFormatError names a clip that has none."""
    if by not in _PATTERNS:
        raise ValueError(f"group must be one of {tuple(_PATTERNS)}, got {by!r}")
    keys = []
    for name in names:
        found = next((m for p in _PATTERNS[by] if (m := p.search(name))), None)
        if found is None:
            raise DataFormatError(
                f"clip name {name!r} carries no {by} (expected S001.../C001..., _s01/_v01 or an SBU set s01s02_...)"
            )
        keys.append(found.group(1) if by == "set" else f"{by}{int(found.group(1))}")
    return np.asarray(keys)


def validation_split(
    labels: np.ndarray,
    *,
    by: str = "class",
    fraction: float = 0.2,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> ValSplit:
    """Hold out part of a training split (positions 0..N-1), by class or by subject/view/set group.

    by="class": stratified, `fraction` of each class. by="subject"/"view"/"set": whole groups,
    drawn with `seed` until at least `fraction` of the clips are held out (always at least
    one group, never all of them); `names` (one per clip) give the groups.
    """
    labels = np.asarray(labels)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    if by not in BY:
        raise ValueError(f"validation split by must be one of {BY}, got {by!r}")
    if by == "class":
        fit, val = stratified_rows(labels, fraction, seed)
        return ValSplit(fit, val, by, fraction, seed)
    if names is None or len(names) != len(labels):
        raise ValueError(f"a split by {by} needs one clip name per label")
    keys = group_keys(names, by)
    unique = np.unique(keys)
    if len(unique) < 2:
        raise DataFormatError(f"a split by {by} needs two or more {by}s in the training split, found {len(unique)}")
    order = np.random.default_rng(seed).permutation(unique)
    held, count = [], 0
    for key in order[:-1]:
        held.append(str(key))
        count += int(np.sum(keys == key))
        if count >= fraction * len(keys):
            break
    mask = np.isin(keys, held)
    return ValSplit(np.flatnonzero(~mask), np.flatnonzero(mask), by, fraction, seed, tuple(sorted(held)))


def split_arrays(arrays: SkeletonArrays, split: ValSplit) -> tuple[SkeletonArrays, SkeletonArrays]:
    """A training split's arrays as (fit part, validation part): the same memory map, fewer rows."""
    return replace(arrays, indices=arrays.indices[split.train]), replace(arrays, indices=arrays.indices[split.val])


def monitor_split_of(arrays: SkeletonArrays, ev: EvalConfig, seed: int) -> ValSplit:
    """The validation split the online monitor holds out (`eval.monitor_split` / `monitor_fraction`): one
    definition for the monitor and for a pretraining that leaves it out (`eval.monitor_unseen`)."""
    return split_of(arrays, by=ev.monitor_split, fraction=ev.monitor_fraction, seed=seed)


def split_of(arrays: SkeletonArrays, *, by: str = "class", fraction: float = 0.2, seed: int = 0) -> ValSplit:
    """`validation_split` of a training split's arrays (labels and names read from them)."""
    names = [arrays.names[int(r)] for r in arrays.indices] if by != "class" else None
    return validation_split(arrays.split_labels, by=by, fraction=fraction, seed=seed, names=names)
