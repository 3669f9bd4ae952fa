"""Checkpoint files: atomic writes, validated reads, resume lookup, RNG state capture.

Why atomic: a job killed while writing must leave the previous checkpoint readable, so
files are written to a temporary name in the same folder, fsynced, then renamed over the
target (rename is atomic on POSIX). Why plain types only: `torch.load(weights_only=True)`
refuses arbitrary pickles, so RNG states and metrics are stored as tensors, lists and
numbers, and a checkpoint from an untrusted source cannot run code.

File layout (a dict, see the shared contract in DESIGN.md / issue 3):
  format="ssl_skel/checkpoint", version=1, kind, config, encoder, model, optimizer,
  scheduler, scaler, epoch (completed), step, rng, metrics.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssl_skel.data.storage import atomic_file

FORMAT = "ssl_skel/checkpoint"
VERSION = 1
KINDS = ("pretrain", "finetune", "fusion", "encoder")


class CheckpointError(Exception):
    """A checkpoint file is missing, damaged or not an ssl_skel checkpoint; names the file."""


def save_checkpoint(payload: dict, path: str | Path) -> Path:
    """torch.save `payload` to `path` atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    with atomic_file(path) as fh:
        torch.save(payload, fh)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read and validate a checkpoint; CheckpointError says what is wrong with which file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways on damaged bytes
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an ssl_skel checkpoint (no format={FORMAT!r} entry)")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {version!r} is newer than this ssl_skel reads ({VERSION})")
    if payload.get("kind") not in KINDS:
        raise CheckpointError(f"{path}: unknown checkpoint kind {payload.get('kind')!r} (expected one of {KINDS})")
    return payload


def find_resume(run_dir: str | Path, resume: bool | str | Path | None) -> Path | None:
    """Which checkpoint to continue from.

    resume="auto" or True: run_dir/last.pt if it exists, else start fresh;
    resume=False/None/"none": start fresh; any other value: that path (must exist).
    """
    if resume is None or resume is False or (isinstance(resume, str) and resume.lower() in ("none", "no", "false", "")):
        return None
    if resume is True or (isinstance(resume, str) and resume.lower() == "auto"):
        last = Path(run_dir) / "last.pt"
        return last if last.is_file() else None
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint to resume from not found")
    return path


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
