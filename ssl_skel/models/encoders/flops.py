"""FLOP counting for encoders and training steps.

Why a helper: every encoder reports FLOPs per clip, and the throughput benchmark
turns clips/s into achieved GFLOP/s. PyTorch's `FlopCounterMode` counts the matrix
products (mm, addmm, bmm, convolutions, scaled-dot-product attention, forward and
backward) at the dispatcher level, so the count follows what actually runs rather than a
hand-kept formula. Element-wise work (norms, activations, softmax) is not counted, the
usual convention (a multiply-add counts as 2 FLOPs).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of everything `fn()` runs, gradients included if it calls backward()."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def count_forward_flops(fn: Callable[[], object]) -> int:
    """FLOPs of a forward pass `fn()`, run without autograd (nothing is kept)."""
    with torch.no_grad():
        return count_flops(fn)
