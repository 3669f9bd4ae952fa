"""The files a benchmark run leaves and reads back: atomic JSON, stage wall times, checkpoint metrics.

Why on disk: a rerun with the same work folder resumes from these files, and seeds run by
separate processes are reported at their real cost.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssl_skel.core.io import atomic_write_bytes

log = logging.getLogger("real_data")


def write_json(path: Path, obj: Any) -> None:
    """Atomically (a rerun resumes from these files, so an interrupted write must not leave half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(obj, indent=1, default=str).encode())


@dataclass
class StageTimes:
    """Wall time of each stage, summed over seeds, in the order they first ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def load(path: Path) -> StageTimes:
        """The stage times a previous invocation saved (a resumed or parallel seed keeps its real cost)."""
        return StageTimes(json.loads(path.read_text())) if path.exists() else StageTimes()

    def save(self, path: Path) -> None:
        write_json(path, self.seconds)

    def add(self, other: StageTimes) -> None:
        for name, sec in other.seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + sec

    @contextlib.contextmanager
    def time(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        log.info("stage %s ...", name)
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            log.info("stage %s: %.1f s so far", name, self.seconds[name])


def read_checkpoint(path: Path) -> dict:
    from ssl_skel.core.checkpoint import load_checkpoint

    return load_checkpoint(path)


def checkpoint_epoch(path: Path) -> int:
    """Epochs a pretraining checkpoint has completed; 0 before the first."""
    return int(read_checkpoint(path)["epoch"]) if path.exists() else 0


def curve(checkpoint: Path) -> list[list[float]]:
    """[epoch, validation KNN-1] of every monitored epoch, from the checkpoint's history."""
    history = read_checkpoint(checkpoint).get("metrics", {}).get("history", [])
    return [[int(h["epoch"]), float(h["val/knn1"])] for h in history if "val/knn1" in h]


def last_loss(checkpoint: Path) -> float:
    return float(read_checkpoint(checkpoint).get("metrics", {}).get("last", {}).get("loss", float("nan")))
