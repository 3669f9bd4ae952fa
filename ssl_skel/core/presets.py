"""Presets: finding one by name, `base:` inheritance and `key=value` overrides (before validation).

Why one place: every run kind (pretraining, evaluation, fusion) reads its YAML through
`read_preset`, so a preset name, a relative `base:` and an override mean the same everywhere.
"""

from __future__ import annotations

import copy
import importlib.resources
import typing
from pathlib import Path
from typing import Any

from ssl_skel.core.safe_yaml import MAX_CONFIG_BYTES, parse_yaml
from ssl_skel.core.schema import ConfigError


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


def default_name_and_run_dir(tree: dict, path: Path) -> None:
    """A run without `name` is named after its preset file; without `run_dir` it writes to runs/<name>."""
    tree["name"] = tree.get("name") or path.stem
    tree["run_dir"] = tree.get("run_dir") or str(Path("runs") / tree["name"])
