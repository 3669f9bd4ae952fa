"""The config schema of every run kind and the one loader for presets.

Why one module: pretraining, evaluation and fusion runs share the `train`, `data` and
`model` sections, so their dataclasses are declared once here. Encoder, objective and
adapter parameters depend on the chosen entry, so `model.params`, `objective.params`
and a fusion run's `params` are validated against the dataclass that entry registered
(`ssl_skel.core.registry`).
"""

from __future__ import annotations

import copy
import importlib.resources
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ssl_skel.core.registry import ADAPTERS, ENCODERS, OBJECTIVES
from ssl_skel.core.schema import ConfigError, check, from_dict, to_dict

__all__ = ["ConfigError", "check", "from_dict", "to_dict"]


# --------------------------------------------------------------------------- schema
# names of the spatial steps `AugmentConfig.one_of` may choose between (ssl_skel.data.transforms)
ONE_OF_STEPS = ("shear", "rotate", "flip", "corrupt", "noise", "blur", "joint_mask", "frame_mask", "axis_mask")
MAX_SEED = 2**32 - 1  # numpy's seeding range; every generator is seeded from it
MAX_CLIP_LENGTH = 10_000  # frames per clip; NTU clips are <= 300, a model input beyond this is a typo


@dataclass(frozen=True)
class AugmentConfig:
    """Skeleton augmentations for SSL views (probabilities and magnitudes)."""

    shear: float = 0.5  # max shear coefficient (0 = off)
    rotate_deg: float = 0.0  # max rotation angle about each axis, degrees (0 = off)
    yaw_deg: float = 0.0  # max extra rotation about the vertical (y) axis, degrees; 180 = any yaw (0 = off)
    flip_prob: float = 0.5  # left/right flip with joint swap
    temporal: typing.Literal["crop_resize", "shift"] = "crop_resize"  # shift: CrosSCLR's mirrored random shift
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
        unknown = [n for n in self.one_of if n not in ONE_OF_STEPS]
        check(not unknown, f"one_of: unknown steps {unknown} (allowed: {', '.join(ONE_OF_STEPS)})")
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


@dataclass(frozen=True)
class ModelConfig:
    """Encoder choice; `params` is validated against the encoder's registered params."""

    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectiveConfig:
    """SSL method choice; `params` is validated against the method's registered params."""

    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    """The one training loop's settings (shared by pretraining, fine-tuning and fusion)."""

    epochs: int = 100
    batch_size: int = 128  # per process
    optimizer: typing.Literal["adamw", "adam", "sgd", "lars"] = "adamw"  # adam: L2 decay in the gradient (UmURL)
    lr: float = 1e-3  # for batch_size * world_size * accumulate == 256; scaled linearly
    weight_decay: float = 0.0
    decay_all: bool = False  # weight decay on biases and norm weights too (the authors' optimisers do it)
    lr_schedule: typing.Literal["cosine", "step"] = "cosine"  # step: lr *= lr_gamma at each of lr_milestones
    lr_milestones: tuple[int, ...] = ()  # step: 0-based epochs from which one more lr_gamma applies (UmURL 351)
    lr_gamma: float = 0.1
    momentum: float = 0.9  # sgd/lars only
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    accumulate: int = 1  # gradient accumulation steps
    clip_grad: float = 0.0  # max global grad norm (0 = off)
    amp: typing.Literal["auto", "on", "off"] = "auto"
    amp_dtype: typing.Literal["auto", "bfloat16", "float16"] = "auto"
    save_every: int = 10  # epochs between periodic checkpoints (last.pt is written every epoch)
    log_every: int = 10  # steps between scalar logs
    sync_batchnorm: bool = True  # convert BatchNorm to SyncBatchNorm under DDP
    max_steps_per_epoch: int = 0  # 0 = full epoch; >0 caps steps (smoke runs)

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "epochs must be >= 1")
        check(self.batch_size >= 1, "batch_size must be >= 1")
        check(self.lr > 0, "lr must be > 0")
        check(self.accumulate >= 1, "accumulate must be >= 1")
        check(self.warmup_epochs >= 0 and self.warmup_epochs <= self.epochs, "warmup_epochs must be in [0, epochs]")
        check(0.0 <= self.min_lr_ratio <= 1.0, "min_lr_ratio must be in [0, 1]")
        check(all(1 <= m < self.epochs for m in self.lr_milestones), "lr_milestones must be epochs in [1, epochs)")
        check(self.lr_schedule == "step" or not self.lr_milestones, "lr_milestones need lr_schedule: step")
        check(0.0 < self.lr_gamma <= 1.0, "lr_gamma must be in (0, 1]")
        check(self.save_every >= 1 and self.log_every >= 1, "save_every and log_every must be >= 1")


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


@dataclass(frozen=True)
class Config:
    """A complete run: what a checkpoint stores so its encoder can be rebuilt alone."""

    data: DataConfig
    model: ModelConfig
    objective: ObjectiveConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    run_dir: str = ""  # empty: runs/<preset name>
    name: str = ""  # preset name, filled from the file name when empty

    def __post_init__(self) -> None:
        check(0 <= self.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED}")


# --------------------------------------------------------------------------- fusion runs (RGB-D)
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


# --------------------------------------------------------------------------- loading
MAX_CONFIG_BYTES = 1 << 20  # presets are a few KB; anything larger is not a config
MAX_YAML_ALIASES = 100  # an alias bomb ("billion laughs") needs many; presets use none
MAX_YAML_DEPTH = 50  # presets nest 3-4 levels; 5000-deep nesting would exhaust the recursion limit
MAX_YAML_NODES = 100_000  # values once aliases are expanded: a few aliases can otherwise stand for 10**9


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (only true/false: `amp: on` stays the string "on") and caps on
    aliases and nesting depth, so a hostile file fails fast with a ConfigError instead of eating memory."""

    yaml_implicit_resolvers = {
        key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_document(self) -> Any:
        node = super().compose_document()
        sizes: dict[int, int] = {}

        def size(n: Any) -> int:  # expanded size, each shared node counted once per use (memoised: linear)
            if id(n) in sizes and sizes[id(n)] < 0:
                raise ConfigError("a YAML alias refers to the value that holds it (recursive); refused")
            if id(n) not in sizes:
                sizes[id(n)] = -1  # in progress
                children = n.value if isinstance(n, yaml.SequenceNode) else []
                if isinstance(n, yaml.MappingNode):
                    children = [c for pair in n.value for c in pair]
                sizes[id(n)] = 1 + sum(size(c) for c in children)
            return sizes[id(n)]

        if node is not None and size(node) > MAX_YAML_NODES:
            raise ConfigError(f"expands to more than {MAX_YAML_NODES} values (YAML aliases); refused")
        return node

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise ConfigError(f"more than {MAX_YAML_ALIASES} YAML aliases (*name); refused")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise ConfigError(f"nested more than {MAX_YAML_DEPTH} levels deep; refused")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_yaml(text: str, source: str) -> Any:
    """YAML text -> plain tree (see `_Loader`); ConfigError naming `source` for anything unreadable."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: {len(text)} characters, more than a config may hold ({MAX_CONFIG_BYTES})")
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})".replace("\n", " ")) from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply; refused") from None


def _set_dotted(tree: dict, dotted: str, value: Any, source: str) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: override {dotted}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def apply_overrides(tree: dict, overrides: typing.Sequence[str], source: str = "command line") -> dict:
    """Apply `key.sub=value` strings (value parsed as YAML) to a raw config tree."""
    tree = copy.deepcopy(tree)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source}: override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        _set_dotted(tree, key.strip(), parse_yaml(raw, f"{source}: override {key.strip()}"), source)
    return tree


def _preset_folders() -> list[Any]:
    """Where presets live: a source checkout's `configs/`, else the installed package data.

    The top-level `configs/` is shipped as the package `ssl_skel.configs` (pyproject's
    package-dir mapping), so a wheel or a non-editable install finds the same files.
    """
    folders: list[Any] = []
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "configs").is_dir():
        folders.append(checkout / "configs")
    try:
        folders.append(importlib.resources.files("ssl_skel.configs"))
    except ModuleNotFoundError:
        pass
    return folders


def preset_names() -> list[str]:
    """Names accepted by `--config NAME`."""
    names = {f.name[:-5] for folder in _preset_folders() for f in folder.iterdir() if f.name.endswith(".yaml")}
    return sorted(names)


def resolve_preset(name_or_path: str | Path) -> Path:
    """`ntu60_xsub` -> the shipped preset file; a path is returned unchanged."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists() or len(path.parts) > 1:
        return path
    for folder in _preset_folders():
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return Path(str(candidate))
    raise ConfigError(f"{name_or_path}: no such config file or preset (presets: {', '.join(preset_names())})")


def _deep_merge(base: dict, child: dict) -> dict:
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_tree(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A YAML file's tree with `base: <preset>` resolved (the child's keys win, recursively)."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a config file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found" if not path.exists() else f"{path}: not a regular file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: not a text file (holds NUL bytes)")
    tree = parse_yaml(text, str(path)) or {}
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    base = tree.pop("base", None)
    if base is None:
        return tree
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: base: expected a preset name or a path, got {base!r}")
    base_path = path.parent / base if base.endswith((".yaml", ".yml")) else resolve_preset(base)
    if base_path.resolve() in seen or base_path.resolve() == path.resolve():
        raise ConfigError(f"{path}: base: {base!r} inherits from itself")
    return _deep_merge(_read_tree(base_path, seen + (path.resolve(),)), tree)


def read_preset(path: str | Path, overrides: typing.Sequence[str] = ()) -> tuple[Path, dict]:
    """A preset's raw YAML tree, `base:` resolved, `key=value` overrides applied (not validated yet)."""
    path = resolve_preset(path)
    tree = _read_tree(path)
    return path, apply_overrides(tree, overrides, source=f"{path} (overrides)")


def _name_and_run_dir(tree: dict, path: Path) -> None:
    tree["name"] = tree.get("name") or path.stem
    tree["run_dir"] = tree.get("run_dir") or str(Path("runs") / tree["name"])


def config_from_tree(tree: Any, source: str = "config") -> Config:
    """Validate a raw tree (e.g. from a checkpoint) into a Config, params included."""
    config = from_dict(Config, tree, source=source)
    ENCODERS.validate_params(config.model.name, config.model.params, source, "model")
    OBJECTIVES.validate_params(config.objective.name, config.objective.params, source, "objective")
    return config


def load_config(path: str | Path, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a YAML preset (name or path), apply overrides and validate everything."""
    path, tree = read_preset(path, overrides)
    _name_and_run_dir(tree, path)
    return config_from_tree(tree, source=str(path))


def save_config(config: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))


def load_fusion_config(
    path: str | Path, overrides: typing.Sequence[str] = (), adapter: str | None = None
) -> FusionConfig:
    """Read a fusion preset, apply `key=value` overrides and `--adapter`, validate all of it."""
    path, tree = read_preset(path, overrides)
    if adapter:
        if tree.get("adapter") not in (None, adapter):
            raise ConfigError(f"{path}: adapter: the preset is for {tree['adapter']!r}, --adapter asks for {adapter!r}")
        tree["adapter"] = adapter
    _name_and_run_dir(tree, path)
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
