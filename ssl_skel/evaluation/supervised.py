"""A supervised reference trained from scratch from a preset: its encoder, its recipe, its results.

Why here: a published supervised recipe (CTR-GCN's or ST-GCN's on NW-UCLA, `configs/nwucla_ctrgcn.yaml`)
is a fine-tuning run of an untrained encoder; it goes through the same `evaluate_finetune` (the one
training loop, the supervised section's clips, the clean-training monitor and the underfitting flag)
and writes the same outputs into the preset's run folder, with no checkpoint to start from.

    written = run_supervised(SupervisedRequest("nwucla_ctrgcn", overrides=("train.epochs=10",)))
    print(written.table)          # written.result.extra["clean_train_top1"], ["underfitting"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ssl_skel.core.config import MAX_SEED, Config, ConfigError, load_config
from ssl_skel.evaluation.finetune import FinetuneSettings, evaluate_finetune
from ssl_skel.evaluation.outputs import write_outputs
from ssl_skel.evaluation.protocol import EvalData
from ssl_skel.evaluation.results import format_table
from ssl_skel.evaluation.run import Written


@dataclass(frozen=True)
class SupervisedRequest:
    """A supervised run from scratch: the preset (name or YAML path) and `key=value` overrides; out: the run
    folder (None: the config's run_dir); seed / num_workers: None = the config's; device: None = cuda when
    available; resume: auto (the run folder's last.pt, if any), none, or a checkpoint path; stop_after_epoch: stop
    after this many epochs of the schedule (continue later with resume)."""

    config: str | Path
    overrides: Sequence[str] = ()
    out: str | Path | None = None
    device: str | None = None
    seed: int | None = None
    num_workers: int | None = None
    resume: bool | str = "auto"
    plots: bool = True
    stop_after_epoch: int | None = None


def scratch_encoder(cfg: Config, data: EvalData, seed: int) -> nn.Module:
    """The config's encoder, untrained, sized for the supervised clips; torch's generator seeded first, so one
    seed gives one encoder (and, drawn next, one head)."""
    from ssl_skel.models.encoders import build_encoder

    spec = data.dataset("train", train=False).spec
    torch.manual_seed(seed)
    return build_encoder(cfg.model.name, cfg.model.params, spec)


def run_supervised(request: SupervisedRequest) -> Written | None:
    """Train the preset's encoder from scratch with its supervised recipe and write results.json, scores and
    PNGs beside the run's checkpoints. Returns None on DDP ranks other than 0."""
    cfg = load_config(request.config, list(request.overrides))
    if cfg.objective.name != "supervised":
        raise ConfigError(
            f"{request.config}: objective {cfg.objective.name!r} is a self-supervised preset; "
            "pretrain it with `ssl-skel pretrain`, or fine-tune a checkpoint with `ssl-skel finetune`"
        )
    if request.stop_after_epoch is not None and request.stop_after_epoch < 1:
        raise ConfigError(f"--stop-after-epoch {request.stop_after_epoch}: must be >= 1")
    seed = cfg.seed if request.seed is None else request.seed
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed {seed}: must be in 0..{MAX_SEED}")
    workers = cfg.data.num_workers if request.num_workers is None else request.num_workers
    cfg = dataclasses.replace(cfg, seed=seed)
    data = EvalData(cfg.data, seed, workers, cfg.eval.feature_batch_size)
    encoder = scratch_encoder(cfg, EvalData(cfg.supervised.data_config(cfg.data), seed, workers), seed)
    settings = FinetuneSettings(
        train=cfg.train,
        supervised=cfg.supervised,
        modality=str(cfg.objective.params.get("modality", "")),
        resume=request.resume,
        name="supervised",
        stop_after_epoch=request.stop_after_epoch,
    )
    _check_head_params(cfg, settings, request.config)
    out = Path(request.out or cfg.run_dir)
    source = {"preset": cfg.name, "random_init": True}
    result = evaluate_finetune(encoder, data, settings, out, config=cfg, source=source, device=request.device)
    if result is None:
        return None
    dataset = {
        "root": cfg.data.root,
        "benchmark": cfg.data.benchmark,
        "layout": encoder.spec.layout,
        "clip_length": encoder.spec.clip_length,
    }
    info = {
        "random_init": True,
        "name": cfg.model.name,
        "dim": int(encoder.dim),
        "modalities": list(encoder.modalities),
    }
    path = write_outputs(
        result,
        out,
        checkpoint=str(result.extra["checkpoint_out"]),
        dataset=dataset,
        encoder=info,
        plots=request.plots,
        seed=seed,
    )
    return Written(result, path, format_table(result.title, result.metrics))


def _check_head_params(cfg: Config, settings: FinetuneSettings, source: str | Path) -> None:
    """The head is set in the supervised section; `objective.params` may only repeat it (a run's config.yaml
    does), never say otherwise."""
    ours = settings.method_params()
    differ = [k for k, v in cfg.objective.params.items() if k in ours and ours[k] != v]
    if differ:
        raise ConfigError(
            f"{source}: objective.params {differ} differ from the supervised section's "
            f"({', '.join(f'{k}={ours[k]!r}' for k in differ)}); set the head in the supervised section"
        )
