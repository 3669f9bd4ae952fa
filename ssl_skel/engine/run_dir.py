"""A run folder's guard: one run at a time, a resume only with the settings it was started with.

Why: two runs writing the same `run_dir` interleave their checkpoints (one resumes from the
other's `last.pt`), and a resume that silently keeps the old learning rate while `config.yaml`
says the new one reports a run that never happened. `claim_run_dir` takes an exclusive lock
(`flock` on `run_dir/.lock`: the kernel drops it when its process dies, so a lock left by a
killed run is simply taken over) and removes the temporaries a killed or failed write left;
`check_resume` refuses a checkpoint whose stored config differs from this run's, naming the keys,
and one whose weights hold NaN/inf.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ssl_skel.core.checkpoint import CheckpointError, check_finite_weights, find_resume, load_checkpoint
from ssl_skel.core.config import ConfigError
from ssl_skel.core.io import remove_stray_temporaries

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, the rest still applies
    fcntl = None

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
# keys that may change between a run and its resume: they do not change what is trained
FREE_KEYS = ("name", "run_dir", "data.num_workers", "data.make_command", "train.log_every", "eval.")


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


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: tree}


def config_differences(old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """(dotted key, checkpoint value, this run's value) for every key that differs, FREE_KEYS aside."""
    a, b = _flatten(old or {}), _flatten(new or {})
    missing = object()
    diffs = []
    for key in sorted(set(a) | set(b)):
        if any(key == free or (free.endswith(".") and key.startswith(free)) for free in FREE_KEYS):
            continue
        va, vb = a.get(key, missing), b.get(key, missing)
        if va != vb:
            diffs.append((key, None if va is missing else va, None if vb is missing else vb))
    return diffs


def check_resume(path: Path, config: Any) -> None:
    """Refuse to continue from `path` when its stored config differs from this run's `config`."""
    ck = load_checkpoint(path, mmap=True)
    diffs = config_differences(ck.get("config"), config)
    if diffs:
        shown = ", ".join(f"{k} (checkpoint {va!r}, now {vb!r})" for k, va, vb in diffs[:5])
        more = f" and {len(diffs) - 5} more" if len(diffs) > 5 else ""
        raise ConfigError(
            f"{path}: this run's config differs from the one the checkpoint was trained with: {shown}{more}; "
            "resume with the same settings, or start afresh with --resume none or another run_dir"
        )
    if isinstance(ck.get("model"), dict):
        check_finite_weights(ck["model"], path)  # a diverged run's weights: say so, not "lower the lr"


def guard_run_dir(run_dir: str | Path, meta: Mapping[str, Any], resume: Any, *, is_main: bool) -> RunDirLock | None:
    """What `fit` calls before anything is written: lock `run_dir` (main process) and check the resume."""
    lock = claim_run_dir(run_dir, lock=is_main)
    try:
        path = find_resume(run_dir, resume)
        if path is not None and "config" in meta:
            check_resume(path, meta["config"])
    except (ConfigError, CheckpointError):
        if lock is not None:
            lock.release()
        raise
    return lock
