"""Helpers shared by the converters: staged output, parallel map with progress, bad-file summary.

Why staged output: a converter writes a complete dataset into `<out>/.staging` and only then
moves each finished file over the old one (manifest last), so a crash or an error never leaves
a half-written file where a good one was, and a folder with a manifest is always complete.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from tqdm import tqdm

from ssl_skel.data import layouts
from ssl_skel.data.storage import DataFormatError, DataWriter

log = logging.getLogger(__name__)

STAGING = ".staging"
OUTPUT_FILES = ("data.npy", "labels.npy", "num_frames.npy", "names.txt")

T = TypeVar("T")
R = TypeVar("R")


def staged_writer(out: str | Path, num_samples: int, shape: Sequence[int]) -> DataWriter:
    """A DataWriter that fills `<out>/.staging`; call `publish(out)` after its `finish`."""
    staging = Path(out) / STAGING
    if staging.exists():
        shutil.rmtree(staging)
    return DataWriter(staging, num_samples, shape)


def publish(out: str | Path) -> Path:
    """Move a finished `<out>/.staging` dataset into `out`, replacing files one by one, manifest last."""
    out = Path(out)
    staging = out / STAGING
    if not (staging / "manifest.json").exists():
        raise DataFormatError(f"{staging}: no finished dataset to publish")
    (out / "manifest.json").unlink(missing_ok=True)
    for name in OUTPUT_FILES:
        os.replace(staging / name, out / name)
    if (out / "splits").exists():
        shutil.rmtree(out / "splits")
    os.replace(staging / "splits", out / "splits")
    os.replace(staging / "manifest.json", out / "manifest.json")
    shutil.rmtree(staging, ignore_errors=True)
    return out


def parallel_map(fn: Callable[[T], R], jobs: Sequence[T], workers: int, desc: str, progress: bool = True) -> Iterator[R]:
    """Map `fn` over `jobs` in `workers` processes (in-process when 1), unordered, with a tqdm bar."""
    bar = tqdm(total=len(jobs), desc=desc, unit="file", disable=not progress, dynamic_ncols=True)
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                yield fn(job)
                bar.update()
            return
        chunk = max(1, min(32, len(jobs) // (workers * 8) or 1))
        with multiprocessing.get_context().Pool(workers) as pool:
            for result in pool.imap_unordered(fn, jobs, chunksize=chunk):
                yield result
                bar.update()
    finally:
        bar.close()


def report_bad(bad: Mapping[str, str], total: int, skip_bad: bool, what: str, hint: str = "") -> None:
    """Log each bad input; raise one summary DataFormatError unless `skip_bad`."""
    for name, reason in sorted(bad.items()):
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


def load_pickle(path: str | Path) -> Any:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except FileNotFoundError:
        raise DataFormatError(f"{path}: file not found") from None
    except UnicodeDecodeError:  # python-2 pickles of numpy arrays
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from None
