"""Self-supervised pretraining from a validated config: data, encoder, method, then `fit`.

Why here and not in the command: notebooks, benchmarks and tests start pretraining runs
too, and they must build exactly what `ssl-skel pretrain` builds.
"""

from __future__ import annotations

import logging

from ssl_skel.core.checkpoint import encoder_entry
from ssl_skel.core.config import Config, ConfigError, to_dict
from ssl_skel.data.datasets import build_dataset
from ssl_skel.data.splits import monitor_split_of
from ssl_skel.engine import distributed as D
from ssl_skel.engine.trainer import EvalHook, FitResult, NonFiniteLossError, fit, seed_everything
from ssl_skel.models.encoders import build_encoder
from ssl_skel.objectives import build_method

log = logging.getLogger(__name__)

__all__ = ["NonFiniteLossError", "pretrain"]


def pretrain(
    cfg: Config,
    *,
    resume: bool | str = "auto",
    device: str | None = None,
    stop_after_epoch: int | None = None,
    eval_hook: EvalHook | None = None,
    best_metric: str | None = None,
) -> tuple[FitResult, bool]:
    """Train `cfg`'s encoder with its objective on its train split; returns (result, is_main_process).

    Joins torchrun's process group first when launched under torchrun (`fit` reuses it).
    eval_hook / best_metric: passed to `fit` (the online monitor, built a layer above:
    `ssl_skel.evaluation.monitor.KnnMonitor`).
    """
    if cfg.objective.name == "supervised":
        raise ConfigError(
            f"{cfg.name}: a supervised preset (objective: supervised); train it with "
            f"`ssl-skel supervised --config {cfg.name}`"
        )
    info = D.setup(device)
    try:
        seed_everything(cfg.seed)  # same initial weights on every rank
        train_set = build_dataset(cfg.data, "train", train=True, seed=cfg.seed)
        if cfg.eval.monitor_every and cfg.eval.monitor_unseen:
            held_out = monitor_split_of(train_set.arrays, cfg.eval, cfg.seed)
            train_set = train_set.subset(held_out.train)
            if info.is_main:
                log.info("eval.monitor_unseen: the %d validation clips are left out of pretraining", len(held_out.val))
        encoder = build_encoder(cfg.model.name, cfg.model.params, train_set.spec)
        method = build_method(cfg.objective.name, cfg.objective.params, encoder)
        meta = {"kind": "pretrain", "config": to_dict(cfg), "encoder": encoder_entry(encoder)}
        if info.is_main:
            log.info(
                "%s: %s encoder (%.2fM parameters), %s objective, %d training clips -> %s",
                cfg.name,
                cfg.model.name,
                encoder.num_parameters() / 1e6,
                cfg.objective.name,
                len(train_set),
                cfg.run_dir,
            )
        result = fit(
            method,
            train_set,
            cfg.train,
            cfg.run_dir,
            seed=cfg.seed,
            checkpoint_meta=meta,
            num_workers=cfg.data.num_workers,
            resume=resume,
            device=info.device,
            stop_after_epoch=stop_after_epoch,
            eval_hook=eval_hook,
            best_metric=best_metric,
        )
    finally:
        D.cleanup(info)
    return result, info.is_main
