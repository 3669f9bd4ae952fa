"""Use a pretrained encoder from a checkpoint alone: `load_encoder`, `export_encoder`.

Why: a checkpoint stores the encoder's name, parameters and input spec next to its
weights, so `load_encoder(path)` needs no config file and no code from the run that made
it. Loads are strict (a mismatch names the keys: dino's `strict=False` silently drops
them) and use `torch.load(weights_only=True)` (or safetensors, which holds no code at all),
so a checkpoint cannot run code.

`export_encoder` hands an encoder to a deployment in four forms: "pt" (an encoder-only
checkpoint), "safetensors" (the same without pickle), "torchscript" and "onnx" (graphs of
the feature function, `ssl_skel.models.export`). It refuses a target that is not a new or
expendable regular file: see `check_target`.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import torch

from ssl_skel.core.checkpoint import (
    FORMAT,
    VERSION,
    CheckpointError,
    encoder_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from ssl_skel.core.io import DiskFullError, atomic_write_bytes, fsync_dir
from ssl_skel.core.safetensors_io import safetensors_bytes
from ssl_skel.models.export import ExportError, FeatureFunction, onnx_bytes, torchscript_bytes
from ssl_skel.models.frozen import FrozenEncoder

log = logging.getLogger(__name__)


__all__ = ["CheckpointError", "ExportError", "FrozenEncoder", "EXPORT_FORMATS", "load_encoder", "export_encoder"]

EXPORT_FORMATS = ("pt", "safetensors", "torchscript", "onnx")
SUFFIX_FORMATS = {".safetensors": "safetensors", ".onnx": "onnx", ".ts": "torchscript", ".torchscript": "torchscript"}


def load_encoder(path: str | Path, device: str | torch.device | None = None) -> FrozenEncoder:
    """Rebuild the encoder stored in a checkpoint (any kind) as a frozen eval-mode module.

    path: a pretrain, finetune or fusion checkpoint, or an export in the "pt" or "safetensors" form.
    Example: `enc = load_encoder("runs/synthetic/last.pt"); z = enc.embed(x)` with
    `x: (N, C, T, V, M)` gives `(N, enc.dim)` features; `enc.embed_clips(clips)` takes raw clips
    ((T, V, C) or (M, T, V, C) arrays of any length) and prepares them as the run's evaluation did.
    """
    encoder, payload = encoder_from_checkpoint(path)
    frozen = FrozenEncoder(encoder, source=str(path), eval_view=eval_view(payload))
    if device is not None:
        frozen.to(device)
    return frozen


def eval_view(payload: dict) -> dict:
    """The run's eval-view settings (data.resize, data.preprocess) that `FrozenEncoder.prepare` replays."""
    data = (payload.get("config") or {}).get("data") or {}
    return {"resize": data.get("resize", "endpoints"), "view": data.get("preprocess", "none")}


# --------------------------------------------------------------------------- export
def export_format(out: str | Path, format: str | None = None) -> str:
    """`format` if given, else from the file name: .safetensors, .onnx, .ts/.torchscript; anything else is "pt"."""
    if format is None:
        return SUFFIX_FORMATS.get(Path(out).suffix.lower(), "pt")
    if format not in EXPORT_FORMATS:
        raise ExportError(f"{out}: unknown export format {format!r} (known: {', '.join(EXPORT_FORMATS)})")
    return format


def _run_checkpoint_kind(path: Path) -> str | None:
    """The kind of the run checkpoint at `path` (pretrain, finetune, fusion), None for anything else."""
    if _is_torchscript(path):  # torch.load would hand it to torch.jit.load: no need to load a graph
        return None
    try:
        kind = load_checkpoint(path, mmap=True).get("kind")
    except CheckpointError:
        return None
    return None if kind == "encoder" else str(kind)


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive (a zip with a code/ folder), e.g. an earlier `--format torchscript` export."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def check_target(source: Path, out: Path, *, force: bool = False) -> Path:
    """The file an export to `out` may write (symbolic links followed), or ExportError naming `out`.

    Refused always: the source checkpoint itself, a checkpoint of a run (pretrain, finetune,
    fusion: losing it loses the run's resume state), a folder, anything that is not a regular
    file (a device such as /dev/full, a pipe, a socket), a path below a file. Refused unless
    `force`: any other existing file (an earlier export included).
    """
    target = out.resolve() if out.is_symlink() else out
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise ExportError(f"{out}: is the checkpoint being exported (export never writes over its source)")
    if target.is_dir():
        raise ExportError(f"{out}: is a folder; give the file to write, e.g. {out / 'encoder.pt'}")
    if target.exists() and not target.is_file():
        raise ExportError(f"{out}: is not a regular file (a device, pipe or socket); export writes regular files only")
    if target.is_file():
        kind = _run_checkpoint_kind(target)
        if kind is not None:
            raise ExportError(f"{out}: is a {kind} checkpoint of a run; export never overwrites one, even with --force")
        if not force:
            raise ExportError(f"{out}: exists; pass --force to overwrite it")
    elif out.is_symlink() and not force:
        raise ExportError(f"{out}: exists (a symbolic link to nothing); pass --force to overwrite it")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportError(f"{out}: cannot be created, {parent} is not a folder")
            break
    return target


def _encoder_payload(checkpoint: Path, encoder: torch.nn.Module, payload: dict, prefix: str) -> dict:
    """The encoder-only checkpoint dict (kind "encoder": no optimizer, heads or queues)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "kind": "encoder",
        "config": payload.get("config", {}),
        "encoder": {**{k: payload["encoder"][k] for k in ("name", "params", "spec")}, "prefix": prefix},
        "model": {prefix + k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()},
        "epoch": int(payload.get("epoch", 0)),
        "step": int(payload.get("step", 0)),
        "metrics": payload.get("metrics", {}),
        "source": {"checkpoint": str(checkpoint), "kind": payload.get("kind", "")},
    }


def _export_bytes(fmt: str, checkpoint: Path, out: Path, encoder: torch.nn.Module, payload: dict) -> bytes:
    """The file's bytes for the safetensors, torchscript and onnx forms."""
    if fmt == "safetensors":
        small = _encoder_payload(checkpoint, encoder, payload, "")
        try:
            return safetensors_bytes(small, small["model"])
        except ValueError as exc:
            raise ExportError(f"{checkpoint}: {exc}") from None
    write = torchscript_bytes if fmt == "torchscript" else onnx_bytes
    try:
        return write(FeatureFunction(encoder, eval_view=eval_view(payload)))
    except ExportError as exc:
        raise ExportError(f"{out}: {exc}") from None


def export_encoder(checkpoint: str | Path, out: str | Path, format: str | None = None, *, force: bool = False) -> Path:
    """Write the encoder of `checkpoint` to `out` in one of EXPORT_FORMATS; returns `out`.

    format: "pt", an encoder-only checkpoint (kind "encoder": no optimizer, heads or queues) that
    `load_encoder` and every evaluation command read like the original; "safetensors", the same
    weights with the encoder entry and config as JSON metadata (`load_encoder` reads it, no pickle);
    "torchscript" / "onnx": the feature function `x: (N, C, T, V, M) -> (N, dim)` that
    `load_encoder(checkpoint).embed(x)` computes, batch axis dynamic (`ssl_skel.models.export`).
    None: from the suffix of `out` (.safetensors, .onnx, .ts/.torchscript), else "pt".
    force: overwrite an existing file that is not a run's checkpoint (see `check_target`).
    The write is atomic: a failed or killed export leaves `out` as it was.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    fmt = export_format(out, format)
    target = check_target(checkpoint, out, force=force)
    encoder, payload = encoder_from_checkpoint(checkpoint)
    data = None if fmt == "pt" else _export_bytes(fmt, checkpoint, out, encoder, payload)
    try:
        if data is None:
            save_checkpoint(_encoder_payload(checkpoint, encoder, payload, "encoder."), target)
        else:
            atomic_write_bytes(target, data)
            fsync_dir(target.parent)
    except DiskFullError:
        raise
    except OSError as exc:  # a read-only folder or file system, ...
        raise ExportError(f"{out}: cannot write ({exc.strerror or exc})") from None
    log.info("wrote %s encoder %s (%.2f MB)", fmt, out, target.stat().st_size / 1e6)
    return out
