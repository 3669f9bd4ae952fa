"""Pretraining within a wall-time budget: measure an epoch, plan the epochs that fit, run in resumable chunks.

Why plan first: the cosine schedule spans the planned epochs and the engine refuses to resume a
run whose schedule changed, so the epochs must be known before the real run starts. The plan
(capped by the config's `train.epochs`) is kept in RUN/bench_plan.json, and the run goes in
chunks (`stop_after_epoch`), stopping after a completed epoch when the next would overrun; a
rerun with the same work folder resumes the same plan where it stopped.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from . import records, stages

log = logging.getLogger("real_data")
CHUNKS = 4  # pretraining calls per run (each pays a start-up)


@dataclass
class PretrainPlan:
    """What the budget allowed; kept in RUN/bench_plan.json so a rerun resumes the same plan."""

    planned_epochs: int
    first_epoch_s: float
    seconds: float = 0.0  # pretraining wall time so far, over all invocations
    stopped_by_budget: bool = False

    @staticmethod
    def load(path: Path) -> PretrainPlan | None:
        return PretrainPlan(**json.loads(path.read_text())) if path.exists() else None

    def save(self, path: Path) -> None:
        records.write_json(path, self.__dict__)


def probe_epoch_seconds(config: str, cfg, base: list[str], steps: int = 6, repeats: int = 2) -> tuple[float, float]:
    """(seconds per pretraining epoch, start-up seconds per pretrain call), from short probes.

    Why the fastest of `repeats`: the first pretraining of a process runs cold (first reads
    of the memory-mapped data, thread pools, lazy imports); on Penn Action it measured 65
    clips/s against 400 for the warm ones, which planned a sixth of the epochs that fit.
    """
    from ssl_skel.data.datasets import build_dataset

    probe = Path(cfg.run_dir).parent / "pretrain_probe"
    ov = [f"run_dir={probe}", "train.epochs=1", "train.warmup_epochs=0", f"train.max_steps_per_epoch={steps}"]
    per_epoch = len(build_dataset(cfg.data, "train", train=True, seed=cfg.seed)) // cfg.train.batch_size
    best = None
    for _ in range(max(1, repeats)):
        shutil.rmtree(probe, ignore_errors=True)
        start = time.perf_counter()
        stages.pretrain(config, [*base, *ov, "eval.monitor_every=0"], resume=False)
        total = time.perf_counter() - start
        rate = records.read_checkpoint(probe / "last.pt")["metrics"]["last"]["samples_per_s"]
        shutil.rmtree(probe, ignore_errors=True)
        loop = min(steps, per_epoch) * cfg.train.batch_size / rate
        measured = (per_epoch * cfg.train.batch_size / rate, max(0.0, total - loop))
        best = measured if best is None or measured[0] < best[0] else best
    return best


def budgeted_pretrain(
    config: str,
    cfg,
    base: list[str],
    times: records.StageTimes,
    *,
    budget_minutes: float,
    epochs: int | None,
    monitor_points: int,
    val_by: str,
) -> tuple[Path, PretrainPlan]:
    """Pretraining with the online monitor on the `val_by` validation split, in budgeted chunks.

    epochs: plan this many (None: what fits the budget); monitor_points: validation KNN-1 points
    per run. Returns the last checkpoint and the plan.
    """
    run_dir = Path(cfg.run_dir)
    last, plan_file = run_dir / "last.pt", run_dir / "bench_plan.json"
    budget = budget_minutes * 60.0
    plan = PretrainPlan.load(plan_file) if last.exists() else None
    if plan is None:
        start = time.perf_counter()
        with times.time("pretrain"):
            first_s, startup = probe_epoch_seconds(config, cfg, base)
        fits = max(1, int((0.9 * budget - CHUNKS * startup) // first_s))
        plan = PretrainPlan(
            planned_epochs=epochs or min(cfg.train.epochs, fits),
            first_epoch_s=first_s,
            seconds=time.perf_counter() - start,
        )
        log.info(
            "epoch %.1f s (+%.1f s per call): %d epochs fit; planned %d", first_s, startup, fits, plan.planned_epochs
        )
        plan.save(plan_file)
    planned = plan.planned_epochs
    every = max(1, math.ceil(planned / max(1, monitor_points)))
    ov = [
        f"train.epochs={planned}",
        f"train.warmup_epochs={min(cfg.train.warmup_epochs, planned)}",
        f"eval.monitor_every={every}",
        f"eval.monitor_split={val_by}",
    ]
    done = records.checkpoint_epoch(last)
    chunk = max(1, math.ceil(planned / CHUNKS))
    while done < planned:
        per_epoch = plan.seconds / done if done else plan.first_epoch_s  # measured, start-ups included
        fit_now = int((budget - plan.seconds) // per_epoch)
        if fit_now < 1:
            plan.stopped_by_budget = True
            log.warning("budget of %.0f min reached after %d/%d epochs", budget_minutes, done, planned)
            break
        target = min(planned, done + fit_now, done + chunk)
        start = time.perf_counter()
        with times.time("pretrain"):
            stages.pretrain(config, [*base, *ov], stop_after_epoch=target)
        plan.seconds += time.perf_counter() - start
        done = records.checkpoint_epoch(last)
        plan.save(plan_file)
    return last, plan
