"""Keep freed memory in the process instead of returning it to the OS after every large tensor.

Why: glibc serves each allocation above its mmap threshold (at most 32 MiB) with a fresh
mapping and unmaps it on free. A transformer over (B*L, d) activations allocates and frees
hundreds of MiB per batch, and the kernel zero-fills every fresh mapping page by page on
first touch. With large mappings off (M_MMAP_MAX = 0) and a high trim threshold, freed blocks
are reused from the heap: the same values, fewer page faults (BENCHMARKS.md, extraction).
The price: the process keeps its peak heap until it exits, which is why only the evaluation
commands' CPU feature extraction (a bounded, repeated batch shape) turns it on, never a
training process (its monitor extracts features too).
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_MAX = -4
_enabled = False


def keep_freed_memory() -> bool:
    """Turn the reuse on for this process (glibc only; idempotent). True when it is on."""
    global _enabled
    if _enabled:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _enabled = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    return _enabled
