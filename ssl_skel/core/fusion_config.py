"""The config of a fusion (RGB-D) run: its data, skeleton branch, stages, and its loader.

The adapter's own `params` are validated against the dataclass it registered
(`ssl_skel.core.registry.ADAPTERS`), its stage names against the adapter's stages.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path

from ssl_skel.core.presets import default_name_and_run_dir, read_preset
from ssl_skel.core.registry import ADAPTERS
from ssl_skel.core.schema import ConfigError, check, from_dict
from ssl_skel.core.shared_config import MAX_CLIP_LENGTH, MAX_SEED, ModelConfig, TrainConfig


@dataclass(frozen=True)
class SyntheticRGBDConfig:
    """How to make the built-in RGB-D data when `data.root` does not exist yet."""

    clips_per_class: int = 12
    render_frames: int = 16  # frames rendered per clip (the reader samples num_frames of them)
    size: int = 32  # rendered frame side in pixels
    corrupt_fraction: float = 0.0  # share of clips whose RGB is corrupted (noise + occluder)
    corrupt_parts: tuple[str, ...] = ("train", "test")
    corrupt_noise: float = 0.35  # std of the Gaussian RGB noise on corrupted clips
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.clips_per_class >= 1 and self.render_frames >= 1 and self.size >= 8, "sizes must be positive")
        check(0.0 <= self.corrupt_fraction <= 1.0, "corrupt_fraction must be in [0, 1]")
        check(all(p in ("train", "test") for p in self.corrupt_parts), "corrupt_parts items must be train or test")


@dataclass(frozen=True)
class RGBDDataConfig:
    """Where the skeleton arrays, RGB frames and depth frames are, and how clips are cut.

    `skeleton`, `rgb` and `depth` are folders relative to `root` (or absolute); an empty
    `rgb`/`depth` means the modality is not used. `rgb_dir`/`depth_dir` turn a sample
    name into its folder name (NTU: "{name}_rgb" for the frames extracted from videos).
    """

    root: str
    benchmark: str = "xsub"
    skeleton: str = "skeleton"
    rgb: str = "rgb"
    depth: str = "depth"
    rgb_dir: str = "{name}"
    depth_dir: str = "{name}"
    num_frames: int = 8  # F frames per clip
    size: int = 32  # frames are resized to size x size
    crop_scale: tuple[float, float] = (0.7, 1.0)  # train: random square crop, side fraction range
    test_crop: float = 1.0  # test: centre crop side fraction
    depth_max: float = 4500.0  # depth (mm) mapped to 1.0
    clip_length: int = 64  # skeleton T
    num_workers: int = 2
    # where the training views' linear steps (shear, rotation, yaw, joint corruption) run: loader (in the
    # DataLoader workers) or device (on the batch, on the training device; the workers only crop and resize)
    augment_on: typing.Literal["loader", "device"] = "loader"
    make_command: str = ""
    synthetic: SyntheticRGBDConfig | None = None

    def __post_init__(self) -> None:
        check(
            self.num_frames >= 1 and self.size >= 4 and self.clip_length >= 2, "num_frames, size, clip_length too small"
        )
        check(self.clip_length <= MAX_CLIP_LENGTH and self.num_frames <= MAX_CLIP_LENGTH, "clip_length too large")
        lo, hi = self.crop_scale
        check(0.0 < lo <= hi <= 1.0, "crop_scale must satisfy 0 < low <= high <= 1")
        check(0.0 < self.test_crop <= 1.0, "test_crop must be in (0, 1]")
        check(self.depth_max > 0 and self.num_workers >= 0, "depth_max must be > 0, num_workers >= 0")

    def path(self, sub: str) -> Path:
        return Path(self.root) / sub


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
    adapter: str  # a name in ssl_skel.core.registry.ADAPTERS
    data: RGBDDataConfig
    skeleton: SkeletonBranchConfig = field(default_factory=SkeletonBranchConfig)
    params: dict = field(default_factory=dict)  # validated against the adapter's params dataclass
    train: TrainConfig = field(default_factory=TrainConfig)
    stages: tuple[StageConfig, ...] = ()  # empty: one stage "all" of train.epochs
    eval_batch_size: int = 64
    seed: int = 0
    run_dir: str = ""  # empty: runs/<name>
    name: str = ""

    def __post_init__(self) -> None:
        check(0 <= self.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED}")


def load_fusion_config(
    path: str | Path, overrides: typing.Sequence[str] = (), adapter: str | None = None
) -> FusionConfig:
    """Read a fusion preset, apply `key=value` overrides and `--adapter`, validate all of it."""
    path, tree = read_preset(path, overrides)
    if adapter:
        if tree.get("adapter") not in (None, adapter):
            raise ConfigError(f"{path}: adapter: the preset is for {tree['adapter']!r}, --adapter asks for {adapter!r}")
        tree["adapter"] = adapter
    default_name_and_run_dir(tree, path)
    cfg = from_dict(FusionConfig, tree, source=str(path))
    try:
        entry = ADAPTERS.get(cfg.adapter)
    except ConfigError as exc:
        raise ConfigError(f"{path}: adapter: {exc}") from None
    from_dict(entry.params, cfg.params, source=str(path), prefix="params")
    for i, stage in enumerate(cfg.stages):
        if stage.name not in entry.cls.stages:
            raise ConfigError(
                f"{path}: stages[{i}].name: {stage.name!r} is not a stage of {cfg.adapter} "
                f"({', '.join(entry.cls.stages)})"
            )
    return cfg
