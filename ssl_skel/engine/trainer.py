"""The one training loop: every method (SSL objective or supervised head) trains here.

Why one loop: methods declare only their forward pass and loss (`Method.forward(batch) ->
{"loss": ..., other logged scalars}`); data order, optimisation, AMP, DDP, accumulation,
the learning-rate schedule, clipping, checkpoints, resume and logging live in this engine once
(solo-learn's lesson, without its 900-line base class). This module holds the loop itself;
its parts sit beside it: `loop` (the state and how it is built), `step` (one step's checks),
`resume`, `seeding`, `optimizer`, `schedule`, `amp`, `run_dir` (the lock).

Determinism: the sampler is seeded by (seed, epoch), the dataset derives augmentation
randomness from (seed, epoch, index), and the global torch/numpy/python generators are
reseeded from (seed, epoch, rank) at the start of every epoch. A run resumed from an
epoch-boundary checkpoint therefore replays exactly what an uninterrupted run does, and
ends with bit-identical weights on CPU, whatever the number of data-loader workers.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from ssl_skel.core.checkpoint import KINDS
from ssl_skel.core.config import TrainConfig
from ssl_skel.core.io import copy_atomic
from ssl_skel.core.progress import Progress
from ssl_skel.engine import distributed as D
from ssl_skel.engine.logging import RunLogger, format_scalars
from ssl_skel.engine.loop import Loop, build_loop
from ssl_skel.engine.optimizer import build_optimizer
from ssl_skel.engine.plots import plot_history
from ssl_skel.engine.resume import restore_loop, resume_point, save_loop, with_data_digest
from ssl_skel.engine.run_dir import claim_run_dir
from ssl_skel.engine.seeding import derive_seed, seed_everything
from ssl_skel.engine.step import NonFiniteLossError, check_finite, grad_norm_and_clip, scalar_terms, to_device

# part of this module's API (they lived here before the loop's parts got their own modules)
__all__ = ["EvalHook", "FitResult", "NonFiniteLossError", "build_optimizer", "derive_seed", "fit", "seed_everything"]

EvalHook = Callable[[nn.Module, int], "Mapping[str, float] | None"]


@dataclass
class FitResult:
    last_checkpoint: Path
    history: list[dict] = field(default_factory=list)  # per-epoch mean scalars
    epochs_completed: int = 0
    steps: int = 0


def _write_config(meta: Mapping[str, Any], run_dir: Path) -> None:
    config = meta.get("config")
    if config is not None:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


# --------------------------------------------------------------------------- fit
def fit(
    method: nn.Module,
    train_set: Dataset,
    train_cfg: TrainConfig,
    run_dir: str | Path,
    *,
    seed: int,
    checkpoint_meta: dict,
    num_workers: int = 2,
    resume: bool | str | Path = "auto",
    eval_hook: EvalHook | None = None,
    device: str | torch.device | None = None,
    stop_after_epoch: int | None = None,
    best_metric: str | None = None,
) -> FitResult:
    """Train `method` on `train_set` and checkpoint to `run_dir` (see module docstring).

    method: a `Method`; `method(batch)` returns {"loss", other scalars}. An attribute
      `ddp_find_unused_parameters = True` on it is passed to DDP for methods that leave
      some parameters out of a step.
    train_set: items {"views": [(C, T, V, M)], "label", "index"}; `set_epoch(e)` is called
      each epoch when present; a `batch_transform` attribute that is not None is applied to
      every collated batch once it is on the training device (data.augment_on: device).
    checkpoint_meta: stored verbatim in every checkpoint; must hold "kind" (and normally
      "config" and "encoder"); "config" is also written to run_dir/config.yaml.
    resume: "auto"/True (run_dir/last.pt if present), False/"none", or a checkpoint path.
    eval_hook(method, epochs_completed) -> {name: float} | None, called on every rank after
      each epoch; its numbers join that epoch's history and checkpoint metrics.
    stop_after_epoch: return after this many completed epochs although the schedule spans
      train_cfg.epochs (time-limited jobs; continue later with resume).
    best_metric: a history key (e.g. the eval hook's "val/knn1"); each epoch that sets a new
      maximum of it is copied to run_dir/best_val.pt (the maximum is read from the restored
      history, so a resumed run keeps the right best).
    """
    if not isinstance(checkpoint_meta, Mapping) or checkpoint_meta.get("kind") not in KINDS:
        raise ValueError(f"checkpoint_meta must be a dict with 'kind' in {KINDS}")
    checkpoint_meta = with_data_digest(checkpoint_meta, train_set)  # a resume checks the data is the same
    info = D.setup(device)
    run_lock = claim_run_dir(run_dir, lock=info.is_main)  # one run at a time in run_dir
    deterministic = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        resume_path = resume_point(run_dir, resume, checkpoint_meta)  # refused unless the config is the same
        if info.device.type == "cpu":  # cheap on CPU; on CUDA it would need CUBLAS_WORKSPACE_CONFIG and cost speed
            torch.use_deterministic_algorithms(True, warn_only=True)
        run_dir = Path(run_dir)
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            _write_config(checkpoint_meta, run_dir)
        loop = build_loop(
            method, train_set, train_cfg, run_dir, info, seed=seed, meta=dict(checkpoint_meta), num_workers=num_workers
        )
        if resume_path is not None:
            restore_loop(loop, resume_path)
        return _fit(loop, eval_hook=eval_hook, stop_after_epoch=stop_after_epoch, best_metric=best_metric)
    finally:
        torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])
        D.cleanup(info)
        if run_lock is not None:
            run_lock.release()


def _fit(loop: Loop, *, eval_hook: EvalHook | None, stop_after_epoch: int | None, best_metric: str | None) -> FitResult:
    """Epochs from `loop.epoch` to the end (or `stop_after_epoch`), each evaluated, logged and saved."""
    cfg, info, method = loop.cfg, loop.info, loop.method
    if info.distributed:
        loop.model = DistributedDataParallel(
            method,
            device_ids=[info.device.index] if info.device.type == "cuda" else None,
            find_unused_parameters=bool(getattr(method, "ddp_find_unused_parameters", False)),
        )
    start_epoch = loop.epoch
    end_epoch = cfg.epochs if stop_after_epoch is None else max(start_epoch, min(cfg.epochs, stop_after_epoch))
    logger = RunLogger(loop.run_dir, enabled=info.is_main)
    if loop.resumed_from is not None:
        logger.line(f"resumed from {loop.resumed_from} at epoch {start_epoch}, step {loop.step}")
    logger.line(
        f"training {type(method).__name__}: {len(loop.train_set)} clips, {info.world_size} process(es) on "
        f"{info.device}, global batch {loop.global_batch} (batch {cfg.batch_size} x {info.world_size} x accumulate "
        f"{cfg.accumulate}), lr {loop.lr:.4g} ({cfg.optimizer}), {loop.steps_per_epoch} steps/epoch, "
        f"{loop.total_steps} steps, {loop.amp.describe()}"
    )
    try:
        while loop.epoch < end_epoch:
            stats = _run_epoch(loop, logger)
            D.sync_buffers(method, info)  # ranks agree before evaluation and the checkpoint
            if eval_hook is not None:
                extra = eval_hook(method, loop.epoch) or {}
                stats.update({k: float(v) for k, v in extra.items()})
            loop.history.append(stats)
            shown = {k: v for k, v in stats.items() if k != "epoch"}
            logger.scalars(shown, loop.epoch, prefix="epoch/")
            logger.line(f"epoch {loop.epoch}/{cfg.epochs} step {loop.step} " + format_scalars(shown))
            if info.is_main:
                loop.last_good = save_loop(loop)
                if best_metric is not None and _is_best(loop.history, best_metric):
                    copy_atomic(loop.last_good, loop.run_dir / "best_val.pt")
        D.barrier(info)
    finally:
        logger.close()
    # nothing trained (a finished run resumed from elsewhere): the checkpoint it came from
    trained = end_epoch > start_epoch or loop.resumed_from is None
    last = loop.run_dir / "last.pt" if trained else loop.resumed_from
    if info.is_main and loop.history:
        plot_history(loop.history, loop.run_dir / "curves.png")
    return FitResult(last_checkpoint=last, history=loop.history, epochs_completed=end_epoch, steps=loop.step)


def _is_best(history: list[dict], key: str) -> bool:
    """The newest epoch holds `key` and beats every earlier epoch's value of it."""
    if key not in history[-1]:
        return False
    earlier = [h[key] for h in history[:-1] if key in h]
    return not earlier or history[-1][key] > max(earlier)


def _run_epoch(loop: Loop, logger: RunLogger) -> dict[str, float]:
    """One epoch of optimiser steps; advances loop.step and loop.epoch, returns the epoch's mean scalars."""
    cfg, info, epoch = loop.cfg, loop.info, loop.epoch
    loop.sampler.set_epoch(epoch)
    if hasattr(loop.train_set, "set_epoch"):
        loop.train_set.set_epoch(epoch)
    loop.generator.manual_seed(derive_seed(loop.seed, epoch, 1))
    seed_everything(derive_seed(loop.seed, epoch, 2, info.rank))
    loop.model.train()
    sums: dict[str, float] = {}
    count = 0
    t_epoch = t_log = time.perf_counter()
    cpu_epoch = time.process_time()
    samples_since_log = 0
    batches = itertools.islice(loop.loader, loop.micro_per_epoch)
    # a bar on a terminal; batch jobs get the step lines in log.txt and the epoch lines instead
    desc = f"epoch {epoch + 1}/{cfg.epochs}"
    bar = Progress(batches, total=loop.micro_per_epoch, desc=desc, enabled=info.is_main, log_every=None)
    for i, batch in enumerate(bar):
        batch = to_device(batch, info.device)
        if loop.batch_transform is not None:
            batch = loop.batch_transform(batch)
        final_micro = (i + 1) % cfg.accumulate == 0
        sync = contextlib.nullcontext() if final_micro or not info.distributed else loop.model.no_sync()
        with sync:
            with loop.amp.autocast():
                out = loop.model(batch)
            terms = scalar_terms(out)
            names = list(terms)
            values = D.all_reduce_mean(torch.stack([terms[n].to(info.device) for n in names]), info).cpu()
            check_finite(names, values, loop.step, epoch + 1, i, loop.last_good)
            loop.scaler.scale(out["loss"] / cfg.accumulate).backward()
        for n, v in zip(names, values.tolist()):
            sums[n] = sums.get(n, 0.0) + v
        count += 1
        samples_since_log += cfg.batch_size * info.world_size
        if not final_micro:
            continue
        grad_norm = grad_norm_and_clip(loop.params, loop.optimizer, loop.scaler, cfg.clip_grad)
        if not loop.scaler.is_enabled() and not math.isfinite(grad_norm):  # fp16 scaling skips such steps itself
            raise NonFiniteLossError(
                f"non-finite gradient norm at step {loop.step} (epoch {epoch + 1}, batch {i}) although every loss "
                f"term is finite ({format_scalars(dict(zip(names, values.tolist())))}); training stopped before "
                f"this update; last good checkpoint: "
                f"{loop.last_good if loop.last_good is not None else 'none written yet'}"
            )
        loop.scaler.step(loop.optimizer)
        loop.scaler.update()
        loop.optimizer.zero_grad(set_to_none=True)
        lr = loop.optimizer.param_groups[0]["lr"]
        loop.method.on_step_end(loop.step, loop.total_steps)
        loop.step += 1
        loop.scheduler.step()
        if loop.step % cfg.log_every == 0 and info.is_main:
            now = time.perf_counter()
            scalars = dict(zip(names, values.tolist()))
            scalars["lr"] = lr
            scalars["stat/grad_norm"] = grad_norm
            scalars["samples_per_s"] = samples_since_log / max(now - t_log, 1e-9)
            logger.scalars(scalars, loop.step, prefix="train/")
            logger.line(
                f"step {loop.step} epoch {epoch + 1} batch {i + 1}/{loop.micro_per_epoch} " + format_scalars(scalars),
                echo=False,
            )
            bar.set_postfix(loss=f"{scalars['loss']:.4f}", lr=f"{lr:.3g}")
            t_log, samples_since_log = now, 0
    elapsed = time.perf_counter() - t_epoch
    loop.epoch = epoch + 1
    stats = {"epoch": loop.epoch, **{n: s / max(count, 1) for n, s in sums.items()}}
    stats["lr"] = loop.optimizer.param_groups[0]["lr"]
    stats["samples_per_s"] = count * cfg.batch_size * info.world_size / max(elapsed, 1e-9)
    stats["cpu_s"] = time.process_time() - cpu_epoch  # this process's CPU seconds of the pass (loader workers aside)
    logger.flush()
    return stats
