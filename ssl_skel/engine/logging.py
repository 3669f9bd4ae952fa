"""Run logging: TensorBoard scalars and a plain-text log file, on rank 0 only.

Why one object: the loop calls `scalars(...)` / `line(...)` without caring which rank it
is or whether TensorBoard is installed; on ranks other than 0 every call is a no-op, so
multi-process runs write one log and one event file (the progress bar: `ssl_skel.core.progress`).
"""

from __future__ import annotations

import logging as _logging
import time
from collections.abc import Mapping
from pathlib import Path

_log = _logging.getLogger("ssl_skel.engine")


class RunLogger:
    """Writes run_dir/log.txt and TensorBoard events under run_dir (rank 0 only)."""

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._writer = None
        self._file = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.run_dir / "log.txt", "a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency, but keep training if it breaks
                _log.warning("tensorboard is not importable; scalars go to log.txt only")
            else:
                self._writer = SummaryWriter(log_dir=str(self.run_dir))

    def line(self, message: str, echo: bool = True) -> None:
        """One timestamped line in log.txt, mirrored to the python logger when `echo`."""
        if not self.enabled:
            return
        if echo:
            _log.info(message)
        assert self._file is not None
        self._file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        self._file.flush()

    def scalars(self, values: Mapping[str, float], step: int, prefix: str = "") -> None:
        if not self.enabled or self._writer is None:
            return
        for name, value in values.items():
            self._writer.add_scalar(f"{prefix}{name}", float(value), step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None


def format_scalars(values: Mapping[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in values.items())
