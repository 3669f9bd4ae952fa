"""Which compute device a `--device` argument may name: checked before anything is built.

Why: `torch.device("tpu")` or CUDA on a machine without it fail deep inside a run with a
traceback; every command that takes --device checks it here first and says what is available.
"""

from __future__ import annotations

import argparse


def device_arg(text: str) -> str:
    """argparse type for --device: cpu, cuda, cuda:N or mps, and only one this machine has."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device (use cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has no usable CUDA device (use cpu)")
        if device.index is not None and device.index >= count:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {count} CUDA device(s) (cuda:0..{count - 1})")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise argparse.ArgumentTypeError(f"{text!r}: MPS is not available on this machine (use cpu)")
    elif device.type != "cpu":
        raise argparse.ArgumentTypeError(f"{text!r}: unsupported device type {device.type!r} (use cpu, cuda or mps)")
    return text
