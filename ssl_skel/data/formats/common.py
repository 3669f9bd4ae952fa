"""Helpers shared by the converters: the output folder policy, staged output, one validation of
everything a converter publishes, safe file reading, parallel map with progress, bad-file summary
(pickles: `pickles.py`).

Why staged output: a converter writes a complete dataset into `<out>/.staging`, checks all of
it (`validate_dataset`), and only then swaps it in: the old files move to `<out>/.replaced`,
the new ones in, manifest last, and on any error the old ones move back. A crash or an error
never leaves a half-written file where a good one was, and a folder with a manifest is always
complete. A folder that is neither empty nor an ssl_skel dataset is refused, so a user's files
are never overwritten.
"""

from __future__ import annotations

import fnmatch
import itertools
import logging
import multiprocessing
import os
import shutil
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ssl_skel.core.io import remove_stray_temporaries
from ssl_skel.core.memory import keep_freed_memory
from ssl_skel.core.progress import Progress
from ssl_skel.data import layouts
from ssl_skel.data.storage import PARTS, DataFormatError, DataWriter, read_manifest

log = logging.getLogger(__name__)

STAGING = ".staging"
REPLACED = ".replaced"  # the previous dataset while a new one is swapped in
OUTPUT_FILES = ("data.npy", "labels.npy", "num_frames.npy", "names.txt")
# what converters may leave in `out` before their first manifest (a new converter's cache folder goes here)
OURS = (STAGING, REPLACED, ".cache", ".arrays_cache", ".penn_clips_", ".sbu_clips_")
MAX_COORDINATE = 1e5  # |x| above this is no skeleton coordinate (metres, pixels or millimetres)
MAX_CLASSES = 100_000  # a label at or above this is a corrupt file, not a class

T = TypeVar("T")
R = TypeVar("R")


# --------------------------------------------------------------------------- the output folder
def check_out(out: str | Path) -> Path:
    """Make `out` safe to convert into, or refuse it (DataFormatError, one line).

    Accepted: a missing or empty folder, an ssl_skel dataset (manifest present), or what an
    unfinished conversion left (.staging, .cache, .replaced, temporaries). Anything else is the
    user's and is never touched. Also finishes what a killed run left: a dataset moved aside to
    `.replaced` without its successor is moved back, stray temporaries are removed.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataFormatError(f"{out}: --out is a file, not a folder")
    if not out.exists():
        return out
    replaced = out / REPLACED
    if (replaced / "manifest.json").exists() and not (out / "manifest.json").exists():
        _move_back(out, replaced)
        log.warning("%s: restored the previous dataset that an interrupted conversion had moved aside", out)
    if not (out / "manifest.json").exists():
        foreign = sorted(p.name for p in out.iterdir() if not _is_ours(p))
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" (+{len(foreign) - 3} more)" if len(foreign) > 3 else "")
            raise DataFormatError(
                f"{out}: not empty and not an ssl_skel dataset (holds {shown}); choose a new or empty folder"
            )
    else:
        try:
            read_manifest(out)
        except DataFormatError as exc:
            raise DataFormatError(f"{exc}; not overwriting it, choose a new or empty folder") from None
    shutil.rmtree(replaced, ignore_errors=True)
    shutil.rmtree(out / STAGING, ignore_errors=True)
    remove_stray_temporaries(out)
    return out


def _is_ours(path: Path) -> bool:
    return path.name in OURS or path.name.startswith(tuple(o for o in OURS if o.endswith("_"))) or _is_temporary(path)


def _is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file()


def _entries(root: Path) -> list[str]:
    return [name for name in (*OUTPUT_FILES, "splits") if (root / name).exists()]


def _move_back(out: Path, replaced: Path) -> None:
    """Put a dataset that was moved aside to `replaced` back into `out` (manifest last)."""
    (out / "manifest.json").unlink(missing_ok=True)
    for name in _entries(replaced):
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(replaced / name, target)
    os.replace(replaced / "manifest.json", out / "manifest.json")
    shutil.rmtree(replaced, ignore_errors=True)


def staged_writer(out: str | Path, num_samples: int, shape: Sequence[int], *, sequential: bool = False) -> DataWriter:
    """A DataWriter that fills `<out>/.staging`; call `publish(out)` after its `finish`."""
    out = check_out(out)
    return DataWriter(out / STAGING, num_samples, shape, remove_on_error=True, sequential=sequential)


def publish(out: str | Path, *, rows_checked: bool = False) -> Path:
    """Check the finished `<out>/.staging` dataset, then swap it in for the old one (see module doc).

    Nothing in `out` is touched before the whole staged dataset has passed `validate_dataset`;
    on any error during the swap the old dataset is moved back, byte for byte. rows_checked: the
    converter ran `check_rows` on every row as it wrote it, so the coordinates are not read again.
    """
    out = Path(out)
    staging, replaced = out / STAGING, out / REPLACED
    try:
        validate_dataset(staging, rows_checked=rows_checked)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(replaced, ignore_errors=True)
    had_old = (out / "manifest.json").exists()
    try:
        if had_old:
            replaced.mkdir()
            os.replace(out / "manifest.json", replaced / "manifest.json")  # first out: `out` is now unfinished
            for name in _entries(out):
                os.replace(out / name, replaced / name)
        for name in (*OUTPUT_FILES, "splits"):
            os.replace(staging / name, out / name)
        os.replace(staging / "manifest.json", out / "manifest.json")
    except BaseException:
        if had_old and (replaced / "manifest.json").exists():
            _move_back(out, replaced)
        shutil.rmtree(replaced, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(replaced, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- validation
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


# --------------------------------------------------------------------------- reading input files
def find_files(root: str | Path, pattern: str) -> list[Path]:
    """Files whose name matches `pattern` under `root`, recursively, sorted by path components; an
    unreadable folder is an error. Names are matched and sorted as strings (Path objects are slow
    to sort by the tens of thousands)."""
    root = Path(root)

    def refuse(exc: OSError) -> None:
        raise DataFormatError(f"{exc.filename}: cannot read this folder ({exc.strerror}); fix its permissions")

    found: list[tuple[tuple[str, ...], str]] = []
    for folder, dirs, files in os.walk(root, onerror=refuse):
        dirs.sort()
        parts = tuple(Path(folder).parts)
        found += [((*parts, f), os.path.join(folder, f)) for f in fnmatch.filter(files, pattern)]
    found.sort()
    return [Path(path) for _, path in found]


def check_regular(path: str | Path) -> Path:
    """DataFormatError unless `path` is a regular file (a FIFO would block, a device never end)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise DataFormatError(f"{path}: not a regular file (a pipe, device or folder); refused")
    return path


# --------------------------------------------------------------------------- running converters
def parallel_map(
    fn: Callable[[T], R], jobs: Sequence[T], workers: int, desc: str, progress: bool = True, *, ordered: bool = False
) -> Iterator[R]:
    """Map `fn` over `jobs` in `workers` processes (in-process when 1), with progress (core.progress).

    Unordered by default (results as they finish). ordered=True: results in job order, with at most
    a few chunks per worker in flight, so a consumer that writes results out in order holds a
    bounded number of them however many jobs there are (Pool.imap would queue them all).
    Worker processes keep freed memory for reuse (core.memory): a converter's per-file arrays
    are allocated and freed thousands of times, and fresh pages cost a fault each.
    """
    bar = Progress(total=len(jobs), desc=desc, unit="file", enabled=progress, leave=True)
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                yield fn(job)
                bar.update()
            return
        chunk = max(1, min(32, len(jobs) // (workers * 8) or 1))
        with multiprocessing.get_context().Pool(workers, initializer=keep_freed_memory) as pool:
            if not ordered:
                for result in pool.imap_unordered(fn, jobs, chunksize=chunk):
                    yield result
                    bar.update()
                return
            starts = iter(range(0, len(jobs), chunk))
            pending: deque = deque()
            for start in itertools.islice(starts, 4 * workers):
                pending.append(pool.apply_async(_map_chunk, (fn, jobs[start : start + chunk])))
            while pending:
                results = pending.popleft().get()
                for start in itertools.islice(starts, 1):
                    pending.append(pool.apply_async(_map_chunk, (fn, jobs[start : start + chunk])))
                for result in results:
                    yield result
                    bar.update()
    finally:
        bar.close()


def _map_chunk(fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
    return [fn(job) for job in jobs]


def report_bad(bad: Mapping[str, str], total: int, skip_bad: bool, what: str, hint: str = "") -> None:
    """Log each bad input; raise one summary DataFormatError unless `skip_bad`."""
    for _, reason in sorted(bad.items()):
        log.error("bad %s: %s", what, reason)
    if bad and not skip_bad:
        first = sorted(bad.items())[0][1]
        raise DataFormatError(
            f"{len(bad)} of {total} {what}s could not be read (first: {first}); no output was written. "
            f"Fix or remove them, or pass --skip-bad to convert the rest{hint}"
        )
    if bad:
        log.warning("skipped %d bad %s(s) of %d (--skip-bad)", len(bad), what, total)


def iter_chunks(n: int, size: int) -> Iterable[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def layout_for_joints(num_joints: int, where: str = "", dims: int | None = None) -> str:
    """The only built-in layout with `num_joints` joints (of `dims` coordinates); DataFormatError naming `where`
    when none or several fit (no silent guesses: see layouts.choose_layout)."""
    try:
        return layouts.layout_for_joints(num_joints, where, dims)
    except ValueError as exc:
        raise DataFormatError(str(exc)) from None
