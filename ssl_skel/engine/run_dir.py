"""A run folder's guard: one run at a time (whether it may resume: `ssl_skel.engine.resume`).

Why: two runs writing the same `run_dir` interleave their checkpoints (one resumes from the
other's `last.pt`). `claim_run_dir` takes an exclusive lock (`core.locks`, on `run_dir/.lock`:
the kernel drops it when its process dies, so a lock left by a killed run is simply taken
over) and removes the temporaries a killed or failed write left.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ssl_skel.core.config import ConfigError
from ssl_skel.core.io import remove_stray_temporaries
from ssl_skel.core.locks import FileLock, FolderInUse, lock_file, locking_supported

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
RunDirLock = FileLock  # the name callers know


def claim_run_dir(run_dir: str | Path, *, lock: bool = True) -> RunDirLock | None:
    """Create `run_dir` if needed and lock it for this run; ConfigError (one line) if another live run holds it."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run_dir {run_dir}: is a file, not a folder")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"run_dir {run_dir}: cannot create it ({exc.strerror or exc})") from None
    if not lock or not locking_supported():
        return None
    try:
        held = lock_file(run_dir / LOCK_NAME)
    except FolderInUse as exc:
        raise ConfigError(
            f"run_dir {run_dir}: another run (pid {exc.holder}) is using this folder; wait for it to end "
            "or choose another run_dir"
        ) from None
    except OSError as exc:
        raise ConfigError(f"run_dir {run_dir}: cannot write in it ({exc.strerror or exc})") from None
    for stray in remove_stray_temporaries(run_dir):
        log.info("removed %s (left by an interrupted write)", stray)
    return held
