"""One writer per folder: an exclusive lock file that dies with its process.

Why: two jobs writing the same folder (two pretrainings in one run_dir, two conversions into one
`--out`) interleave their files and each reports success. `lock_file` takes an exclusive `flock`
on a file in the folder and writes the holder's pid into it. The kernel drops the lock when the
process dies, so the file a killed job left is simply taken over; `release()` removes it. Callers
turn `FolderInUse` into their own one-line error (the run folder's, the dataset folder's).
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock
    fcntl = None


class FolderInUse(Exception):
    """Another live process holds the lock; `holder` is its pid as it wrote it (or "unknown")."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path}: held by pid {holder}")
        self.path, self.holder = path, holder


class FileLock:
    """An exclusive lock on `path`; `release()` (idempotent) removes the file and gives the lock back."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self.fd = path, fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def locking_supported() -> bool:
    return fcntl is not None


def lock_file(path: str | Path) -> FileLock:
    """Lock `path` (created if missing) for this process; FolderInUse when another live process holds it.

    OSError (read-only folder, no permission) propagates for the caller to word. Without flock (not
    POSIX) a FileLock that holds nothing is returned.
    """
    path = Path(path)
    if fcntl is None:  # pragma: no cover
        return FileLock(path, None)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderInUse(path, holder) from None
        try:  # the holder before us may have removed the file between our open and our lock
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return FileLock(path, fd)
