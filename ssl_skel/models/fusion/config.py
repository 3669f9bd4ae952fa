"""The fusion run's config: its own frozen dataclass tree (unknown keys are errors).

Why separate from `ssl_skel.config.Config`: a fusion run has no SSL objective; it has an
adapter, RGB-D data and a skeleton branch (a pretrained checkpoint, frozen or fine-tuned,
or a freshly built encoder). The `train` section is the engine's `TrainConfig`, so the
one training loop runs it unchanged.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ssl_skel.config import ConfigError, ModelConfig, TrainConfig, check, from_dict
from ssl_skel.data.rgbd import RGBDDataConfig


@dataclass(frozen=True)
class SkeletonBranchConfig:
    """The skeleton stream: `checkpoint` (pretrained, via load_encoder) or a fresh `encoder`."""

    checkpoint: str = ""  # "" = build `encoder` from scratch (no pretraining needed)
    freeze: bool = True  # frozen (eval mode, no gradients) or fine-tuned with the adapter
    encoder: ModelConfig = field(default_factory=lambda: ModelConfig(name="stgcn", params={}))
    modality: str = ""  # encoder output used ("" = its default, e.g. "fused")


@dataclass(frozen=True)
class StageConfig:
    """One stage of a multi-stage schedule (IntegralAction: rgb, pose, fused)."""

    name: str
    epochs: int

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "stage epochs must be >= 1")


@dataclass(frozen=True)
class FusionConfig:
    adapter: typing.Literal["umdr", "integral", "epam", "mmcl"]
    data: RGBDDataConfig
    skeleton: SkeletonBranchConfig = field(default_factory=SkeletonBranchConfig)
    params: dict = field(default_factory=dict)  # validated against the adapter's params dataclass
    train: TrainConfig = field(default_factory=TrainConfig)
    stages: tuple[StageConfig, ...] = ()  # empty: one stage "all" of train.epochs
    eval_batch_size: int = 64
    seed: int = 0
    run_dir: str = ""  # empty: runs/<name>
    name: str = ""


def load_fusion_config(path: str | Path, overrides: Sequence[str] = (), adapter: str | None = None) -> FusionConfig:
    """Read a fusion preset, apply `key=value` overrides and `--adapter`, validate all of it."""
    from ssl_skel.config import read_preset
    from ssl_skel.models.fusion import ADAPTERS

    path, tree = read_preset(path, overrides)
    if adapter:
        if tree.get("adapter") not in (None, adapter):
            raise ConfigError(f"{path}: adapter: the preset is for {tree['adapter']!r}, --adapter asks for {adapter!r}")
        tree["adapter"] = adapter
    tree["name"] = tree.get("name") or path.stem
    tree["run_dir"] = tree.get("run_dir") or str(Path("runs") / tree["name"])
    cfg = from_dict(FusionConfig, tree, source=str(path))
    from_dict(ADAPTERS.get(cfg.adapter).params, cfg.params, source=str(path), prefix="params")
    stages = ADAPTERS.get(cfg.adapter).cls.stages
    for i, stage in enumerate(cfg.stages):
        if stage.name not in stages:
            raise ConfigError(f"{path}: stages[{i}].name: {stage.name!r} is not a stage of {cfg.adapter} ({', '.join(stages)})")
    return cfg
