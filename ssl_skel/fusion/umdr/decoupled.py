"""UMDR's decoupled network of one modality: spatial CNN with recoupling (RCM) after each stage,
temporal transformers at three frame rates, and the RCM distillation loss."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.fusion.blocks import FrameCNN
from ssl_skel.fusion.umdr.attention import Transformer
from ssl_skel.fusion.umdr.params import UMDRParams


def uniform_sampling(n: int, rate: int, rng: np.random.Generator | None) -> list[int]:
    """The release's segment sampling of `rate` indices from n frames: a random index of
    each segment [n i / rate, n (i + 1) / rate) in training, int(mean) of it at test;
    segments shorter than a frame give the float start n i / rate, truncated."""
    out = []
    for i in range(rate):
        lo = int(n * i / rate)
        seg = list(range(lo, max(lo + 1, int(n * (i + 1) / rate))))
        out.append(int(rng.choice(seg)) if rng is not None else int(np.mean(seg)))
    return out


class RCM(nn.Module):
    """Recoupling module: x (B, c, F, h, w) -> (re-mixed, frame-gated x + x, distillation logits (B, out_dim))."""

    def __init__(self, frames: int, out_dim: int, dim_head: int = 16) -> None:
        super().__init__()
        self.heads, self.scale = frames, dim_head**-0.5
        self.q = nn.Linear(frames, dim_head * frames, bias=False)
        self.k = nn.Linear(frames, dim_head * frames, bias=False)
        self.project = nn.Sequential(
            nn.Linear(frames, 2 * frames, bias=False),
            nn.GELU(),
            nn.Linear(2 * frames, frames, bias=False),
            nn.LayerNorm(frames),
        )
        self.linear = nn.Linear(frames, out_dim)

    def forward(self, x: torch.Tensor):
        b, c, t, h, w = x.shape
        pooled = x.mean((3, 4))  # (B, c, F): channels are the tokens
        q = self.q(pooled).reshape(b, c, self.heads, -1).transpose(1, 2)  # (B, F, c, d)
        k = self.k(pooled).reshape(b, c, self.heads, -1).transpose(1, 2)
        attn = (q @ k.transpose(-1, -2) * self.scale).softmax(-1)  # (B, F, c, c) per frame
        v = x.permute(0, 2, 1, 3, 4).reshape(b, t, c, h * w)
        out = (attn @ v).reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)
        project = self.project(out.mean((1, 3, 4)))  # (B, F)
        out = out * torch.sigmoid(project)[:, None, :, None, None] + x
        return out, self.linear(project)


class TemporalBranch(nn.Module):
    """One frame rate: tokens (B, rate, D) -> cls feature (B, D), logits (B, K), per-layer cls embeddings."""

    def __init__(self, rate: int, num_classes: int, p: UMDRParams) -> None:
        super().__init__()
        self.rate = rate
        kernel = max(int(rate**0.5), 1)
        self.conv = nn.Sequential(
            nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0),  # "same" for even kernels too
            nn.Conv1d(p.dim, p.dim, kernel),
            nn.BatchNorm1d(p.dim),
            nn.ReLU(),
        )
        self.pool = nn.MaxPool1d(3, stride=1, padding=1)
        self.cls_token = nn.Parameter(torch.randn(1, 1, p.dim))
        self.pos = nn.Parameter(torch.randn(1, rate + 1, p.dim))
        self.transformer = Transformer(p.dim, p.depth, p.heads, p.dim_head, p.mlp_dim, p.dropout, p.topk)
        self.head = nn.Sequential(nn.LayerNorm(p.dim), nn.Linear(p.dim, num_classes))

    def forward(self, tokens: torch.Tensor):
        x = self.pool(self.conv(tokens.transpose(1, 2))).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos[:, : x.shape[1] + 1]
        x, cls = self.transformer(x)
        return x[:, 0], self.head(x[:, 0]), cls


class DecoupledNet(nn.Module):
    """One modality: x (B, C, F, H, W) -> frame tokens (B, F, D), temporal feature (B, D),
    max-merged logits, branch logits, RCM distillation logits, branch cls embeddings."""

    def __init__(self, in_channels: int, frames: int, num_classes: int, p: UMDRParams) -> None:
        super().__init__()
        self.cnn = FrameCNN(in_channels, p.widths)
        self.rcms = nn.ModuleList(RCM(frames, p.dim, p.rcm_dim_head) for _ in p.widths)
        self.token_norm = nn.LayerNorm(self.cnn.dim)
        self.token = nn.Linear(self.cnn.dim, p.dim)
        self.rates = [k * frames // p.rate_factor for k in (1, 2, 3)]
        if min(self.rates) < 1:
            raise ValueError(f"umdr: {frames} frames give a temporal branch of rate 0 (rate_factor {p.rate_factor})")
        self.branches = nn.ModuleList(TemporalBranch(r, num_classes, p) for r in self.rates)

    def forward(self, x: torch.Tensor, temperature: float, rng: np.random.Generator | None) -> dict:
        n, c, f, h, w = x.shape
        y, distill = x.transpose(1, 2).reshape(n * f, c, h, w), []
        for stage, rcm in zip(self.cnn.stages, self.rcms):
            y = stage(y)
            _, cc, hh, ww = y.shape
            y, d = rcm(y.reshape(n, f, cc, hh, ww).transpose(1, 2))
            distill.append(d)
            y = y.transpose(1, 2).reshape(n * f, cc, hh, ww)
        tokens = self.token(self.token_norm(y.reshape(n, f, -1, y.shape[-2] * y.shape[-1]).mean(-1)))  # (B, F, D)
        feats, logits, cls = [], [], []
        for branch in self.branches:
            out = branch(tokens[:, uniform_sampling(f, branch.rate, rng)])
            feats.append(out[0])
            logits.append(out[1] / temperature)
            cls.append(out[2])
        merged = torch.stack(logits, -1).amax(-1)
        return {
            "tokens": tokens,
            "temporal": torch.stack(feats, -1).mean(-1),
            "logits": merged,
            "branch_logits": logits,
            "distill": distill,
            "cls": cls,
        }


def rcm_distillation(distill: list[torch.Tensor], cls: list[list[torch.Tensor]], tau: float) -> torch.Tensor:
    """The release's RCM_loss: RCM i of n learns softmax(sum over branches of cls[layer -(n - i)] / tau)."""
    n, loss = len(distill), distill[0].new_zeros(())
    for i, logits in enumerate(distill):
        target = torch.softmax(sum(branch[-(n - i)] for branch in cls) / tau, -1)
        loss = loss + (-target * F.log_softmax(logits / tau, -1)).sum(-1).mean()
    return loss / n
