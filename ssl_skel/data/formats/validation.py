"""One check of everything a converter publishes: coordinates finite and plausible, labels integers in range,
splits in range and disjoint (`validate_dataset`), also row by row as a writer goes (`check_rows`).

Why one module: every converter's output passes `validate_dataset` before it is published
(`formats.output.publish`), so a new converter cannot forget a check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ssl_skel.data.prepare import MAX_COORDINATE
from ssl_skel.data.storage import PARTS, DataFormatError, read_manifest

log = logging.getLogger(__name__)

MAX_CLASSES = 100_000  # a label at or above this is a corrupt file, not a class


def check_coordinates(values: np.ndarray, where: str, *, allow_missing: bool = False) -> None:
    """DataFormatError naming `where` when coordinates are NaN/inf or absurdly large.

    allow_missing: NaN/inf pass (a reader whose `missing` option fills or rejects them later);
    the finite values must still be plausible.
    """
    values = np.asarray(values)
    if values.dtype.kind not in "fiu":
        raise DataFormatError(f"{where}: coordinates are {values.dtype}, not numbers")
    finite = np.isfinite(values) if values.dtype.kind == "f" else np.ones(values.shape, bool)
    if not allow_missing and not finite.all():
        raise DataFormatError(f"{where}: NaN/inf coordinates")
    largest = float(np.abs(np.where(finite, values, 0)).max()) if values.size else 0.0
    if largest > MAX_COORDINATE:
        raise DataFormatError(f"{where}: coordinate {largest:.3g} is not a plausible position")


def as_label(value: Any, where: str) -> int:
    """A class label as int: integers only (2.7 is an error, not 2), 0 <= label < MAX_CLASSES."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise DataFormatError(f"{where}: label {value!r} is not an integer")
    if isinstance(value, (float, np.floating)) and not float(value).is_integer():
        raise DataFormatError(f"{where}: label {value!r} is not an integer")
    label = int(value)
    if not 0 <= label < MAX_CLASSES:
        raise DataFormatError(f"{where}: label {label} is outside 0..{MAX_CLASSES - 1} (labels are 0-based)")
    return label


def as_labels(values: Any, where: str) -> np.ndarray:
    """`as_label` for a whole array -> (N,) int64."""
    arr = np.asarray(values).reshape(-1)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            raise DataFormatError(
                f"{where}: label {arr[np.argmax(bad)].item()!r} (entry {int(np.argmax(bad))}) is not an integer"
            )
    elif arr.dtype.kind not in "iu" and arr.size:
        raise DataFormatError(f"{where}: labels are {arr.dtype}, not integers")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= MAX_CLASSES):
        worst = int(arr.min()) if arr.min() < 0 else int(arr.max())
        raise DataFormatError(f"{where}: label {worst} is outside 0..{MAX_CLASSES - 1} (labels are 0-based)")
    return arr


def validate_dataset(root: str | Path, chunk: int = 256, *, rows_checked: bool = False) -> None:
    """Check a written dataset folder end to end; DataFormatError naming the file, split or sample.

    Every converter's output passes here before it is published: manifest, array shapes, labels
    (integers, 0 <= label < num_classes), valid lengths, split indices (in range, no repeats, train
    and test disjoint, at least one benchmark) and every coordinate (finite, plausible; skipped
    with rows_checked=True, when the writer ran `check_rows` on each row on its way to the file).
    """
    root = Path(root)
    manifest = read_manifest(root)
    try:
        data = np.load(root / "data.npy", mmap_mode="r")
        labels = np.load(root / "labels.npy")
        num_frames = np.load(root / "num_frames.npy")
        names = (root / "names.txt").read_text().splitlines()
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{root}: cannot read dataset files ({exc})") from None
    n = len(data)
    if tuple(data.shape) != tuple(manifest["shape"]) or data.ndim != 5:
        raise DataFormatError(f"{root}/data.npy: shape {data.shape} differs from manifest {manifest['shape']}")
    if not (len(labels) == len(num_frames) == len(names) == n) or n == 0:
        raise DataFormatError(
            f"{root}: {n} samples, {len(labels)} labels, {len(num_frames)} lengths, {len(names)} names"
        )
    labels = as_labels(labels, f"{root}/labels.npy")
    if labels.max() >= int(manifest["num_classes"]):
        raise DataFormatError(
            f"{root}: label {int(labels.max())} but the manifest says {manifest['num_classes']} classes"
        )
    if num_frames.min() < 0 or num_frames.max() > data.shape[2]:
        raise DataFormatError(f"{root}/num_frames.npy: valid lengths must be in 0..{data.shape[2]}")
    splits = manifest.get("splits") or {}
    if not splits:
        raise DataFormatError(f"{root}: no benchmark splits (a dataset needs at least one, e.g. xsub train/test)")
    for bench, parts in splits.items():
        rows: dict[str, np.ndarray] = {}
        for part in parts:
            if part not in PARTS:
                raise DataFormatError(f"{root}: split {bench}_{part}: part must be one of {PARTS}")
            idx = np.load(root / "splits" / f"{bench}_{part}.npy")
            where = f"{root}: split {bench} {part}"
            if idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n):
                raise DataFormatError(f"{where}: sample index outside 0..{n - 1}")
            if len(np.unique(idx)) != len(idx):
                raise DataFormatError(f"{where}: lists a sample more than once")
            if not len(idx):
                log.warning("%s is empty", where)
            rows[part] = idx
        if "train" in rows and "test" in rows:
            both = np.intersect1d(rows["train"], rows["test"])
            if both.size:
                raise DataFormatError(
                    f"{root}: split {bench}: {both.size} sample(s) are in both train and test (first: {names[both[0]]})"
                )
    if not rows_checked:
        _scan_rows(root, data, names, chunk)


def check_rows(root: str | Path, block: np.ndarray, first_row: int, names: Sequence[str]) -> None:
    """DataFormatError naming the first sample of `block` (rows first_row...) whose coordinates are NaN/inf or
    implausibly large, as validate_dataset words it. block: (k, ...) any float shape."""
    flat = block.reshape(len(block), -1)
    # NaN propagates through max and min, +-inf exceeds the bound: one test catches both
    ok = (flat.max(axis=1) <= MAX_COORDINATE) & (flat.min(axis=1) >= -MAX_COORDINATE)
    if not ok.all():
        first = int(np.flatnonzero(~ok)[0])
        row = first_row + first
        problem = "NaN/inf coordinates" if not np.isfinite(flat[first]).all() else "implausibly large coordinates"
        raise DataFormatError(f"{root}: sample {row} ({names[row]}) holds {problem}")


def _scan_rows(root: Path, data: np.ndarray, names: list[str], chunk: int) -> None:
    """Every sample's coordinates finite and plausible, reading data.npy once in chunks of rows.

    Read with plain file reads into one buffer, not through the memory map: mapped pages count in
    the process's resident memory, so a scan of a 10 GB file would raise it by 10 GB.
    """
    n = len(data)
    row_values = int(np.prod(data.shape[1:]))
    rows = max(1, min(chunk, (64 << 20) // max(1, row_values * data.dtype.itemsize)))
    buffer = np.empty((rows, row_values), data.dtype)
    plain = data.flags.c_contiguous and data.dtype.isnative and data.dtype.kind == "f"
    with open(data.filename, "rb", buffering=0) as fh:
        fh.seek(data.offset)
        for sl in iter_chunks(n, rows):
            block = buffer[: sl.stop - sl.start]
            if plain:
                _read_into(fh, block, f"{root}/data.npy")
            else:  # an unusual array (Fortran order, byte-swapped, integers): through the map
                block = np.asarray(data[sl], dtype=np.float64).reshape(len(block), -1)
            check_rows(root, block, sl.start, names)


def _read_into(fh: Any, block: np.ndarray, where: str) -> None:
    view = memoryview(block).cast("B")
    while view:
        got = fh.readinto(view)
        if not got:
            raise DataFormatError(f"{where}: ends before the shape in its header says (truncated)")
        view = view[got:]


def iter_chunks(n: int, size: int) -> Iterable[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
