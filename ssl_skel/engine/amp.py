"""Mixed-precision policy: when to autocast, in which dtype, and whether to scale the loss.

Why a policy object: `amp: auto` must mean the same thing in pretraining, fine-tuning and
fusion. Auto = on for CUDA (bfloat16 where the GPU supports it, else float16 with a
GradScaler, since fp16 gradients underflow without loss scaling), off on CPU, where
autocast is slower than fp32 on most machines. `amp: on` on CPU autocasts to bfloat16.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AmpPolicy:
    enabled: bool
    dtype: torch.dtype | None
    device_type: str  # "cpu" or "cuda"

    @property
    def needs_scaler(self) -> bool:
        return self.enabled and self.dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler that is a no-op unless fp16 is in use."""
        return torch.amp.GradScaler(self.device_type, enabled=self.needs_scaler)

    def describe(self) -> str:
        state = f"on ({str(self.dtype).replace('torch.', '')})" if self.enabled else "off"
        return f"amp {state} on {self.device_type}"


def resolve_amp(mode: str, dtype: str, device: torch.device) -> AmpPolicy:
    """mode: auto|on|off; dtype: auto|bfloat16|float16 (TrainConfig.amp / amp_dtype)."""
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"amp must be auto, on or off, got {mode!r}")
    if dtype not in ("auto", "bfloat16", "float16"):
        raise ValueError(f"amp_dtype must be auto, bfloat16 or float16, got {dtype!r}")
    kind = device.type
    enabled = mode == "on" or (mode == "auto" and kind == "cuda")
    if not enabled:
        return AmpPolicy(False, None, kind)
    if dtype == "auto":
        if kind == "cuda":
            chosen = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            chosen = torch.bfloat16
    else:
        chosen = torch.bfloat16 if dtype == "bfloat16" else torch.float16
    if kind == "cpu" and chosen == torch.float16:
        chosen = torch.bfloat16  # CPU autocast has no fp16 GradScaler path worth using
    return AmpPolicy(True, chosen, kind)
