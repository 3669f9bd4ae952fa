"""A run folder's guard: one run at a time (whether it may resume: `ssl_skel.engine.resume`).

Why: two runs writing the same `run_dir` interleave their checkpoints (one resumes from the
other's `last.pt`). `claim_run_dir` takes an exclusive lock (`flock` on `run_dir/.lock`: the
kernel drops it when its process dies, so a lock left by a killed run is simply taken over)
and removes the temporaries a killed or failed write left.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ssl_skel.core.config import ConfigError
from ssl_skel.core.io import remove_stray_temporaries

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, the rest still applies
    fcntl = None

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class RunDirLock:
    """An exclusive lock on a run folder; `release()` (idempotent) gives it back."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def claim_run_dir(run_dir: str | Path, *, lock: bool = True) -> RunDirLock | None:
    """Create `run_dir` if needed and lock it for this run; ConfigError (one line) if another live run holds it."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run_dir {run_dir}: is a file, not a folder")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"run_dir {run_dir}: cannot create it ({exc.strerror or exc})") from None
    if not lock or fcntl is None:
        return None
    path = run_dir / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"run_dir {run_dir}: another run (pid {holder}) is using this folder; wait for it to end "
                "or choose another run_dir"
            ) from None
        try:  # the holder before us may have removed the file between our open and our lock
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    for stray in remove_stray_temporaries(run_dir):
        log.info("removed %s (left by an interrupted write)", stray)
    return RunDirLock(path, fd)
