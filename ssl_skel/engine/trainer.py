"""The one training loop: every method (SSL objective or supervised head) trains here.

Why one loop: methods declare only their forward pass and loss (`Method.forward(batch) ->
{"loss": ..., other logged scalars}`); data order, optimisation, AMP, DDP, accumulation,
the learning-rate schedule, clipping, checkpoints, resume and logging live here once
(solo-learn's lesson, without its 900-line base class).

Determinism: the sampler is seeded by (seed, epoch), the dataset derives augmentation
randomness from (seed, epoch, index), and the global torch/numpy/python generators are
reseeded from (seed, epoch, rank) at the start of every epoch. A run resumed from an
epoch-boundary checkpoint therefore replays exactly what an uninterrupted run does, and
ends with bit-identical weights on CPU, whatever the number of data-loader workers.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from ssl_skel.core.checkpoint import (
    KINDS,
    CheckpointError,
    capture_rng,
    find_resume,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from ssl_skel.core.config import ConfigError, TrainConfig
from ssl_skel.core.io import copy_atomic
from ssl_skel.core.progress import Progress
from ssl_skel.engine import distributed as D
from ssl_skel.engine.amp import resolve_amp
from ssl_skel.engine.logging import RunLogger, format_scalars
from ssl_skel.engine.plots import plot_history
from ssl_skel.engine.run_dir import guard_run_dir
from ssl_skel.engine.schedule import WarmupCosine, build_scheduler, scaled_lr

log = logging.getLogger(__name__)

EvalHook = Callable[[nn.Module, int], "Mapping[str, float] | None"]


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN/inf; the message names the step and the term."""


@dataclass
class FitResult:
    last_checkpoint: Path
    history: list[dict] = field(default_factory=list)  # per-epoch mean scalars
    epochs_completed: int = 0
    steps: int = 0


# --------------------------------------------------------------------------- seeding
def derive_seed(*parts: int) -> int:
    """A well-mixed 32-bit seed from integers (seed, epoch, rank, ...)."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    # torch already seeds each worker with base_seed + worker_id; derive numpy/python from it
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


# --------------------------------------------------------------------------- building blocks
def build_optimizer(model: nn.Module, cfg: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """AdamW / Adam / SGD / LARS; biases and norm weights (ndim <= 1) get no weight decay unless `decay_all`."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 and not cfg.decay_all else decay).append(p)
    if not decay and not no_decay:
        raise ValueError("the method has no trainable parameters")
    groups = [
        g
        for g in ({"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0})
        if g["params"]
    ]
    if cfg.optimizer == "adamw":
        # the fused kernel runs the whole update in one pass: ~3x faster steps at 72M parameters on CPU
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    if cfg.optimizer == "adam":  # UmURL: Adam with L2 weight decay added to the gradient
        return torch.optim.Adam(groups, lr=lr, fused=True)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum)
    if cfg.optimizer == "lars":
        from lightly.utils.lars import LARS

        return LARS(groups, lr=lr, momentum=cfg.momentum)
    raise ValueError(f"train.optimizer: unknown optimizer {cfg.optimizer!r} (adamw, adam, sgd, lars)")


def _to_device(batch: Mapping[str, Any], device: torch.device) -> dict:
    nb = device.type == "cuda"
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.to(device, non_blocking=nb)
        elif isinstance(value, (list, tuple)):
            out[key] = [v.to(device, non_blocking=nb) if isinstance(v, torch.Tensor) else v for v in value]
        else:
            out[key] = value
    return out


def _scalar_terms(out: Any) -> dict[str, torch.Tensor]:
    """The method's output as {name: 0-d float tensor}; checks the contract."""
    if not isinstance(out, Mapping) or "loss" not in out:
        raise TypeError(f"a method's forward must return a dict with a 'loss' entry, got {type(out).__name__}")
    terms = {}
    for name, value in out.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"method output {name!r} must be a scalar, got shape {tuple(value.shape)}")
            terms[name] = value.detach().float().reshape(())
        elif isinstance(value, (int, float)):
            terms[name] = torch.tensor(float(value))
    return terms


def _check_finite(
    names: list[str], values: torch.Tensor, step: int, epoch: int, batch: int, last_good: Path | None
) -> None:
    bad = [f"{n}={v}" for n, v in zip(names, values.tolist()) if not math.isfinite(v)]
    if bad:
        where = f"{last_good}" if last_good is not None else "none written yet"
        raise NonFiniteLossError(
            f"non-finite loss at step {step} (epoch {epoch}, batch {batch}): {', '.join(bad)}; "
            f"training stopped before this update; last good checkpoint: {where}. "
            "Lower train.lr, raise train.warmup_epochs or set train.clip_grad, then resume."
        )


def _grad_norm_and_clip(params: list[torch.Tensor], optimizer, scaler, clip: float) -> float:
    """Global gradient norm (after unscaling), clipped to `clip` when > 0."""
    scaler.unscale_(optimizer)  # a no-op without fp16 loss scaling
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norm = torch.nn.utils.get_total_norm(grads)
    if clip > 0:
        torch.nn.utils.clip_grads_with_norm_(params, clip, norm)
    return float(norm)


def _write_config(meta: Mapping[str, Any], run_dir: Path) -> None:
    config = meta.get("config")
    if config is not None:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _make_loader(train_set: Dataset, cfg: TrainConfig, info: D.DistInfo, seed: int, num_workers: int):
    """Loader whose order depends only on (seed, epoch): the sampler is seeded, the
    generator (worker base seeds) is reseeded every epoch by `_run_epoch`."""
    sampler = DistributedSampler(
        train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed, drop_last=True
    )
    generator = torch.Generator()
    loader = DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=True,
        generator=generator,
        worker_init_fn=_worker_init,
        pin_memory=info.device.type == "cuda",
        persistent_workers=False,
    )
    return loader, sampler, generator


@dataclass
class Loop:
    """Everything the training loop carries between steps and epochs, in one place.

    Built once by `_build_loop`; `_run_epoch` advances `step`, `epoch` and `history`,
    `_save` writes them, `_restore` reads them back: resume is a matter of this object.
    """

    cfg: TrainConfig
    info: D.DistInfo
    run_dir: Path
    meta: dict
    seed: int
    method: nn.Module  # the bare method (checkpoints, hooks)
    model: nn.Module  # what runs the forward pass: `method`, or its DDP wrapper
    train_set: Dataset
    loader: DataLoader
    sampler: DistributedSampler
    generator: torch.Generator
    optimizer: torch.optim.Optimizer
    scheduler: WarmupCosine
    scaler: Any
    amp: Any
    params: list[torch.Tensor]
    batch_transform: Callable[[dict], dict] | None  # the dataset's on-device step, if any
    micro_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    global_batch: int
    lr: float
    epoch: int = 0  # completed epochs
    step: int = 0  # completed optimiser steps
    history: list[dict] = field(default_factory=list)  # per-epoch mean scalars
    last_good: Path | None = None  # the newest checkpoint written or resumed from
    resumed_from: Path | None = None


def _build_loop(
    method: nn.Module,
    train_set: Dataset,
    cfg: TrainConfig,
    run_dir: Path,
    info: D.DistInfo,
    *,
    seed: int,
    meta: dict,
    num_workers: int,
) -> Loop:
    """Model on its device, loader, optimiser, schedule and AMP for a fresh run (epoch 0)."""
    dev = info.device
    method.to(dev)
    if info.distributed and cfg.sync_batchnorm:
        if dev.type == "cuda":
            method = nn.SyncBatchNorm.convert_sync_batchnorm(method)
        elif info.is_main and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in method.modules()):
            log.warning("SyncBatchNorm needs CUDA; batch norm statistics stay per process on CPU")
    loader, sampler, generator = _make_loader(train_set, cfg, info, seed, num_workers)
    micro_per_epoch = len(loader)
    if cfg.max_steps_per_epoch:
        micro_per_epoch = min(micro_per_epoch, cfg.max_steps_per_epoch * cfg.accumulate)
    steps_per_epoch = micro_per_epoch // cfg.accumulate
    if steps_per_epoch < 1:
        raise ConfigError(
            f"train.batch_size={cfg.batch_size} x train.accumulate={cfg.accumulate} on {info.world_size} process(es) "
            f"needs more than the {len(train_set)} training clips: lower the batch size or accumulation"
        )
    total_steps = cfg.epochs * steps_per_epoch
    global_batch = cfg.batch_size * info.world_size * cfg.accumulate
    lr = scaled_lr(cfg.lr, global_batch)
    optimizer = build_optimizer(method, cfg, lr)
    scheduler = build_scheduler(optimizer, cfg, total_steps, steps_per_epoch)
    amp = resolve_amp(cfg.amp, cfg.amp_dtype, dev)
    return Loop(
        cfg=cfg,
        info=info,
        run_dir=run_dir,
        meta=meta,
        seed=seed,
        method=method,
        model=method,
        train_set=train_set,
        loader=loader,
        sampler=sampler,
        generator=generator,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=amp.make_scaler(),
        amp=amp,
        params=[p for p in method.parameters() if p.requires_grad],
        batch_transform=getattr(train_set, "batch_transform", None),
        micro_per_epoch=steps_per_epoch * cfg.accumulate,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        global_batch=global_batch,
        lr=lr,
    )


def _restore(loop: Loop, path: Path) -> None:
    """Load a checkpoint into the loop: weights, optimiser, schedule, scaler, RNG, counters, history."""
    ck = load_checkpoint(path)
    if ck["kind"] != loop.meta["kind"]:
        raise CheckpointError(f"{path}: a {ck['kind']} checkpoint cannot resume a {loop.meta['kind']} run")
    try:
        loop.method.load_state_dict(ck["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit this model ({str(exc).splitlines()[0]} ...)") from None
    loop.optimizer.load_state_dict(ck["optimizer"])
    try:
        loop.scheduler.load_state_dict(ck["scheduler"])
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if ck.get("scaler"):
        loop.scaler.load_state_dict(ck["scaler"])
    restore_rng(ck["rng"])
    loop.epoch, loop.step = int(ck["epoch"]), int(ck["step"])
    loop.history = list(ck.get("metrics", {}).get("history", []))
    loop.last_good = loop.resumed_from = path


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
    info = D.setup(device)
    run_lock = guard_run_dir(run_dir, checkpoint_meta, resume, is_main=info.is_main)  # one run; same config
    deterministic = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    if info.device.type == "cpu":  # cheap on CPU; on CUDA it would need CUBLAS_WORKSPACE_CONFIG and cost speed
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        run_dir = Path(run_dir)
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            _write_config(checkpoint_meta, run_dir)
        loop = _build_loop(
            method, train_set, train_cfg, run_dir, info, seed=seed, meta=dict(checkpoint_meta), num_workers=num_workers
        )
        resume_path = find_resume(run_dir, resume)
        if resume_path is not None:
            _restore(loop, resume_path)
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
                loop.last_good = _save(loop)
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
    samples_since_log = 0
    batches = itertools.islice(loop.loader, loop.micro_per_epoch)
    # a bar on a terminal; batch jobs get the step lines in log.txt and the epoch lines instead
    desc = f"epoch {epoch + 1}/{cfg.epochs}"
    bar = Progress(batches, total=loop.micro_per_epoch, desc=desc, enabled=info.is_main, log_every=None)
    for i, batch in enumerate(bar):
        batch = _to_device(batch, info.device)
        if loop.batch_transform is not None:
            batch = loop.batch_transform(batch)
        final_micro = (i + 1) % cfg.accumulate == 0
        sync = contextlib.nullcontext() if final_micro or not info.distributed else loop.model.no_sync()
        with sync:
            with loop.amp.autocast():
                out = loop.model(batch)
            terms = _scalar_terms(out)
            names = list(terms)
            values = D.all_reduce_mean(torch.stack([terms[n].to(info.device) for n in names]), info).cpu()
            _check_finite(names, values, loop.step, epoch + 1, i, loop.last_good)
            loop.scaler.scale(out["loss"] / cfg.accumulate).backward()
        for n, v in zip(names, values.tolist()):
            sums[n] = sums.get(n, 0.0) + v
        count += 1
        samples_since_log += cfg.batch_size * info.world_size
        if not final_micro:
            continue
        grad_norm = _grad_norm_and_clip(loop.params, loop.optimizer, loop.scaler, cfg.clip_grad)
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
    logger.flush()
    return stats


def _save(loop: Loop) -> Path:
    """Write run_dir/last.pt (and epoch_NNNN.pt every `save_every` epochs and at the end)."""
    history = loop.history
    payload = {
        **loop.meta,
        "model": loop.method.state_dict(),
        "optimizer": loop.optimizer.state_dict(),
        "scheduler": loop.scheduler.state_dict(),
        "scaler": loop.scaler.state_dict() if loop.scaler.is_enabled() else {},
        "epoch": loop.epoch,
        "step": loop.step,
        "rng": capture_rng(),
        "metrics": {"history": [dict(h) for h in history], "last": dict(history[-1]) if history else {}},
    }
    last = save_checkpoint(payload, loop.run_dir / "last.pt")
    if loop.epoch % loop.cfg.save_every == 0 or loop.epoch == loop.cfg.epochs:
        copy_atomic(last, loop.run_dir / f"epoch_{loop.epoch:04d}.pt")
    return last
