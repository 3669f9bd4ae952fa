"""Small building blocks shared by the fusion adapters.

Why tiny CNNs built here: no pretrained video weights may be downloaded, and the
adapters must train end to end on two CPU cores, so every video tower is a few 3x3
convolutions trained from scratch. The designs' ideas (temporal shift, decoupled
spatial/temporal paths, pose-driven attention and gating) live in the adapters; the
towers only turn frames into feature maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TemporalShift(nn.Module):
    """TSM (Lin et al., ICCV 2019): move `1/fold` of the channels one frame back and
    `1/fold` one frame forward, giving a 2D CNN temporal reach at zero FLOPs.

    x: (N, C, F, H, W) -> same shape.
    """

    def __init__(self, fold: int = 8) -> None:
        super().__init__()
        if fold < 2:
            raise ValueError(f"fold must be >= 2, got {fold}")
        self.fold = fold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        k = max(c // self.fold, 1)
        out = torch.zeros_like(x)
        out[:, :k, :-1] = x[:, :k, 1:]  # from the future
        out[:, k : 2 * k, 1:] = x[:, k : 2 * k, :-1]  # from the past
        out[:, 2 * k :] = x[:, 2 * k :]
        return out


class FrameCNN(nn.Module):
    """A per-frame 2D CNN (stride-2 3x3 stages), optionally with a temporal shift before
    every stage after the first.

    x: (N, C_in, F, H, W) -> (N, widths[-1], F, H / 2^len(widths), W / 2^len(widths)).
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...] = (16, 32, 64), shift: bool = False) -> None:
        super().__init__()
        if not widths:
            raise ValueError("FrameCNN needs at least one stage width")
        self.dim = widths[-1]
        self.shift = TemporalShift() if shift else None
        stages, c = [], in_channels
        for w in widths:
            stages.append(nn.Sequential(nn.Conv2d(c, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)))
            c = w
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, f, h, w = x.shape
        y = x.transpose(1, 2).reshape(n * f, c, h, w)
        for i, stage in enumerate(self.stages):
            if self.shift is not None and i > 0:
                nf, cc, hh, ww = y.shape
                y = self.shift(y.reshape(n, f, cc, hh, ww).transpose(1, 2)).transpose(1, 2).reshape(nf, cc, hh, ww)
            y = stage(y)
        _, cc, hh, ww = y.shape
        return y.reshape(n, f, cc, hh, ww).transpose(1, 2)


class Classifier(nn.Sequential):
    """Dropout then a linear layer: (N, D) -> (N, K)."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Dropout(dropout), nn.Linear(dim, num_classes))


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with a (N, K) probability target (mixing augmentations)."""
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1).mean()


def top1(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(-1) == labels).float().mean()
