"""The output folder of a conversion: what may be converted into, staged output, the swap, one writer at a time.

Why staged output: a converter writes a complete dataset into `<out>/.staging`, checks all of
it (`validate_dataset`), and only then swaps it in: the old files move to `<out>/.replaced`,
the new ones in, manifest last, and on any error the old ones move back. A crash or an error
never leaves a half-written file where a good one was, and a folder with a manifest is always
complete. A folder that is neither empty nor an ssl_skel dataset is refused, so a user's files
are never overwritten; `.staging` and `.replaced` carry a marker file (OWNED_MARK) and are removed
only when it is there, so a user's folder of that name is refused, never deleted. One conversion
at a time writes a folder (`conversion_lock`, `locks_output`): a second is refused with one line.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ssl_skel.core.io import OutputPathError, make_folder, remove_stray_temporaries
from ssl_skel.core.locks import FolderInUse, lock_file
from ssl_skel.data.formats.validation import validate_dataset
from ssl_skel.data.storage import (
    CONVERSION_LOCK,
    OUTPUT_FILES,
    OWNED_MARK,
    REPLACED,
    STAGING,
    DataFormatError,
    DataWriter,
    is_owned,
    read_manifest,
    remove_owned,
    restore_replaced,
)

log = logging.getLogger(__name__)

# what converters may leave in `out` before their first manifest (a new converter's cache folder goes here)
OURS = (STAGING, REPLACED, CONVERSION_LOCK, ".cache", ".arrays_cache", ".penn_clips_", ".sbu_clips_")

R = TypeVar("R")
NEW_SUFFIX = ".new"  # `<.staging|.replaced>.<pid>.new`: an owned folder being made (`_make_owned`)


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
    for folder in (out / STAGING, replaced):
        _check_owned(folder)
    if restore_replaced(out):
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
    remove_owned(replaced)
    remove_owned(out / STAGING)
    _remove_half_made(out)
    remove_stray_temporaries(out)
    return out


def _check_owned(folder: Path) -> None:
    """DataFormatError when `folder` (a STAGING or REPLACED name) exists without the toolkit's marker."""
    if (folder.exists() or folder.is_symlink()) and not is_owned(folder):
        raise DataFormatError(
            f"{folder}: not made by ssl_skel (no {OWNED_MARK} inside), so it is not removed; "
            "move it away or choose another --out"
        )


def _make_owned(folder: Path) -> None:
    """Create `folder` (which must not exist) with the marker that lets a later run remove it: made under a
    temporary name and renamed, so a kill or Ctrl-C never leaves the folder without its marker."""
    new = folder.with_name(f"{folder.name}.{os.getpid()}{NEW_SUFFIX}")
    _remove_if_half_made(new)  # a leftover of a killed process with the same pid
    new.mkdir()
    (new / OWNED_MARK).write_bytes(b"made by ssl_skel during a conversion; removed when it ends\n")
    os.rename(new, folder)


def _remove_half_made(out: Path) -> None:
    """Remove what a `_make_owned` killed before its rename left: empty or marker-only `.staging.<pid>.new`."""
    for name in (STAGING, REPLACED):
        for new in out.glob(f"{name}.*{NEW_SUFFIX}"):
            _remove_if_half_made(new)


def _remove_if_half_made(new: Path) -> None:
    if new.is_dir() and not new.is_symlink() and {p.name for p in new.iterdir()} <= {OWNED_MARK}:
        (new / OWNED_MARK).unlink(missing_ok=True)
        new.rmdir()


def _is_ours(path: Path) -> bool:
    half_made = path.name.startswith((f"{STAGING}.", f"{REPLACED}.")) and path.name.endswith(NEW_SUFFIX)
    return (
        path.name in OURS
        or path.name.startswith(tuple(o for o in OURS if o.endswith("_")))
        or half_made
        or _is_temporary(path)
    )


def _is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file()


def _entries(root: Path) -> list[str]:
    return [name for name in (*OUTPUT_FILES, "splits") if (root / name).exists()]


def staged_writer(out: str | Path, num_samples: int, shape: Sequence[int], *, sequential: bool = False) -> DataWriter:
    """A DataWriter that fills `<out>/.staging` (made here, with its marker); call `publish(out)` after its
    `finish`."""
    out = check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    _make_owned(out / STAGING)
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
        remove_owned(staging)
        raise
    _check_owned(replaced)
    remove_owned(replaced)
    _remove_half_made(out)
    had_old = (out / "manifest.json").exists()
    try:
        if had_old:
            _make_owned(replaced)
            os.replace(out / "manifest.json", replaced / "manifest.json")  # first out: `out` is now unfinished
            for name in _entries(out):
                os.replace(out / name, replaced / name)
        for name in (*OUTPUT_FILES, "splits"):
            os.replace(staging / name, out / name)
        os.replace(staging / "manifest.json", out / "manifest.json")
    except BaseException:
        if had_old and (replaced / "manifest.json").exists():
            (out / "manifest.json").unlink(missing_ok=True)  # the new one, if the error came after it
            restore_replaced(out)
        remove_owned(replaced)
        remove_owned(staging)
        raise
    remove_owned(replaced)
    remove_owned(staging)
    return out


# --------------------------------------------------------------------------- one conversion at a time
_held: dict[tuple[str, int], int] = {}  # (real path of out, thread) -> nesting depth of conversion_lock


@contextlib.contextmanager
def conversion_lock(out: str | Path) -> Iterator[Path]:
    """Hold `<out>/.ssl_skel.lock` while converting into `out` (created if missing, removed again if it stays
    empty); DataFormatError (one line) when another conversion holds it or `out` cannot be written.

    Re-entrant within a thread: readers built on another converter (penn and sbu on arrays) lock once.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataFormatError(f"{out}: --out is a file, not a folder")
    try:
        created = make_folder(out, "--out folder")
    except OutputPathError as exc:
        raise DataFormatError(str(exc)) from None
    key = (os.path.realpath(out), threading.get_ident())
    if key in _held:
        _held[key] += 1
        try:
            yield out
        finally:
            _held[key] -= 1
        return
    try:
        lock = lock_file(out / CONVERSION_LOCK)
    except FolderInUse as exc:
        raise DataFormatError(
            f"{out}: another conversion (pid {exc.holder}) is writing this folder; wait for it to end or "
            "choose another --out"
        ) from None
    except OSError as exc:
        raise DataFormatError(f"{out}: cannot write in the output folder ({exc.strerror or exc})") from None
    _held[key] = 1
    try:
        yield out
    finally:
        del _held[key]
        lock.release()
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if nothing was written


def locks_output(convert: Callable[..., R]) -> Callable[..., R]:
    """Decorate a converter `convert(raw, out, options=None, **overrides)`: it runs under `conversion_lock(out)`."""
    signature = inspect.signature(convert)

    @functools.wraps(convert)
    def locked(*args: Any, **kwargs: Any) -> R:
        with conversion_lock(signature.bind(*args, **kwargs).arguments["out"]):
            return convert(*args, **kwargs)

    return locked
