"""`ssl-skel info PATH`: describe a dataset folder, a config (file or preset) or a checkpoint.

Why: before spending hours on a run, one command shows what a folder holds (splits,
class balance), what a preset resolves to after validation, or which encoder and epoch a
checkpoint carries, without writing code. Checkpoints are read with
`torch.load(weights_only=True)`, so describing an untrusted file runs no code from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from ssl_skel.commands import ArgumentParser


def describe_dataset(root: Path) -> str:
    """Manifest, split sizes and per-class counts of a dataset folder."""
    from ssl_skel.data.storage import read_manifest

    manifest = read_manifest(root)
    names = manifest.get("class_names") or [str(k) for k in range(manifest["num_classes"])]
    lines = [
        f"dataset {root}",
        f"  layout {manifest['layout']}, shape (N, C, T, V, M) = {tuple(manifest['shape'])}, "
        f"{manifest['num_samples']} samples, {manifest['num_classes']} classes",
    ]
    if manifest.get("layout_def"):
        joints = manifest["layout_def"]["joints"]
        lines.append(f"  joints ({len(joints)}): {', '.join(joints)}")
    if manifest.get("preprocess"):
        lines.append("  preprocess: " + ", ".join(f"{k}={v}" for k, v in manifest["preprocess"].items()))
    if manifest.get("source"):
        lines.append("  source: " + ", ".join(f"{k}={v}" for k, v in manifest["source"].items()))
    frames = np.load(root / "num_frames.npy", mmap_mode="r")
    if len(frames):
        lines.append(
            f"  valid frames: min {int(frames.min())}, mean {float(frames.mean()):.1f}, max {int(frames.max())}"
        )
    for bench, parts in manifest["splits"].items():
        lines.append(f"  split {bench}: " + ", ".join(f"{part} {count}" for part, count in parts.items()))
        counts = {part: _class_counts(root, bench, part, len(names)) for part in parts}
        width = max(len(n) for n in names)
        lines.append(f"    {'class':<{width}}  " + "  ".join(f"{part:>6}" for part in parts))
        for k, name in enumerate(names):
            lines.append(f"    {name:<{width}}  " + "  ".join(f"{int(counts[part][k]):>6}" for part in parts))
    return "\n".join(lines)


def _class_counts(root: Path, bench: str, part: str, num_classes: int) -> np.ndarray:
    """Per-class sample counts of one split (zeros for an empty one: describing it is not using it)."""
    from ssl_skel.data.sources import open_arrays
    from ssl_skel.data.storage import DataFormatError

    try:
        return np.bincount(open_arrays(root, bench, part).split_labels, minlength=num_classes)
    except DataFormatError as exc:
        if f"split {bench} {part} is empty" not in str(exc):
            raise
        return np.zeros(num_classes, np.int64)


def describe_config(path: str | Path) -> str:
    """The validated, resolved config (defaults filled in) as YAML; fusion configs too."""
    from ssl_skel.core.config import ConfigError, load_config, parse_yaml, resolve_preset, to_dict

    file = Path(resolve_preset(path))
    try:
        tree = parse_yaml(file.read_text(), str(file)) if file.is_file() else None
    except (ConfigError, OSError, UnicodeDecodeError):
        tree = None  # load_config reports it with the file name
    if isinstance(tree, dict) and "adapter" in tree:  # a fusion run (ssl_skel.fusion)
        from ssl_skel.core.config import load_fusion_config

        cfg = load_fusion_config(path)
    else:
        cfg = load_config(path)
    return f"config {resolve_preset(path)} (valid)\n" + yaml.safe_dump(to_dict(cfg), sort_keys=False).rstrip()


def _spec_text(spec: dict | None) -> str:
    """The spec without the full layout declaration (its joint count stands in for it)."""
    if not isinstance(spec, dict):
        return str(spec)
    short = {k: v for k, v in spec.items() if k != "layout_def"}
    if spec.get("layout_def"):
        short["joints"] = len(spec["layout_def"]["joints"])
    return str(short)


def describe_checkpoint(path: Path) -> str:
    """Kind, progress, encoder spec and metrics of a checkpoint (weights_only load)."""
    from ssl_skel.core.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    encoder = ckpt.get("encoder") or {}
    model = ckpt.get("model") or {}
    num_params = sum(int(v.numel()) for v in model.values() if hasattr(v, "numel"))
    lines = [
        f"checkpoint {path}",
        f"  kind {ckpt.get('kind')}, format version {ckpt.get('version')}, "
        f"epoch {ckpt.get('epoch')} (completed), step {ckpt.get('step')}",
        f"  encoder {encoder.get('name')}, spec {_spec_text(encoder.get('spec'))}, prefix {encoder.get('prefix')!r}",
        f"  encoder params {encoder.get('params')}",
        f"  model: {len(model)} tensors, {num_params:,} values",
    ]
    config = ckpt.get("config")
    if isinstance(config, dict) and config.get("name"):
        lines.append(f"  config: {config.get('name')} (run_dir {config.get('run_dir')})")
    if ckpt.get("metrics"):
        lines.append("  metrics: " + ", ".join(f"{k}={v}" for k, v in ckpt["metrics"].items()))
    return "\n".join(lines)


def describe(path: str) -> str:
    """Pick the description by what `path` is: folder, YAML/preset, or checkpoint file."""
    from ssl_skel.commands import UserError
    from ssl_skel.core.config import ConfigError, resolve_preset

    p = Path(path)
    if p.is_dir():
        return describe_dataset(p)
    if p.suffix in (".yaml", ".yml"):
        return describe_config(p)
    if p.is_file():
        return describe_checkpoint(p)
    try:
        return describe_config(resolve_preset(path))
    except ConfigError:
        raise UserError(
            f"{path}: not found (expected a dataset folder, a config YAML or preset name, or a checkpoint)"
        ) from None


def main(argv: Sequence[str]) -> int:
    parser = ArgumentParser(prog="ssl-skel info", description=__doc__.splitlines()[0])
    parser.add_argument("path", help="dataset folder, config YAML / preset name, or checkpoint file")
    args = parser.parse_args(list(argv))
    print(describe(args.path))
    return 0
