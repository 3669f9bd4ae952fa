"""Projection heads put on top of encoders by SSL objectives.

Why lightly's heads: they are tested implementations of the standard MLP projectors; the
UmURL projector is VICReg's three-layer head with narrower layers.
"""

from __future__ import annotations

from lightly.models.modules.heads import VICRegProjectionHead
from torch import nn


def umurl_projector(input_dim: int, hidden_dim: int = 0, output_dim: int = 4096) -> nn.Module:
    """(N, input_dim) -> (N, output_dim): Linear-BN-ReLU, Linear-BN-ReLU, Linear.

    UmURL (Sun et al. 2023) uses hidden = input = 2048 and output 4096 at its defaults;
    `hidden_dim=0` means hidden = input. lightly drops the bias of the linear layers that a
    BatchNorm follows (it would be cancelled by the normalisation); the authors keep it.
    """
    return VICRegProjectionHead(
        input_dim=input_dim, hidden_dim=hidden_dim or input_dim, output_dim=output_dim, num_layers=3
    )
