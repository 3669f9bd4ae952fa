"""Training diagnostics shared by every method: the collapse signal logged as `stat/embed_std`."""

from __future__ import annotations

import torch
from lightly.utils.debug import std_of_l2_normalized


def embed_std(z: torch.Tensor) -> torch.Tensor:
    """Per-dimension std of the L2-normalised (N, D) embeddings, averaged (lightly's collapse measure).

    About 1/sqrt(D) for spread-out embeddings, 0 when every sample maps to one point.
    """
    return std_of_l2_normalized(z.detach().float())
