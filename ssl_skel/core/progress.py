"""Progress of a long loop: a tqdm bar on a terminal, periodic log lines everywhere else.

Why: a tqdm bar redraws itself with carriage returns, so a run whose stderr goes to a file
(a batch job, `ssl-skel ... 2> log`) collected thousands of half-drawn frames. `Progress`
draws the bar only when its stream is a terminal (or a notebook shows it) and the process
is rank 0 of a distributed job; otherwise it writes one plain `logging` line each time
another `log_every` share of the total is done (10 %, 20 %, ...), counted in items, so the
lines do not depend on the clock.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

log = logging.getLogger(__name__)


def is_main_process() -> bool:
    """True unless torchrun says this is a process other than global rank 0."""
    return os.environ.get("RANK", "0") == "0"


def _in_notebook() -> bool:
    """A Jupyter kernel: stderr is not a terminal there, but tqdm.auto draws a widget."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _interactive(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty()) or (stream is sys.stderr and _in_notebook())
    except ValueError:  # a closed stream
        return False


class Progress:
    """Count items done: iterate over `iterable` through it, or call `update()`; `close()` at the end.

    enabled: False shows nothing (the caller's "no progress" switch; ranks other than 0 are
      silenced here too). desc, unit: what is counted ("features", "file").
    total: the number of items (default len(iterable) when it has one).
    log_every: without a terminal, one log line per this share of `total` (0.1: ten lines);
      None: no lines (the caller logs its own progress).
    stream: where a bar would go (default sys.stderr, looked up at construction).
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        enabled: bool = True,
        log_every: float | None = 0.1,
        leave: bool = False,
        stream: IO[str] | None = None,
    ) -> None:
        if log_every is not None and not 0.0 < log_every <= 1.0:
            raise ValueError(f"Progress: log_every must be in (0, 1] or None, got {log_every}")
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = 0
        self._bar: Any = None
        self._lines = False
        self._share = log_every or 1.0
        self._k = 1  # the next line is due at the k-th share of the total
        stream = sys.stderr if stream is None else stream
        if not enabled or not is_main_process():
            return
        if _interactive(stream):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True, file=stream)
        elif log_every is not None and total:
            self._lines = True

    @property
    def bar(self) -> Any:
        """The tqdm bar, or None when none is drawn."""
        return self._bar

    def update(self, n: int = 1) -> None:
        """`n` more items done."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._lines and self.n >= self._due(self._k):
            log.info("%s: %d%% (%d/%d %s)", self.desc, 100 * self.n // self.total, self.n, self.total, self.unit)
            while self._due(self._k) <= self.n and self._due(self._k) < self.total:
                self._k += 1
            self._lines = self.n < self.total  # the total reached: nothing more to say

    def _due(self, k: int) -> int:
        """Items done when the k-th share of the total is reached."""
        return min(self.total, math.ceil(k * self._share * self.total - 1e-9))

    def set_postfix(self, **values: Any) -> None:
        """Shown beside the bar (e.g. the loss); dropped without one."""
        if self._bar is not None:
            self._bar.set_postfix(**values)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._lines = False

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("Progress: nothing to iterate over (pass an iterable, or call update())")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
