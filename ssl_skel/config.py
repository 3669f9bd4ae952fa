"""YAML presets validated into frozen dataclasses.

Why: a typo in a config key should stop a run before it starts, with a message that
names the key and the file, instead of silently training with a default. Every config
section is a frozen dataclass; `load_config` walks the YAML against those types and
rejects unknown keys, missing required keys, wrong types and out-of-range values.

Encoder and objective parameters depend on which encoder/objective is chosen, so
`model.params` / `objective.params` are validated against the params dataclass that the
chosen entry registered (see `ssl_skel.registry`).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml


class ConfigError(ValueError):
    """A config problem; the message names the file and the dotted key."""


# --------------------------------------------------------------------------- machinery
def _where(source: str | None, key: str) -> str:
    return f"{source}: {key}" if source else key


def _coerce(value: Any, annotation: Any, key: str, source: str | None) -> Any:
    """Check `value` against a type annotation, converting YAML's natural types."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key, source)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{_where(source, key)}: {value!r} does not match {annotation}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{_where(source, key)}: {value!r} is not one of {list(args)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{_where(source, key)}: expected a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]", source) for i, v in enumerate(value))
        if origin is tuple and args:
            if len(value) != len(args):
                raise ConfigError(f"{_where(source, key)}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{key}[{i}]", source) for i, v in enumerate(value))
    if origin is dict or annotation is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{_where(source, key)}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, source=source, prefix=key)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{_where(source, key)}: expected true/false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{_where(source, key)}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads 4e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{_where(source, key)}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{_where(source, key)}: expected a string, got {value!r}")
        return value
    if isinstance(annotation, type) and not isinstance(value, annotation):
        raise ConfigError(f"{_where(source, key)}: expected {annotation.__name__}, got {value!r}")
    return value


def from_dict(cls: type, data: Any, source: str | None = None, prefix: str = "") -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown and missing keys."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{_where(source, prefix or cls.__name__)}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        dotted = ", ".join(f"{prefix}.{k}" if prefix else str(k) for k in unknown)
        raise ConfigError(f"{_where(source, dotted)}: unknown key (allowed: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], key, source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{_where(source, key)}: missing required key")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # __post_init__ range checks
        raise ConfigError(f"{_where(source, prefix or cls.__name__)}: {exc}") from None


def to_dict(obj: Any) -> Any:
    """Plain-python view of a config (tuples become lists), for YAML and checkpoints."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def check(condition: bool, message: str) -> None:
    """Range check for `__post_init__`; `from_dict` turns it into a ConfigError."""
    if not condition:
        raise ValueError(message)


# --------------------------------------------------------------------------- schema
@dataclass(frozen=True)
class AugmentConfig:
    """Skeleton augmentations for SSL views (probabilities and magnitudes)."""

    shear: float = 0.5  # max shear coefficient (0 = off)
    rotate_deg: float = 0.0  # max rotation angle about each axis, degrees (0 = off)
    flip_prob: float = 0.5  # left/right flip with joint swap
    crop_min: float = 0.5  # temporal crop keeps a fraction in [crop_min, 1] of the valid frames
    noise_std: float = 0.0  # Gaussian noise on coordinates
    blur_prob: float = 0.0  # Gaussian blur along time
    joint_mask_prob: float = 0.0  # spatial masking: fraction of joints zeroed (round(p * V) joints)
    frame_mask_prob: float = 0.0  # temporal masking: fraction of frames zeroed (round(p * T) frames)
    axis_mask_prob: float = 0.0  # zero one coordinate axis

    def __post_init__(self) -> None:
        for name in ("flip_prob", "blur_prob", "joint_mask_prob", "frame_mask_prob", "axis_mask_prob"):
            check(0.0 <= getattr(self, name) <= 1.0, f"{name} must be in [0, 1]")
        check(0.0 < self.crop_min <= 1.0, "crop_min must be in (0, 1]")
        check(self.shear >= 0 and self.noise_std >= 0 and self.rotate_deg >= 0, "magnitudes must be >= 0")


@dataclass(frozen=True)
class DataConfig:
    """Where the arrays are and how clips are cut from them."""

    root: str  # a folder written by data_gen (or a legacy UmURL/CTR-GCN layout)
    benchmark: str  # split name in the manifest: xsub, xview, xset, ...
    clip_length: int = 64
    num_views: int = 2
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int = 2
    make_command: str = ""  # shown when the data is missing: the data_gen command that makes it

    def __post_init__(self) -> None:
        check(self.clip_length >= 2, "clip_length must be >= 2")
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
    optimizer: typing.Literal["adamw", "sgd", "lars"] = "adamw"
    lr: float = 1e-3  # for batch_size * world_size * accumulate == 256; scaled linearly
    weight_decay: float = 0.0
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
        check(self.save_every >= 1 and self.log_every >= 1, "save_every and log_every must be >= 1")


@dataclass(frozen=True)
class EvalConfig:
    """Frozen-evaluation protocol settings (linear probe and KNN)."""

    linear_epochs: int = 100
    linear_lr: float = 0.1
    linear_batch_size: int = 256
    linear_weight_decay: float = 0.0
    knn_k: int = 1
    knn_temperature: float = 0.1
    feature_batch_size: int = 256

    def __post_init__(self) -> None:
        check(self.linear_epochs >= 1 and self.knn_k >= 1, "linear_epochs and knn_k must be >= 1")


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


# --------------------------------------------------------------------------- loading
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
    tree = yaml.safe_load(yaml.safe_dump(tree))  # deep copy
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source}: override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        _set_dotted(tree, key.strip(), yaml.safe_load(raw), source)
    return tree


def resolve_preset(name_or_path: str | Path) -> Path:
    """`ntu60_xsub` -> configs/ntu60_xsub.yaml; a path is returned unchanged."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    candidate = Path(__file__).resolve().parent.parent / "configs" / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    raise ConfigError(f"{name_or_path}: no such config file or preset in configs/")


def config_from_tree(tree: Any, source: str = "config") -> Config:
    """Validate a raw tree (e.g. from a checkpoint) into a Config, params included."""
    config = from_dict(Config, tree, source=source)
    from ssl_skel import registry  # local import: registries import the model modules

    registry.ENCODERS.validate_params(config.model.name, config.model.params, source, "model")
    registry.OBJECTIVES.validate_params(config.objective.name, config.objective.params, source, "objective")
    return config


def read_preset(path: str | Path, overrides: typing.Sequence[str] = ()) -> tuple[Path, dict]:
    """A preset's raw YAML tree with `key=value` overrides applied (not validated yet)."""
    path = resolve_preset(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return path, apply_overrides(tree, overrides, source=f"{path} (overrides)")


def load_config(path: str | Path, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a YAML preset (name or path), apply overrides and validate everything."""
    path, tree = read_preset(path, overrides)
    tree.setdefault("name", path.stem)
    if not tree.get("name"):
        tree["name"] = path.stem
    if not tree.get("run_dir"):
        tree["run_dir"] = str(Path("runs") / tree["name"])
    return config_from_tree(tree, source=str(path))


def save_config(config: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
