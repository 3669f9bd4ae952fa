"""What every training method promises the one training loop.

A method owns its encoder, heads and loss; the loop owns data, optimisation, AMP, DDP,
checkpoints and logging. `forward(batch)` returns a dict of named scalar tensors: `loss`
is optimised, every other entry is logged (e.g. each loss term, `stat/embed_std`).
Buffers (queues, momentum weights) live in the module's state_dict, so checkpoints carry
them without the loop knowing they exist.
"""

from __future__ import annotations

import torch
from torch import nn

from ssl_skel.models.encoders.base import SkeletonEncoder

Batch = dict  # {"views": list[(N, C, T, V, M) tensors], "label": (N,), "index": (N,)}


class Method(nn.Module):
    def __init__(self, encoder: SkeletonEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Called after each optimiser step (momentum encoders update here)."""
