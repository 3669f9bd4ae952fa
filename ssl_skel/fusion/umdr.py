"""UMDR: unified multimodal de- and re-coupling for RGB-D (Zhou et al., TPAMI 2023).

As the authors' code does it (zhoubenjia/MotionRGBD-PAMI: `lib/model/DSN_v2.py`,
`DTN_v2.py`, `trans_module.py`, `fusion_Net.py`, `train.py`, `train_fusion.py`,
`utils/mixup.py`):
- per modality (RGB "M", depth "K") a *decoupled* network: a spatial CNN with 2D kernels
  turns each frame into a token (average pool, LayerNorm, linear), and a temporal network
  reads the tokens at three frame rates (F/2, F, 3F/2 frames by `uniform_sampling`), each
  branch a temporal conv (kernel int(sqrt(rate))), a max-pool over 3 frames, a cls token
  with positional embedding and a transformer with top-k sparse attention (each query
  keeps its int(0.7 n) largest keys), a LayerNorm + linear head whose logits are divided
  by a temperature that goes 0.04 -> 0.07 over the first 30% of training; the modality's
  answer is the max over the three branches' logits;
- *recoupling* (`RCMModule`) after every CNN stage: per frame, channels attend to channels
  (q, k linear over time, one head per frame, dim_head 16) to re-mix the frame's maps, a
  sigmoid frame gate from LN(MLP(mean over c, h, w)) weights the frames, and a residual
  adds the input back; each RCM's gate logits, mapped to the token width, are distilled
  toward softmax(sum over branches of the temporal transformers' cls embedding at layer
  -(3 - i)) / 0.6 (not detached), weight 0.2, off for the first 5% of training;
- unimodal loss 1 CE(max) + 0.5 (CE(F/2) + CE(F) + CE(3F/2)) + 0.2 distillation, against
  mixed soft targets;
- CFCer cross-modal fusion: a joint LayerNorm over both modalities' frame tokens, then
  `scc_depth` (2) layers of [EnhanceModule gating (sigmoid MLPs on LN(cat(r, d)) scale
  each modality), cross-attention r<-d and d<-r]; the temporal features (mean of the
  branch cls features) are gated by another EnhanceModule and put in front of the tokens
  (LayerNorm, learned positional embedding); `tcc_depth` (4) layers of cross-attention
  follow; per-modality heads on token 0 give out_M, out_K. Cross-attention takes q and v
  from its own modality and k from the other, no output projection, top-k 0.7 mask,
  LN(out) + x, then a pre-norm FFN with residual;
- two stages as in the release: "unimodal" trains the decoupled networks, "fusion" trains
  CFCer alone on their features (extracted under no_grad), loss SoftCE(out_M) +
  SoftCE(out_K); the answer is (s_M + s_K + out_M + out_K) / 4;
- mixing on every training batch, per modality with independent draws and the partner
  batch reversed (x.flip(0)): with probability 0.2 ShuffleMix (lambda ~ Beta(0.3, 0.3);
  round((1 - lambda) F) random frames taken from the partner), otherwise mixup (lambda ~
  Beta(0.8, 0.8)); target lambda smooth(y) + (1 - lambda) smooth(y_partner), label
  smoothing 0.1, with the sampled lambda.

Remaining differences: tiny widths (token width 64, 4 heads x 16, FFN 96, transformer
depth 3 instead of 512, 8 x 64, 768, 6), a small 2D CNN instead of the I3D-style SMS
stem and blocks, one temporal conv instead of the temporal inception module; progress
through training (the temperature and distillation schedules) is counted in optimiser
steps of the current stage; "all" (not in the release) trains both stages' losses at
once; `use_skeleton` (not in UMDR, off by default) adds the toolkit's skeleton encoder
as a pose head trained with CE in the unimodal stage and averaged into the answer.

Shapes: rgb (N, 3, F, H, W), depth (N, 1, F, H, W) [, views[0] (N, C, T, V, M)] ->
predict {"fused", "rgb", "depth" [, "pose"]}: (N, K).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import ADAPTERS
from ssl_skel.fusion.base import FusionAdapter
from ssl_skel.fusion.blocks import Classifier, FrameCNN, embed_std, soft_cross_entropy


@dataclass(frozen=True)
class UMDRParams:
    widths: tuple[int, ...] = (16, 32, 64)  # spatial CNN stages; one RCM after each
    dim: int = 64  # token width (release 512)
    heads: int = 4
    dim_head: int = 16  # heads * dim_head must equal dim (cross-attention adds x to LN(out))
    mlp_dim: int = 96  # FFN width (release 768 = 1.5 * 512)
    dropout: float = 0.1  # transformer / FFN dropout (release emb_dropout 0.1)
    depth: int = 3  # temporal transformer depth per branch (release N = 6); >= len(widths)
    topk: float = 0.7  # kept share of keys per query
    rate_factor: int = 2  # branch frame rates k F / rate_factor, k = 1, 2, 3
    rcm_dim_head: int = 16
    temp_start: float = 0.04
    temp_end: float = 0.07
    temp_warmup: float = 0.3  # share of training over which the logit temperature rises
    branch_weight: float = 0.5  # loss_lamdb [1, 0.5, 0.5, 0.5]
    distill_weight: float = 0.2
    distill_temperature: float = 0.6
    distill_warmup: float = 0.05  # share of training without distillation (release 5 of 100 epochs)
    scc_depth: int = 2
    tcc_depth: int = 4
    mixup_alpha: float = 0.8  # 0 = no mixup when ShuffleMix is not drawn
    shufflemix_prob: float = 0.2
    shufflemix_alpha: float = 0.3
    smoothing: float = 0.1
    use_skeleton: bool = False

    def __post_init__(self) -> None:
        check(len(self.widths) >= 1 and self.dim >= 1 and self.heads >= 1, "widths, dim, heads must be positive")
        check(self.heads * self.dim_head == self.dim, "heads * dim_head must equal dim")
        check(self.depth >= len(self.widths), "depth must be >= len(widths) (one distillation target per RCM)")
        check(0.0 < self.topk <= 1.0 and self.rate_factor >= 1, "topk in (0, 1], rate_factor >= 1")
        check(0.0 <= self.dropout < 1.0 and self.mlp_dim >= 1, "dropout in [0, 1), mlp_dim >= 1")
        check(self.temp_start > 0 and self.temp_end > 0 and self.distill_temperature > 0, "temperatures > 0")
        check(0.0 <= self.temp_warmup <= 1.0 and 0.0 <= self.distill_warmup <= 1.0, "warm-up shares in [0, 1]")
        check(min(self.branch_weight, self.distill_weight) >= 0, "loss weights must be >= 0")
        check(self.scc_depth >= 0 and self.tcc_depth >= 0, "scc_depth, tcc_depth >= 0")
        check(0.0 <= self.shufflemix_prob <= 1.0 and self.shufflemix_alpha > 0, "shufflemix_prob in [0, 1], alpha > 0")
        check(self.mixup_alpha >= 0 and 0.0 <= self.smoothing < 1.0, "mixup_alpha >= 0, smoothing in [0, 1)")


# --------------------------------------------------------------------------- mixing
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


# --------------------------------------------------------------------------- attention
def topk_softmax(dots: torch.Tensor, topk: float) -> torch.Tensor:
    """Softmax over the int(topk * n) largest scores of each row, -inf elsewhere."""
    k = max(int(dots.shape[-1] * topk), 1)
    index = dots.topk(k, dim=-1).indices
    mask = torch.zeros_like(dots, dtype=torch.bool).scatter_(-1, index, True)
    return dots.masked_fill(~mask, float("-inf")).softmax(-1)


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, _ = x.shape
    return x.reshape(b, n, heads, -1).transpose(1, 2)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2, self.dropout = nn.Linear(dim, hidden), nn.Linear(hidden, dim), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(x)))))


class TopKSelfAttention(nn.Module):
    """Multi-head self-attention with the top-k mask and an output projection: (B, n, D) -> same."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float, topk: float) -> None:
        super().__init__()
        self.heads, self.scale, self.topk = heads, dim_head**-0.5, topk
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, -1))
        attn = topk_softmax(q @ k.transpose(-1, -2) * self.scale, self.topk)
        return self.to_out((attn @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1))


class Transformer(nn.Module):
    """Pre-norm layers; `forward` returns the output and each layer's token-0 (cls) embedding."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int, dropout: float, topk: float):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    nn.LayerNorm(dim),
                    TopKSelfAttention(dim, heads, dim_head, dropout, topk),
                    nn.LayerNorm(dim),
                    FeedForward(dim, mlp_dim, dropout),
                ]
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        cls = []
        for norm1, attn, norm2, ffn in self.layers:
            x = attn(norm1(x)) + x
            x = ffn(norm2(x)) + x
            cls.append(x[:, 0])
        return x, cls


class CrossAttention(nn.Module):
    """CFCer's AttentionNet: q, v from x_r, k from x_d, top-k mask, no output projection;
    out = LN(attn) + x_r, then out + FFN(LN(out)). x_r, x_d (B, n, D) -> (B, n, D)."""

    def __init__(self, dim: int, heads: int, dim_head: int, mlp_dim: int, dropout: float, topk: float) -> None:
        super().__init__()
        self.heads, self.scale, self.topk = heads, dim_head**-0.5, topk
        inner = heads * dim_head
        self.q, self.k, self.v = (nn.Linear(dim, inner, bias=False) for _ in range(3))
        self.norm = nn.LayerNorm(dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, mlp_dim, dropout)
        self.last_attention: torch.Tensor | None = None

    def forward(self, x_r: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        q, k = _split_heads(self.q(x_r), self.heads), _split_heads(self.k(x_d), self.heads)
        v = _split_heads(self.v(x_r), self.heads)
        attn = topk_softmax(q @ k.transpose(-1, -2) * self.scale, self.topk)
        self.last_attention = attn.detach()
        out = self.norm((attn @ v).transpose(1, 2).reshape(x_r.shape)) + x_r
        return self.ffn(self.ffn_norm(out)) + out


class EnhanceModule(nn.Module):
    """CFCer's gating: j = LN(cat(r, d)); r * sigmoid(MLP_r(j)), d * sigmoid(MLP_d(j)); also returns the gates."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(2 * dim)
        self.mlp_rgb = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.Sigmoid())
        self.mlp_depth = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.Sigmoid())

    def forward(self, xr: torch.Tensor, xd: torch.Tensor):
        joint = self.norm(torch.cat([xr, xd], -1))
        gr, gd = self.mlp_rgb(joint), self.mlp_depth(joint)
        return xr * gr, xd * gd, gr, gd


class CFCer(nn.Module):
    """Cross-modal fusion: spatial tokens (B, F, D) x 2, temporal features (B, D) x 2 ->
    out_M, out_K (B, K) and the gate/attention statistics."""

    def __init__(self, frames: int, num_classes: int, p: UMDRParams) -> None:
        super().__init__()
        d = p.dim
        args = (d, p.heads, p.dim_head, p.mlp_dim, p.dropout, p.topk)
        self.scc_norm = nn.LayerNorm(2 * d)
        self.scc = nn.ModuleList(
            nn.ModuleList([EnhanceModule(d), CrossAttention(*args), CrossAttention(*args)]) for _ in range(p.scc_depth)
        )
        self.temp_enhance = EnhanceModule(d)
        self.norm_m, self.norm_k = nn.LayerNorm(d), nn.LayerNorm(d)
        self.pos_m = nn.Parameter(torch.randn(1, frames + 1, d))
        self.pos_k = nn.Parameter(torch.randn(1, frames + 1, d))
        self.tcc_norm = nn.LayerNorm(2 * d)
        self.tcc = nn.ModuleList(
            nn.ModuleList([CrossAttention(*args), CrossAttention(*args)]) for _ in range(p.tcc_depth)
        )
        self.head_m, self.head_k = nn.Linear(d, num_classes), nn.Linear(d, num_classes)

    @staticmethod
    def _joint_norm(norm: nn.LayerNorm, xr: torch.Tensor, xd: torch.Tensor):
        return norm(torch.cat([xr, xd], -1)).chunk(2, -1)

    def forward(self, spatial_m, spatial_k, temporal_m, temporal_k):
        gates = []
        xr, xd = self._joint_norm(self.scc_norm, spatial_m, spatial_k)
        for enhance, att_m, att_k in self.scc:
            xr, xd, gr, gd = enhance(xr, xd)
            gates += [gr, gd]
            xr, xd = att_m(xr, xd), att_k(xd, xr)
        tm, tk, gr, gd = self.temp_enhance(temporal_m, temporal_k)
        gates += [gr, gd]
        xr = self.norm_m(torch.cat([tm[:, None], xr], 1)) + self.pos_m
        xd = self.norm_k(torch.cat([tk[:, None], xd], 1)) + self.pos_k
        xr, xd = self._joint_norm(self.tcc_norm, xr, xd)
        for att_m, att_k in self.tcc:
            xr, xd = att_m(xr, xd), att_k(xd, xr)
        stats = {"gate_rgb": torch.stack([g.mean() for g in gates[0::2]]).mean()}
        stats["gate_depth"] = torch.stack([g.mean() for g in gates[1::2]]).mean()
        return self.head_m(xr[:, 0]), self.head_k(xd[:, 0]), stats


# --------------------------------------------------------------------------- unimodal
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


# --------------------------------------------------------------------------- adapter
@ADAPTERS.register("umdr", params=UMDRParams)
class UMDR(FusionAdapter):
    streams = ("fused", "rgb", "depth", "pose")
    stages = ("all", "unimodal", "fusion")
    needs = ("rgb", "depth")

    @classmethod
    def encoder_used(cls, params: UMDRParams) -> bool:
        return params.use_skeleton

    def __init__(self, encoder, params: UMDRParams, num_classes: int, rgbd, **kwargs) -> None:
        self.uses_encoder = self.encoder_used(params)
        super().__init__(encoder, num_classes, rgbd, **kwargs)
        if not (rgbd.use_rgb and rgbd.use_depth):
            raise ValueError("umdr fuses RGB and depth: set both data.rgb and data.depth")
        self.params = params
        self.streams = ("fused", "rgb", "depth") + (("pose",) if params.use_skeleton else ())
        f = rgbd.num_frames
        self.nets = nn.ModuleDict(
            {"rgb": DecoupledNet(3, f, num_classes, params), "depth": DecoupledNet(1, f, num_classes, params)}
        )
        self.cfcer = CFCer(f, num_classes, params)
        if params.use_skeleton:
            self.pose_head = Classifier(encoder.dim, num_classes)
        self.progress = 0.0  # share of the current stage's optimiser steps done
        self._rng = np.random.default_rng(0)

    def stage_modules(self, stage: str) -> Iterable[nn.Module]:
        if stage == "unimodal":
            return [self.nets] + ([self.encoder, self.pose_head] if self.params.use_skeleton else [])
        if stage == "fusion":
            return [self.cfcer]
        return [self]

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.progress = min(step / max(total_steps, 1), 1.0)

    def temperature(self) -> float:
        p = self.params
        share = min(self.progress / p.temp_warmup, 1.0) if p.temp_warmup > 0 else 1.0
        return p.temp_start + (p.temp_end - p.temp_start) * share

    def _unimodal(self, videos: dict[str, torch.Tensor]) -> dict[str, dict]:
        rng = self._rng if self.training else None
        t = self.temperature()
        if self.stage == "fusion":  # CFCer learns on fixed features, as the release's FeatureCapter
            with torch.no_grad():
                return {k: self.nets[k](v, t, rng) for k, v in videos.items()}
        return {k: self.nets[k](v, t, rng) for k, v in videos.items()}

    def _fuse(self, uni: dict[str, dict]):
        r, d = uni["rgb"], uni["depth"]
        return self.cfcer(r["tokens"], d["tokens"], r["temporal"], d["temporal"])

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        uni = self._unimodal({k: self.video(batch, k) for k in ("rgb", "depth")})
        out_m, out_k, _ = self._fuse(uni)
        out = {"rgb": uni["rgb"]["logits"], "depth": uni["depth"]["logits"]}
        scores = [out["rgb"], out["depth"], out_m, out_k]
        if self.params.use_skeleton:
            out["pose"] = self.pose_head(self.skeleton_features(batch))
            scores.append(out["pose"])
        out["fused"] = torch.stack(scores).mean(0)
        return out

    def extra_stats(self, batch: dict) -> dict[str, torch.Tensor]:
        """Per clip: CFCer's mean gates, and the logit spread over classes of each of the four
        averaged scores (the unimodal ones are divided by the temperature)."""
        uni = self._unimodal({k: self.video(batch, k) for k in ("rgb", "depth")})
        out_m, out_k, stats = self._fuse(uni)
        n = batch["label"].shape[0]
        out = {k: v.detach().expand(n) for k, v in stats.items()}
        out.update({"rgb_logit_std": uni["rgb"]["logits"].std(1), "depth_logit_std": uni["depth"]["logits"].std(1)})
        out.update({"cfcer_rgb_logit_std": out_m.std(1), "cfcer_depth_logit_std": out_k.std(1)})
        return out

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        p, label = self.params, batch["label"]
        videos, targets, logs = {}, {}, {}
        for key in ("rgb", "depth"):  # independent draws per modality, one partner (the reversed batch)
            videos[key], targets[key], lam, used = mix_batch(
                self.video(batch, key), label, self.num_classes, p, self._rng
            )
            logs[f"stat/lambda_{key}"] = torch.tensor(lam)
            logs[f"stat/shufflemix_{key}"] = torch.tensor(float(used))
        uni = self._unimodal(videos)
        loss = torch.zeros(())
        if self.stage in ("unimodal", "all"):
            distill_on = self.progress >= p.distill_warmup
            for key, out in uni.items():
                ce = soft_cross_entropy(out["logits"], targets[key])
                branches = sum(soft_cross_entropy(b, targets[key]) for b in out["branch_logits"])
                logs[f"loss/ce_{key}"], logs[f"loss/ce_{key}_branches"] = ce, branches
                logs[f"loss/distill_{key}"] = rcm_distillation(out["distill"], out["cls"], p.distill_temperature)
                loss = loss + ce + p.branch_weight * branches
                if distill_on:
                    loss = loss + p.distill_weight * logs[f"loss/distill_{key}"]
            if p.use_skeleton:
                logs["loss/ce_pose"] = F.cross_entropy(self.pose_head(self.skeleton_features(batch)), label)
                loss = loss + logs["loss/ce_pose"]
        if self.stage in ("fusion", "all"):
            out_m, out_k, stats = self._fuse(uni)
            logs["loss/ce_cfcer_rgb"] = soft_cross_entropy(out_m, targets["rgb"])
            logs["loss/ce_cfcer_depth"] = soft_cross_entropy(out_k, targets["depth"])
            loss = loss + logs["loss/ce_cfcer_rgb"] + logs["loss/ce_cfcer_depth"]
            logs.update({f"stat/{k}": v.detach() for k, v in stats.items()})
        logs["loss"] = loss
        logs["stat/temperature"] = torch.tensor(self.temperature())
        logs["stat/embed_std"] = embed_std(torch.cat([uni["rgb"]["temporal"], uni["depth"]["temporal"]], 1))
        return logs
