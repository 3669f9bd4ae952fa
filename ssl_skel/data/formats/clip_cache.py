"""The path shared by readers of one raw file per clip (Penn Action, SBU): cache clips, write a table.

Each raw file is read once into `<folder>/<clip>.npy` (kept for the next run), and a table
(`table.csv`: a `clip` column, then the reader's columns, e.g. label and split or fold) is written
beside the clips; the reader then hands the folder and the table to `convert_arrays`, which
normalises, checks, splits and writes them like any user's clips. A file that cannot be read is
reported with the others (`known_bad`), not raised.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssl_skel.core.io import atomic_save_npy
from ssl_skel.data.formats.common import parallel_map
from ssl_skel.data.storage import DataFormatError

# a raw file -> (clip (T, V, C) or (M, T, V, C), table columns read from the file); DataFormatError if unreadable
Reader = Callable[[str], tuple[np.ndarray, Mapping[str, Any]]]


@dataclass(frozen=True)
class RawClip:
    """One raw file and what is known of it without reading it."""

    name: str  # the clip's name in the table
    path: str
    row: Mapping[str, Any] | None = None  # table columns known from the path (then a cached clip is not read again)
    error: str | None = None  # why it is not part of the dataset (known before reading)


@dataclass(frozen=True)
class ClipTable:
    """Where the clips and their table go, and how a raw file is read."""

    folder: Path  # e.g. <out>/.penn_clips_fill: one folder per reading variant
    columns: tuple[str, ...]  # table columns after `clip`
    read: Reader  # picklable (a module-level function or a functools.partial of one): workers call it
    desc: str  # progress bar label


def cache_clips(
    spec: ClipTable, clips: Sequence[RawClip], workers: int = 1, progress: bool = True
) -> tuple[Path, dict[str, str]]:
    """Read (or reuse) every clip's array and write the table, rows in the order of `clips`.

    Returns (the table, unreadable clips: name -> reason) for `convert_arrays(spec.folder, out, table=...,
    known_bad=...)`.
    """
    spec.folder.mkdir(parents=True, exist_ok=True)
    unreadable = {c.name: c.error for c in clips if c.error}
    jobs = [(c, str(spec.folder / f"{c.name}.npy"), spec.read) for c in clips if not c.error]
    rows: dict[str, dict[str, Any]] = {}
    for name, row, error in parallel_map(_cache_one, jobs, workers, spec.desc, progress):
        if error:
            unreadable[name] = error
        else:
            rows[name] = row
    table = spec.folder / "table.csv"
    with open(table, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["clip", *spec.columns])
        writer.writeheader()
        writer.writerows({"clip": c.name, **rows[c.name]} for c in clips if c.name in rows)
    return table, unreadable


def _cache_one(job: tuple[RawClip, str, Reader]) -> tuple[str, dict[str, Any] | None, str | None]:
    """Worker: one raw file -> its cached array; (name, table row, None) or (name, None, reason)."""
    clip, npy, read = job
    if clip.row is not None and Path(npy).exists():
        return clip.name, dict(clip.row), None
    try:
        array, row = read(clip.path)
    except DataFormatError as exc:
        return clip.name, None, str(exc)
    if not Path(npy).exists():
        atomic_save_npy(Path(npy), array)
    return clip.name, {**row, **(clip.row or {})}, None
