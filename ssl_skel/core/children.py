"""Child processes that never outlive their parent and never take the terminal's Ctrl-C for themselves.

Why: worker processes (a converter's pool) that survive a killed parent keep running and holding
memory; and a Ctrl-C in a terminal goes to every process of the foreground group, so a worker
interrupted inside the pool's queue machinery can leave the pool unable to stop (Ctrl-C then
hangs). `worker_init(parent)` is a Pool initializer doing both: on Linux the kernel kills the
worker when the parent dies (PR_SET_PDEATHSIG), and the worker ignores SIGINT, leaving the
parent to stop the pool.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)


def die_with_parent(parent: int) -> bool:
    """Ask the kernel to SIGKILL this process when `parent` (the pid that started it) dies. Linux only; True when
    set. Exits at once if the parent is already gone (it died before the request was made)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:
        os._exit(1)
    return ok


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a batch job's share), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def worker_init(parent: int) -> None:
    """Pool initializer: die with `parent`, leave Ctrl-C to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
