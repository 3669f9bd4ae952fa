"""The config of a pretraining run (data, augmentation, encoder, objective, training, evaluation)
and its loader; the one import path for everything about configs.

Encoder and objective parameters depend on the chosen entry, so `model.params` and
`objective.params` are validated against the dataclass that entry registered
(`ssl_skel.core.registry`). The rest lives beside this module and is re-exported here:
the sections every run kind shares (`shared_config`), fusion runs (`fusion_config`),
preset lookup, `base:` and overrides (`presets`), and safe YAML reading (`safe_yaml`).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ssl_skel.core.fusion_config import (
    FusionConfig,
    RGBDDataConfig,
    SkeletonBranchConfig,
    StageConfig,
    SyntheticRGBDConfig,
    load_fusion_config,
)
from ssl_skel.core.presets import apply_overrides, default_name_and_run_dir, preset_names, read_preset, resolve_preset
from ssl_skel.core.registry import ENCODERS, OBJECTIVES
from ssl_skel.core.safe_yaml import parse_yaml
from ssl_skel.core.schema import ConfigError, check, from_dict, to_dict
from ssl_skel.core.shared_config import MAX_CLIP_LENGTH, MAX_SEED, ModelConfig, TrainConfig

__all__ = [
    "LINEAR_NORMALIZE",
    "MAX_CLIP_LENGTH",
    "MAX_SEED",
    "ROTATE_AXES",
    "SPATIAL_STEPS",
    "AugmentConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "FusionConfig",
    "LinearNormalize",
    "ModelConfig",
    "ObjectiveConfig",
    "RGBDDataConfig",
    "SkeletonBranchConfig",
    "StageConfig",
    "SupervisedConfig",
    "SyntheticRGBDConfig",
    "TrainConfig",
    "apply_overrides",
    "check",
    "config_from_tree",
    "from_dict",
    "load_config",
    "load_fusion_config",
    "parse_yaml",
    "preset_names",
    "read_preset",
    "resolve_preset",
    "save_config",
    "to_dict",
]

MAX_NAME_BYTES = 255  # a run's name becomes a folder name (runs/<name>): the common file system limit

# The spatial, noise and masking steps of a training view, in pipeline order: the one declaration
# `ssl_skel.data.transforms` builds its steps from and `AugmentConfig.one_of` chooses among.
SPATIAL_STEPS = ("shear", "rotate", "yaw", "flip", "corrupt", "noise", "blur", "joint_mask", "frame_mask", "axis_mask")


ROTATE_AXES = ("x", "y", "z")


@dataclass(frozen=True)
class AugmentConfig:
    """Skeleton augmentations of training views (probabilities and magnitudes): SSL views in `data.augment`,
    supervised clips in `supervised.augment` (a section of its own, see `SupervisedConfig`)."""

    shear: float = 0.5  # max shear coefficient (0 = off)
    rotate_deg: float = 0.0  # max rotation angle about each axis, degrees (0 = off)
    # the axes rotate_deg turns about, in the order the rotations apply (x then y then z: R = Rz Ry Rx);
    # CTR-GCN's NW-UCLA feeder: [y, x] (about y first, then about x; no z)
    rotate_axes: tuple[str, ...] = ROTATE_AXES
    rotate_integer: bool = False  # whole-degree angles, uniform over -rotate_deg..rotate_deg (CTR-GCN's randint)
    yaw_deg: float = 0.0  # max extra rotation about the vertical (y) axis, degrees; 180 = any yaw (0 = off)
    flip_prob: float = 0.5  # left/right flip with joint swap
    # which frames a view keeps: crop_resize (a random crop resized to clip_length), shift (CrosSCLR's mirrored
    # random shift), random_sorted (clip_length frames drawn at random over the whole clip and sorted, no
    # interpolation: CTR-GCN's NW-UCLA feeder)
    temporal: typing.Literal["crop_resize", "shift", "random_sorted"] = "crop_resize"
    crop_min: float = 0.5  # temporal crop keeps a fraction in [crop_min, 1] of the valid frames
    crop_min_frames: int = 2  # ... but never fewer frames than this (all when the clip is shorter); UmURL 64
    crop_rounding: typing.Literal["round", "floor"] = "round"  # frames kept = rounding(ratio * T); UmURL floor
    shift_pad_ratio: int = 6  # temporal=shift: pad and shift by up to T // shift_pad_ratio frames
    corrupt_joints: int = 0  # joint corruption: this many joints zeroed or mixed per view (0 = off); UmURL 15
    corrupt_zero_prob: float = 0.5  # ... zeroed with this probability, else mixed by a random matrix
    corrupt_mix: float = 1.0  # ... whose entries are uniform in [-corrupt_mix, corrupt_mix]
    noise_std: float = 0.0  # Gaussian noise on coordinates
    blur_prob: float = 0.0  # Gaussian blur along time
    joint_mask_prob: float = 0.0  # spatial masking: fraction of joints zeroed (round(p * V) joints)
    frame_mask_prob: float = 0.0  # temporal masking: fraction of frames zeroed (round(p * T) frames)
    axis_mask_prob: float = 0.0  # zero one coordinate axis
    one_of: tuple[str, ...] = ()  # these steps are not chained: exactly one of them is applied per view ...
    one_of_probs: tuple[float, ...] = ()  # ... with these probabilities (sum <= 1; the rest applies none)

    def __post_init__(self) -> None:
        for name in ("flip_prob", "blur_prob", "joint_mask_prob", "frame_mask_prob", "axis_mask_prob"):
            check(0.0 <= getattr(self, name) <= 1.0, f"{name} must be in [0, 1]")
        check(0.0 < self.crop_min <= 1.0, "crop_min must be in (0, 1]")
        check(self.crop_min_frames >= 1 and self.shift_pad_ratio >= 1, "crop_min_frames, shift_pad_ratio must be >= 1")
        check(self.corrupt_joints >= 0, "corrupt_joints must be >= 0")
        check(0.0 <= self.corrupt_zero_prob <= 1.0, "corrupt_zero_prob must be in [0, 1]")
        check(min(self.shear, self.noise_std, self.rotate_deg, self.yaw_deg) >= 0, "magnitudes must be >= 0")
        check(self.corrupt_mix >= 0, "corrupt_mix must be >= 0")
        bad_axes = [a for a in self.rotate_axes if a not in ROTATE_AXES]
        check(not bad_axes, f"rotate_axes: unknown axes {bad_axes} (allowed: x, y, z)")
        check(0 < len(self.rotate_axes) == len(set(self.rotate_axes)), "rotate_axes must name 1 to 3 different axes")
        check(not self.rotate_integer or float(self.rotate_deg).is_integer(), "rotate_integer needs whole rotate_deg")
        unknown = [n for n in self.one_of if n not in SPATIAL_STEPS]
        check(not unknown, f"one_of: unknown steps {unknown} (allowed: {', '.join(SPATIAL_STEPS)})")
        check(len(set(self.one_of)) == len(self.one_of), "one_of: a step is named twice")
        check(len(self.one_of_probs) == len(self.one_of), "one_of_probs needs one probability per one_of step")
        check(
            all(p >= 0 for p in self.one_of_probs) and sum(self.one_of_probs) <= 1.0 + 1e-9,
            "one_of_probs must be >= 0 and sum to at most 1",
        )


@dataclass(frozen=True)
class DataConfig:
    """Where the arrays are and how clips are cut from them."""

    root: str  # a folder written by data_gen (or a legacy UmURL/CTR-GCN layout)
    benchmark: str  # split name in the manifest: xsub, xview, xset, ...
    clip_length: int = 64
    num_views: int = 2
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # how frames are resized: endpoints (first/last frame kept, no blending into absence) or
    # half_pixel (torch F.interpolate align_corners=False, as UmURL and CrosSCLR do)
    resize: typing.Literal["endpoints", "half_pixel"] = "endpoints"
    # deterministic steps before augmenting and as the eval view; crossclr: per-frame spine
    # centring, resize to clip_length, per-frame rotation about y (CrosSCLR's preprocess_ntu.py)
    preprocess: typing.Literal["none", "crossclr"] = "none"
    # per-clip scaling of training and evaluation clips: minmax maps each coordinate axis of a clip to [-1, 1]
    # over all its frames and joints (after the spatial augmentation, before frames are picked: CTR-GCN NW-UCLA)
    normalize: typing.Literal["none", "minmax"] = "none"
    # the evaluation view's frames: resize (all valid frames resampled to clip_length, see `resize`) or
    # linspace (frames floor(linspace(0, T - 1, clip_length)), no interpolation: CTR-GCN's NW-UCLA test feeder)
    eval_frames: typing.Literal["resize", "linspace"] = "resize"
    repeat: int = 1  # a training epoch passes this many times over the training split, shuffled as one set
    num_workers: int = 2
    # where the training views' linear steps (shear, rotation, yaw, joint corruption) run: loader (in the
    # DataLoader workers) or device (on the batch, on the training device; the workers only crop and resize)
    augment_on: typing.Literal["loader", "device"] = "loader"
    make_command: str = ""  # shown when the data is missing: the data_gen command that makes it

    def __post_init__(self) -> None:
        check(self.clip_length >= 2, "clip_length must be >= 2")
        check(self.clip_length <= MAX_CLIP_LENGTH, f"clip_length must be <= {MAX_CLIP_LENGTH}")
        check(self.num_views >= 1, "num_views must be >= 1")
        check(self.num_workers >= 0, "num_workers must be >= 0")
        check(self.repeat >= 1, "repeat must be >= 1")


@dataclass(frozen=True)
class ObjectiveConfig:
    """SSL method choice; `params` is validated against the method's registered params."""

    name: str
    params: dict = field(default_factory=dict)


LinearNormalize = typing.Literal["none", "l2"]
LINEAR_NORMALIZE: tuple[str, ...] = typing.get_args(LinearNormalize)


@dataclass(frozen=True)
class EvalConfig:
    """Frozen-evaluation protocol settings (linear probe and KNN)."""

    linear_epochs: int = 100
    linear_lr: float = 0.1
    linear_batch_size: int = 256
    linear_weight_decay: float = 0.0
    linear_milestones: tuple[int, ...] = ()  # epochs where the probe's lr *= 0.1 (empty: 80 % and 93 % of the epochs)
    linear_test_every: int = 5  # also record the best test epoch over these evaluations (test-selected, paper-style)
    linear_normalize: LinearNormalize = "none"  # none (UmURL's probe) or l2: feature rows scaled to unit length
    knn_k: int = 1
    knn_temperature: float = 0.1
    feature_batch_size: int = 256
    # online monitor during pretraining (evaluation/monitor.py): KNN-1 on a validation split of the train split
    monitor_every: int = 0  # every N epochs (and at the last); 0 = off
    monitor_split: str = "class"  # class (stratified), subject, view or set (hold out whole groups; set: SBU pairs)
    monitor_fraction: float = 0.2  # share of the training clips held out
    monitor_linear_epochs: int = 0  # > 0: also a quick linear probe of this many epochs
    monitor_both_ways: bool = False  # also score the bank from the held-out part, report the mean of both directions
    # leave the validation clips out of pretraining too, so they are as unseen as the test split will be (a
    # selection run; off: the final run pretrains on every training clip and the monitor only draws its curve)
    monitor_unseen: bool = False
    keep_best: bool = True  # keep RUN/best_val.pt, the epoch with the best monitored KNN-1

    def __post_init__(self) -> None:
        check(self.linear_epochs >= 1 and self.knn_k >= 1, "linear_epochs and knn_k must be >= 1")
        check(
            all(1 <= m < self.linear_epochs for m in self.linear_milestones),
            "linear_milestones must be epochs in [1, linear_epochs)",
        )
        check(self.linear_test_every >= 0, "linear_test_every must be >= 0")
        check(self.monitor_every >= 0 and self.monitor_linear_epochs >= 0, "monitor settings must be >= 0")
        splits = ("class", "subject", "view", "set")
        check(self.monitor_split in splits, "monitor_split must be class, subject, view or set")
        check(0.0 < self.monitor_fraction < 1.0, "monitor_fraction must be in (0, 1)")


def _no_augmentation() -> AugmentConfig:
    return AugmentConfig(shear=0.0, flip_prob=0.0, crop_min=1.0)


HeadInit = typing.Literal["normal", "ctrgcn", "stgcn"]


@dataclass(frozen=True)
class SupervisedConfig:
    """A supervised run's own recipe (fine-tuning, semi-supervised, training from scratch).

    Why a section of its own: the SSL views' heavy augmentation (`data.augment`) is what makes a
    contrastive task hard; a classifier trained on it underfits. A supervised run reads its
    augmentation, clip length, dataset repeat and head from here and never from `data.augment`;
    from `data` it takes only what the data is (root, benchmark, preprocess, resize, normalize,
    eval_frames). Default: no augmentation (every training clip is its evaluation view).
    """

    clip_length: int = 0  # frames per clip; 0 = data.clip_length (a pretrained encoder's own)
    augment: AugmentConfig = field(default_factory=_no_augmentation)
    repeat: int = 1  # a training epoch passes this many times over the training split (CTR-GCN NW-UCLA: 5)
    dropout: float = 0.0  # before the linear head
    label_smoothing: float = 0.0
    # the head's initial weights: normal (N(0, 0.01), bias 0), ctrgcn (N(0, sqrt(2 / classes)), bias torch's
    # default: CTR-GCN's fc), stgcn (N(0, 0.02), bias 0: ST-GCN's weights_init)
    head_init: HeadInit = "normal"
    # every eval_every epochs (and after the last) the run scores an un-augmented pass over up to
    # clean_train_clips training clips (a fixed class-stratified sample) and the test split, so underfitting
    # shows; 0 = only after the last epoch
    eval_every: int = 1
    clean_train_clips: int = 1000

    def __post_init__(self) -> None:
        check(self.clip_length == 0 or 2 <= self.clip_length <= MAX_CLIP_LENGTH, "clip_length must be 0 or >= 2")
        check(self.repeat >= 1, "repeat must be >= 1")
        check(0.0 <= self.dropout < 1.0 and 0.0 <= self.label_smoothing < 1.0, "dropout, label_smoothing in [0, 1)")
        check(self.eval_every >= 0 and self.clean_train_clips >= 1, "eval_every >= 0, clean_train_clips >= 1")

    def data_config(self, data: DataConfig) -> DataConfig:
        """The data section a supervised run reads: `data` with this section's augmentation, clip length and
        repeat, one view per clip (what the data is comes from `data`; how it is augmented never does)."""
        return dataclasses.replace(
            data,
            augment=self.augment,
            clip_length=self.clip_length or data.clip_length,
            repeat=self.repeat,
            num_views=1,
            augment_on="loader",
        )


@dataclass(frozen=True)
class Config:
    """A complete run: what a checkpoint stores so its encoder can be rebuilt alone."""

    data: DataConfig
    model: ModelConfig
    objective: ObjectiveConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    supervised: SupervisedConfig = field(default_factory=SupervisedConfig)
    seed: int = 0
    run_dir: str = ""  # empty: runs/<preset name>
    name: str = ""  # preset name, filled from the file name when empty

    def __post_init__(self) -> None:
        check(0 <= self.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED}")
        name_bytes = len(self.name.encode())
        check(
            name_bytes <= MAX_NAME_BYTES,
            f"name is {name_bytes} bytes, more than {MAX_NAME_BYTES} (it names the run; run_dir is runs/<name>)",
        )
        check("\0" not in self.name + self.run_dir, "name and run_dir must not hold NUL characters")
        longest = max((len(part.encode()) for part in Path(self.run_dir).parts), default=0)
        check(
            longest <= MAX_NAME_BYTES,
            f"run_dir has a {longest}-byte folder name, more than a file system takes ({MAX_NAME_BYTES})",
        )


def config_from_tree(tree: Any, source: str = "config") -> Config:
    """Validate a raw tree (e.g. from a checkpoint) into a Config, params included."""
    config = from_dict(Config, tree, source=source)
    ENCODERS.validate_params(config.model.name, config.model.params, source, "model")
    OBJECTIVES.validate_params(config.objective.name, config.objective.params, source, "objective")
    return config


def load_config(path: str | Path, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a YAML preset (name or path), apply overrides and validate everything."""
    path, tree = read_preset(path, overrides)
    default_name_and_run_dir(tree, path)
    return config_from_tree(tree, source=str(path))


def save_config(config: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
