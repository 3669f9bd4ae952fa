"""The training loop's state (`Loop`) and how a fresh one is built: model on its device, loader,
optimiser, schedule and AMP, sized from the config and the number of processes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from ssl_skel.core.config import ConfigError, TrainConfig
from ssl_skel.engine import distributed as D
from ssl_skel.engine.amp import resolve_amp
from ssl_skel.engine.optimizer import build_optimizer
from ssl_skel.engine.schedule import WarmupCosine, build_scheduler, scaled_lr
from ssl_skel.engine.seeding import worker_init

log = logging.getLogger(__name__)


def make_loader(train_set: Dataset, cfg: TrainConfig, info: D.DistInfo, seed: int, num_workers: int):
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
        worker_init_fn=worker_init,
        pin_memory=info.device.type == "cuda",
        persistent_workers=False,
    )
    return loader, sampler, generator


@dataclass
class Loop:
    """Everything the training loop carries between steps and epochs, in one place.

    Built once by `build_loop`; the trainer's `_run_epoch` advances `step`, `epoch` and `history`,
    `resume.save_loop` writes them, `resume.restore_loop` reads them back: resume is a matter of this object.
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


def build_loop(
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
    loader, sampler, generator = make_loader(train_set, cfg, info, seed, num_workers)
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
    lr = scaled_lr(cfg.lr, global_batch) if cfg.lr_scaling == "linear" else cfg.lr
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
