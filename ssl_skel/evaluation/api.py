"""Use a pretrained encoder from a checkpoint alone: `load_encoder`, `export_encoder`.

Why: a checkpoint stores the encoder's name, parameters and input spec next to its
weights, so `load_encoder(path)` needs no config file and no code from the run that made
it. Loads are strict (a mismatch names the keys: dino's `strict=False` silently drops
them) and use `torch.load(weights_only=True)`, so a checkpoint cannot run code.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ssl_skel.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder

log = logging.getLogger(__name__)

FORMAT = "ssl_skel/checkpoint"
SPEC_KEYS = ("layout", "in_channels", "num_persons", "clip_length")

__all__ = ["CheckpointError", "FrozenEncoder", "load_encoder", "export_encoder", "read_checkpoint",
           "encoder_from_checkpoint", "build_encoder_from_entry"]


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
    if not isinstance(payload.get("model"), dict):
        raise CheckpointError(f"{path}: checkpoint has no 'model' weights")
    return payload


def build_encoder_from_entry(entry: dict) -> SkeletonEncoder:
    """Rebuild an (untrained) encoder from a checkpoint's "encoder" entry."""
    spec = InputSpec(**{k: entry["spec"][k] for k in SPEC_KEYS})
    from ssl_skel.models.encoders import build_encoder

    return build_encoder(entry["name"], dict(entry["params"]), spec)


def _encoder_state(payload: dict, path: Path) -> dict[str, torch.Tensor]:
    prefix = payload["encoder"].get("prefix", "encoder.")
    return {k[len(prefix):]: v for k, v in payload["model"].items() if k.startswith(prefix)}


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
        problems.append("shape mismatch: " + names([f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in shape]))
    if problems:
        raise CheckpointError(f"{path}: encoder weights do not match the stored encoder config ({'; '.join(problems)})")
    encoder.load_state_dict(state, strict=True)


def encoder_from_checkpoint(path: str | Path, *, load_weights: bool = True) -> tuple[SkeletonEncoder, dict]:
    """A trainable encoder rebuilt from `path` (weights loaded strictly) and the checkpoint dict.

    Fine-tuning and semi-supervised runs start from this; `load_weights=False` gives the
    randomly initialised encoder of the same architecture (the usual contrast baseline).
    """
    path = Path(path)
    payload = read_checkpoint(path)
    try:
        encoder = build_encoder_from_entry(payload["encoder"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild encoder {payload['encoder'].get('name')!r} ({exc})") from None
    if load_weights:
        _load_strict(encoder, _encoder_state(payload, path), path)
    return encoder, payload


# --------------------------------------------------------------------------- frozen module
class FrozenEncoder(nn.Module):
    """A pretrained encoder for feature extraction: eval mode, no gradients, ever.

    `.train()` from a parent module leaves the encoder in eval mode, so BatchNorm
    statistics cannot drift during a linear probe (moco-v3's sanity check asserts the same).
    """

    def __init__(self, encoder: SkeletonEncoder, source: str = "") -> None:
        super().__init__()
        self.encoder = encoder
        self.source = source
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.encoder.eval()

    def train(self, mode: bool = True) -> "FrozenEncoder":  # noqa: ARG002 - frozen on purpose
        super().train(False)
        return self

    @property
    def dim(self) -> int:
        return int(self.encoder.dim)

    @property
    def spec(self) -> InputSpec:
        return self.encoder.spec

    @property
    def layout(self) -> str:
        return self.encoder.spec.layout

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.encoder.modalities)

    @property
    def device(self) -> torch.device:
        first = next(iter(self.encoder.parameters()), None)
        return first.device if first is not None else torch.device("cpu")

    def resolve(self, modality: str | None) -> str:
        """'fused' on a single-stream encoder is its one stream; unknown names are errors."""
        if modality is None or (modality == "fused" and "fused" not in self.modalities):
            return self.modalities[0]
        if modality not in self.modalities:
            raise ValueError(f"encoder offers modalities {self.modalities}, not {modality!r}")
        return modality

    def check_input(self, x: torch.Tensor) -> None:
        """x: (N, C, T, V, M); fails saying which C, V, M the encoder was trained on."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor (N, C, T, V, M), got {type(x).__name__}")
        self.encoder.check_input(x)

    def embed_modalities(self, x: torch.Tensor, modalities: Sequence[str]) -> dict[str, torch.Tensor]:
        """x: (N, C, T, V, M) -> {modality: (N, dim)} in one pass through the encoder."""
        self.check_input(x)
        names = {m: self.resolve(m) for m in modalities}
        with torch.inference_mode():
            out = self.encoder.forward_modalities(x.to(self.device, torch.float32), tuple(dict.fromkeys(names.values())))
        return {m: out[n].float() for m, n in names.items()}

    def embed(self, x: torch.Tensor, modality: str | None = "fused") -> torch.Tensor:
        """x: (N, C, T, V, M) joints -> (N, dim) features ("fused" for unified encoders)."""
        return self.embed_modalities(x, (modality or self.modalities[0],))[modality or self.modalities[0]]

    def forward(self, x: torch.Tensor, modality: str | None = "fused") -> torch.Tensor:
        return self.embed(x, modality)


def load_encoder(path: str | Path, device: str | torch.device | None = None) -> FrozenEncoder:
    """Rebuild the encoder stored in a checkpoint (any kind) as a frozen eval-mode module.

    Example: `enc = load_encoder("runs/synthetic/last.pt"); z = enc.embed(x)` with
    `x: (N, C, T, V, M)` gives `(N, enc.dim)` features.
    """
    encoder, _ = encoder_from_checkpoint(path)
    frozen = FrozenEncoder(encoder, source=str(path))
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
        "version": 1,
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


def describe(encoder: FrozenEncoder) -> dict[str, Any]:
    """Plain summary for logs and results files."""
    return {"dim": encoder.dim, "layout": encoder.layout, "modalities": list(encoder.modalities),
            "parameters": encoder.encoder.num_parameters(), "source": encoder.source}
