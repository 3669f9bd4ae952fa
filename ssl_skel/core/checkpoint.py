"""Checkpoint files: atomic writes, validated reads, RNG state capture (which one a run resumes
from is `ssl_skel.engine.resume`).

Why atomic: a job killed while writing must leave the previous checkpoint readable, so
files are written to a temporary name in the same folder, fsynced, then renamed over the
target (rename is atomic on POSIX). Why plain types only: `torch.load(weights_only=True)`
refuses arbitrary pickles, so RNG states and metrics are stored as tensors, lists and
numbers, and a checkpoint from an untrusted source cannot run code.

File layout (a dict): format="ssl_skel/checkpoint", version, kind, config, encoder
(name, params, spec, prefix: what rebuilds the encoder alone), model, optimizer,
scheduler, scaler, epoch (completed), step, rng, metrics.

Reading a checkpoint's encoder lives here too, because pretraining, evaluation,
fine-tuning and fusion all need it: loads are strict (a mismatch names the keys; dino's
`strict=False` silently drops them) and go through `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ssl_skel.core.io import atomic_file, fsync_dir
from ssl_skel.core.registry import ENCODERS
from ssl_skel.core.safetensors_io import looks_like_safetensors, read_safetensors
from ssl_skel.core.schema import to_dict
from ssl_skel.core.shared_config import MAX_CLIP_LENGTH

FORMAT = "ssl_skel/checkpoint"
VERSION = 1
KINDS = ("pretrain", "finetune", "fusion", "encoder")
SPEC_KEYS = ("layout", "in_channels", "num_persons", "clip_length")
SPEC_LIMITS = {"in_channels": 64, "num_persons": 64, "clip_length": MAX_CLIP_LENGTH}  # far above any real input
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's archive format


class CheckpointError(Exception):
    """A checkpoint file is missing, damaged or not an ssl_skel checkpoint; names the file."""


def save_checkpoint(payload: dict, path: str | Path) -> Path:
    """torch.save `payload` to `path` atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    with atomic_file(path) as fh:
        torch.save(payload, fh)
    fsync_dir(path.parent)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", *, mmap: bool = False) -> dict:
    """Read and validate a checkpoint; CheckpointError says what is wrong with which file.

    mmap: map the tensors instead of reading them (a cheap look at the config of a large file).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if looks_like_safetensors(head):  # `ssl-skel export --format safetensors`
        try:
            payload = read_safetensors(path, map_location)
        except ValueError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        return check_payload(payload, path)
    if not head.startswith(ZIP_MAGIC) and not head.startswith(b"\x80"):
        what = "empty" if not head else f"starts with {head[:8]!r}"
        raise CheckpointError(f"{path}: not a checkpoint file ({what}; a torch.save archive starts with {ZIP_MAGIC!r})")
    try:
        mmap = mmap and head.startswith(ZIP_MAGIC)
        payload = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways on damaged bytes
        if isinstance(exc, pickle.UnpicklingError) and "weights only" in str(exc).lower():
            raise CheckpointError(
                f"{path}: holds Python objects other than tensors and plain data (loading them could run code); "
                "refused. Only checkpoints written by ssl_skel are read"
            ) from None
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({reason}){newest_hint(path)}") from None
    return check_payload(payload, path)


def check_payload(payload: Any, path: str | Path) -> dict:
    """`payload` if it is an ssl_skel checkpoint dict of a version and kind this code reads."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ssl_skel checkpoint (no format={FORMAT!r} entry)")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {version!r} is newer than this ssl_skel reads ({VERSION})")
    if payload.get("kind") not in KINDS:
        raise CheckpointError(f"{path}: unknown checkpoint kind {payload.get('kind')!r} (expected one of {KINDS})")
    return payload


def newest_hint(path: str | Path) -> str:
    """'; the newest periodic checkpoint is ...' when `path` is a run's last.pt and epoch_*.pt files exist."""
    path = Path(path)
    if path.name != "last.pt":
        return ""
    periodic = sorted(path.parent.glob("epoch_*.pt"))
    if not periodic:
        return ""
    return f"; the newest periodic checkpoint is {periodic[-1]}: resume from it with --resume {periodic[-1]}"


# --------------------------------------------------------------------------- reading
def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, with clear errors for missing, truncated or foreign files."""
    path = Path(path)
    payload = load_checkpoint(path)
    entry = payload.get("encoder")
    if not isinstance(entry, dict) or not {"name", "params", "spec"} <= set(entry):
        raise CheckpointError(f"{path}: checkpoint has no 'encoder' entry with name, params and spec")
    missing = [k for k in SPEC_KEYS if k not in entry["spec"]]
    if missing:
        raise CheckpointError(f"{path}: encoder.spec lacks {', '.join(missing)}")
    for key, limit in SPEC_LIMITS.items():
        value = entry["spec"][key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise CheckpointError(f"{path}: encoder.spec.{key} is {value!r}, expected an integer in 1..{limit}")
    if not isinstance(payload.get("model"), dict):
        raise CheckpointError(f"{path}: checkpoint has no 'model' weights")
    return payload


def encoder_entry(encoder: nn.Module, prefix: str = "encoder.") -> dict:
    """The checkpoint's "encoder" entry: what `encoder_from_checkpoint` needs to rebuild it.

    encoder: a registered encoder (its class carries `registered_name`, its `params` the
    validated parameters and its `spec` the input it was built for).
    """
    params = getattr(encoder, "params", None)
    return {
        "name": type(encoder).registered_name,
        "params": to_dict(params) if params is not None else {},
        "spec": to_dict(encoder.spec),
        "prefix": prefix,
    }


def build_encoder_from_entry(entry: dict) -> nn.Module:
    """Rebuild an (untrained) encoder from a checkpoint's "encoder" entry."""
    cls = ENCODERS.get(entry["name"]).cls
    return cls.from_entry(entry)


def _encoder_state(payload: dict, path: Path) -> dict[str, torch.Tensor]:
    prefix = payload["encoder"].get("prefix", "encoder.")
    return {k[len(prefix) :]: v for k, v in payload["model"].items() if k.startswith(prefix)}


def _load_strict(encoder: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    own = encoder.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))

    def names(keys: list[str]) -> str:
        return ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")

    problems = []
    if missing:
        problems.append(f"missing keys: {names(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {names(unexpected)}")
    if shape:
        problems.append(
            "shape mismatch: " + names([f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in shape])
        )
    if problems:
        raise CheckpointError(f"{path}: encoder weights do not match the stored encoder config ({'; '.join(problems)})")
    encoder.load_state_dict(state, strict=True)


def encoder_from_checkpoint(path: str | Path, *, load_weights: bool = True) -> tuple[nn.Module, dict]:
    """A trainable encoder rebuilt from `path` (weights loaded strictly) and the checkpoint dict.

    Fine-tuning and semi-supervised runs start from this; `load_weights=False` gives the
    randomly initialised encoder of the same architecture (the usual contrast baseline).
    """
    path = Path(path)
    payload = read_checkpoint(path)
    return encoder_from_payload(payload, path, load_weights=load_weights), payload


def encoder_from_payload(payload: dict, path: str | Path, *, load_weights: bool = True) -> nn.Module:
    """The encoder of a checkpoint dict already read (`read_checkpoint`); `path` only names it in errors.

    Why apart from `encoder_from_checkpoint`: an evaluation reads the file once, takes its seed from the
    stored config, seeds, and only then builds the encoder (a random-init baseline is the same every run).
    """
    path = Path(path)
    try:
        encoder = build_encoder_from_entry(payload["encoder"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild encoder {payload['encoder'].get('name')!r} ({exc})") from None
    if load_weights:
        state = _encoder_state(payload, path)
        check_finite_weights(state, path)
        _load_strict(encoder, state, path)
    return encoder


def check_finite_weights(state: dict[str, torch.Tensor], path: str | Path) -> None:
    """CheckpointError naming the first weight tensor that holds NaN or inf (a diverged run)."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{path}: weight {key} holds NaN/inf values (the run that wrote it diverged)")


# --------------------------------------------------------------------------- RNG state
def capture_rng() -> dict:
    """torch/numpy/python generator states as tensors and plain types."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Inverse of capture_rng."""
    torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu().to(torch.uint8) for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
