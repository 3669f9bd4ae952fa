"""The parts of one optimiser step around the method's forward: the batch onto the device, the
method's output read as named scalars, the stop on a non-finite loss, the gradient norm and clipping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN/inf; the message names the step and the term."""


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict:
    nb = device.type == "cuda"
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.to(device, non_blocking=nb)
        elif isinstance(value, (list, tuple)):
            out[key] = [v.to(device, non_blocking=nb) if isinstance(v, torch.Tensor) else v for v in value]
        else:
            out[key] = value
    return out


def scalar_terms(out: Any) -> dict[str, torch.Tensor]:
    """The method's output as {name: 0-d float tensor}; checks the contract."""
    if not isinstance(out, Mapping) or "loss" not in out:
        raise TypeError(f"a method's forward must return a dict with a 'loss' entry, got {type(out).__name__}")
    terms = {}
    for name, value in out.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"method output {name!r} must be a scalar, got shape {tuple(value.shape)}")
            terms[name] = value.detach().float().reshape(())
        elif isinstance(value, (int, float)):
            terms[name] = torch.tensor(float(value))
    return terms


def check_finite(
    names: list[str], values: torch.Tensor, step: int, epoch: int, batch: int, last_good: Path | None
) -> None:
    bad = [f"{n}={v}" for n, v in zip(names, values.tolist()) if not math.isfinite(v)]
    if bad:
        where = f"{last_good}" if last_good is not None else "none written yet"
        raise NonFiniteLossError(
            f"non-finite loss at step {step} (epoch {epoch}, batch {batch}): {', '.join(bad)}; "
            f"training stopped before this update; last good checkpoint: {where}. "
            "Lower train.lr, raise train.warmup_epochs or set train.clip_grad, then resume."
        )


def grad_norm_and_clip(params: list[torch.Tensor], optimizer, scaler, clip: float) -> float:
    """Global gradient norm (after unscaling), clipped to `clip` when > 0."""
    scaler.unscale_(optimizer)  # a no-op without fp16 loss scaling
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norm = torch.nn.utils.get_total_norm(grads)
    if clip > 0:
        torch.nn.utils.clip_grads_with_norm_(params, clip, norm)
    return float(norm)
