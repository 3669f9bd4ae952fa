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
from lightly.utils.debug import std_of_l2_normalized
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
    """A per-frame 2D CNN (stride-2 3x3 stages), optionally with a temporal shift (`1/fold`
    of the channels each way) before every stage after the first.

    x: (N, C_in, F, H, W) -> (N, widths[-1], F, H / 2^len(widths), W / 2^len(widths)).
    """

    def __init__(
        self, in_channels: int, widths: tuple[int, ...] = (16, 32, 64), shift: bool = False, fold: int = 8
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("FrameCNN needs at least one stage width")
        self.dim = widths[-1]
        self.shift = TemporalShift(fold) if shift else None
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


def pose_heatmaps(x: torch.Tensor, frames: int, size: int, sigma: float, fill: float) -> torch.Tensor:
    """Joint heatmaps of skeleton clips: x (N, C, T, V, M) -> (N, V, frames, size, size).

    `frames` frames at segment centres of T; each joint a Gaussian (peak 1) at its (x, y),
    the max over persons; all-zero joints (padding, absent persons) draw nothing. The clip
    is centred on the mean of its joints and scaled so that their largest offset from the
    centre spans fill / 2 of the frame.
    """
    n, _, t, v, m = x.shape
    idx = ((torch.arange(frames, dtype=torch.float64) + 0.5) * t / frames).long().clamp(max=t - 1)
    xy = x[:, :2, idx.to(x.device)].float()  # (N, 2, F, V, M)
    valid = (x[:, :, idx.to(x.device)].abs().sum(1) > 0).float()  # (N, F, V, M)
    count = valid.sum((1, 2, 3)).clamp(min=1)
    centre = (xy * valid[:, None]).sum((2, 3, 4)) / count[:, None]  # (N, 2)
    offset = (xy - centre[:, :, None, None, None]).abs() * valid[:, None]
    extent = offset.amax((1, 2, 3, 4)).clamp(min=1e-6)  # (N,)
    pix = (fill * size / 2) / extent
    col = size / 2 + (xy[:, 0] - centre[:, 0, None, None, None]) * pix[:, None, None, None]
    row = size / 2 - (xy[:, 1] - centre[:, 1, None, None, None]) * pix[:, None, None, None]
    grid = torch.arange(size, device=x.device, dtype=torch.float32) + 0.5  # pixel centres
    gx = torch.exp(-((grid - col[..., None]) ** 2) / (2 * sigma**2))  # (N, F, V, M, S)
    gy = torch.exp(-((grid - row[..., None]) ** 2) / (2 * sigma**2))
    heat = gy[..., :, None] * gx[..., None, :] * valid[..., None, None]  # (N, F, V, M, S, S)
    return heat.amax(3).permute(0, 2, 1, 3, 4).contiguous()


class Classifier(nn.Sequential):
    """Dropout then a linear layer: (N, D) -> (N, K)."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Dropout(dropout), nn.Linear(dim, num_classes))


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with a (N, K) probability target (mixing augmentations)."""
    return -(target * F.log_softmax(logits, dim=-1)).sum(-1).mean()


def embed_std(z: torch.Tensor) -> torch.Tensor:
    """Collapse signal logged as `stat/embed_std`, the same as the objectives': lightly's
    `std_of_l2_normalized`, the per-dimension std of L2-normalised (N, D) features, averaged
    (about 1/sqrt(D) when spread out, 0 when collapsed)."""
    return std_of_l2_normalized(z.detach().float())


def top1(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(-1) == labels).float().mean()
