"""Use a pretrained encoder from a checkpoint alone: `load_encoder`, `export_encoder`.

Why: a checkpoint stores the encoder's name, parameters and input spec next to its
weights, so `load_encoder(path)` needs no config file and no code from the run that made
it. Loads are strict (a mismatch names the keys: dino's `strict=False` silently drops
them) and use `torch.load(weights_only=True)`, so a checkpoint cannot run code.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ssl_skel.core.checkpoint import FORMAT, VERSION, CheckpointError, encoder_from_checkpoint, save_checkpoint
from ssl_skel.models.frozen import FrozenEncoder

log = logging.getLogger(__name__)


__all__ = ["CheckpointError", "FrozenEncoder", "load_encoder", "export_encoder"]


def load_encoder(path: str | Path, device: str | torch.device | None = None) -> FrozenEncoder:
    """Rebuild the encoder stored in a checkpoint (any kind) as a frozen eval-mode module.

    Example: `enc = load_encoder("runs/synthetic/last.pt"); z = enc.embed(x)` with
    `x: (N, C, T, V, M)` gives `(N, enc.dim)` features; `enc.embed_clips(clips)` takes raw clips
    ((T, V, C) or (M, T, V, C) arrays of any length) and prepares them as the run's evaluation did.
    """
    encoder, payload = encoder_from_checkpoint(path)
    data = (payload.get("config") or {}).get("data") or {}
    view = {"resize": data.get("resize", "endpoints"), "view": data.get("preprocess", "none")}
    frozen = FrozenEncoder(encoder, source=str(path), eval_view=view)
    if device is not None:
        frozen.to(device)
    return frozen


# --------------------------------------------------------------------------- export
def export_encoder(checkpoint: str | Path, out: str | Path) -> Path:
    """Write an encoder-only file (kind "encoder": no optimizer, heads or queues).

    The result is a regular ssl_skel checkpoint, so `load_encoder` and every evaluation
    command read it like the original.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    encoder, payload = encoder_from_checkpoint(checkpoint)
    prefix = "encoder."
    small = {
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
    save_checkpoint(small, out)
    log.info("wrote encoder-only file %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return out
