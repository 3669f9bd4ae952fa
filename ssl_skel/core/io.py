"""The one atomic write: temporary file beside the target, fsync, rename.

Why: a job killed while writing (a conversion, a checkpoint, a results file) must leave
the previous file readable. Files are written to a temporary name in the same folder,
fsynced, given normal permissions, then renamed over the target (rename is atomic on
POSIX); on any error the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

FULL_ERRNOS = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


class DiskFullError(OSError):
    """No space left (or quota/file-size limit hit) while writing a named file: a user error, one line."""


class OutputPathError(Exception):
    """An output folder that cannot be made or written (below a file, read-only, no permission): a user error."""


def make_folder(path: str | Path, what: str = "output folder") -> bool:
    """Create `path` (and its parents) unless it is a folder already; True when it was created.

    OutputPathError (one line naming the path) when it or a folder above it is a file, or the file
    system refuses (read-only, no permission, a name too long).
    """
    path = Path(path)
    if path.is_dir():
        return False
    if path.exists() or path.is_symlink():
        raise OutputPathError(f"{short_path(path)}: is a file, not a folder; choose a folder for the {what}")
    above = next((p for p in path.parents if p.exists() or p.is_symlink()), None)
    if above is not None and not above.is_dir():
        raise OutputPathError(
            f"{short_path(path)}: cannot make the {what}: {short_path(above)} is a file, not a folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"{short_path(path)}: cannot make the {what} ({exc.strerror or exc})") from None
    return True


def output_folder(path: str | Path, what: str = "output folder") -> Path:
    """`make_folder`, then check a file can be written in it (a read-only mount or a folder without write
    permission fails here, with one line, not at the first result file)."""
    path = Path(path)
    make_folder(path, what)
    probe = path / f".write-test.{os.getpid()}.tmp"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(f"{short_path(path)}: cannot write in the {what} ({exc.strerror or exc})") from None
    return path


def short_path(path: str | bytes | Path, keep: int = 200) -> str:
    """A path for a message: a very long one (a 900 KB name) is cut in the middle."""
    text = os.fsdecode(path)
    if len(text) <= keep:
        return text
    return f"{text[: keep // 2]}...({len(text) - keep} characters)...{text[-keep // 2 :]}"


def disk_full(exc: BaseException, path: str | Path) -> DiskFullError | None:
    """A DiskFullError naming `path` when `exc` (or what caused it) is a disk-full error, else None."""
    seen = exc
    while seen is not None:
        if isinstance(seen, DiskFullError):
            return seen
        if isinstance(seen, OSError) and seen.errno in FULL_ERRNOS:
            return DiskFullError(seen.errno, f"{path}: no space left on the device ({os.strerror(seen.errno)})")
        seen = seen.__cause__ or seen.__context__
    return None


@contextlib.contextmanager
def atomic_file(path: str | Path, *, sync: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file beside `path` for writing; on success fsync it and rename it over
    `path`, on any error remove it. Readers never see a half-written file.

    sync=False skips the fsync: still atomic for every reader, but after a power cut the file may
    be empty or garbled; only for files whose reader detects that and recomputes them (caches)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        full = disk_full(exc, path)
        if full is not None and full is not exc:
            raise full from None
        raise


_serial = itertools.count()


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file `.<name>.<pid>.<n>.tmp` beside `path`, normal permissions (0666 less the umask).

    Unique within the process by the counter and across processes by the pid; O_EXCL refuses a
    leftover of a killed run with the same name (the next counter value is tried). Cheaper than
    mkstemp's random names plus a chmod, which counts when a converter writes one file per sample.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{os.getpid()}.{next(_serial)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
    return fd, tmp


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(payload)


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_file(path) as fh:
        np.save(fh, array)


def copy_atomic(src: str | Path, dst: str | Path) -> None:
    """Copy `src` to `dst` through the atomic write (a checkpoint's periodic snapshot)."""
    with open(src, "rb") as source, atomic_file(dst) as fh:
        shutil.copyfileobj(source, fh, length=16 << 20)


def remove_stray_temporaries(folder: str | Path, patterns: tuple[str, ...] = (".*.tmp",)) -> list[Path]:
    """Delete temporaries an earlier killed or failed write left in `folder` (not recursive); returns them."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for pattern in patterns:
            for stray in folder.glob(pattern):
                if stray.is_file() and not stray.is_symlink():
                    stray.unlink(missing_ok=True)
                    removed.append(stray)
    return removed


def fsync_dir(folder: str | Path) -> None:
    """Make a rename inside `folder` durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
