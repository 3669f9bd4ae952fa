"""UMDR's batch mixing: label smoothing, ShuffleMix (frames from the partner clip) or mixup, per modality."""

from __future__ import annotations

import numpy as np
import torch

from ssl_skel.fusion.umdr.params import UMDRParams


def smooth_one_hot(label: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """timm's one-hot with smoothing: off = s / K, on = 1 - s + s / K."""
    off = smoothing / num_classes
    return torch.full((label.shape[0], num_classes), off, device=label.device).scatter_(
        1, label[:, None], 1.0 - smoothing + off
    )


def shufflemix(video: torch.Tensor, lam: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """ShuffleMix: round((1 - lam) F) random frames of each clip come from the reversed batch.

    video (N, C, F, H, W) -> mixed copy.
    """
    f = video.shape[2]
    idx = torch.randperm(f, generator=generator)[: int(round((1.0 - lam) * f))].to(video.device)
    mixed = video.clone()
    mixed[:, :, idx] = video.flip(0)[:, :, idx]
    return mixed


def mix_batch(
    video: torch.Tensor, label: torch.Tensor, num_classes: int, p: UMDRParams, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, float, bool]:
    """One modality's mixing draw: (mixed video, soft target, lambda, shufflemix drawn)."""
    target = smooth_one_hot(label, num_classes, p.smoothing)
    if rng.random() < p.shufflemix_prob:
        lam = float(rng.beta(p.shufflemix_alpha, p.shufflemix_alpha))
        gen = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
        video, used = shufflemix(video, lam, gen), True
    elif p.mixup_alpha > 0:
        lam = float(rng.beta(p.mixup_alpha, p.mixup_alpha))
        video, used = lam * video + (1.0 - lam) * video.flip(0), False
    else:
        return video, target, 1.0, False
    return video, lam * target + (1.0 - lam) * target.flip(0), lam, used
