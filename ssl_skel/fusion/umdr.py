"""UMDR: unified multimodal de- and re-coupling for RGB-D (Zhou et al., TPAMI 2023).

What is followed (paper; public code zhoubenjia/MotionRGBD-PAMI):
- per modality (RGB, depth) the spatio-temporal representation is *decoupled* into a
  spatial branch (appearance of the clip's frames) and a temporal branch (multi-scale
  temporal convolutions over per-frame features), each supervised by its own
  classifier, then *recoupled* (the spatial feature is injected back into the temporal
  tokens) into the modality's representation;
- modalities are fused by cross-modal fusion blocks: attention across the tokens of
  all modalities (here one transformer layer per block over RGB, depth and, optionally,
  the skeleton encoder's feature as an extra token);
- ShuffleMix (the release's `ShuffleMix`): a random (1 - lambda) share of each clip's
  frames is replaced by the frames of another clip in the batch, lambda ~ Beta(a, a),
  and the target is lambda * y + (1 - lambda) * y_other.

Simplified: tiny 2D CNN towers from scratch instead of the I3D/TSM backbones
pre-trained on Jester; recoupling is a learned projection of the spatial feature added
to every temporal token instead of the multi-stage self-distillation recoupling; the
skeleton stream is not mixed by ShuffleMix (its frames are not aligned 1:1 with video
frames).

Shapes: views[0] (N, C, T, V, M), rgb (N, 3, F, H, W), depth (N, 1, F, H, W) ->
predict {"fused", "rgb", "depth", "pose"}: (N, K) for the streams present.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import ADAPTERS
from ssl_skel.fusion.base import FusionAdapter
from ssl_skel.fusion.blocks import Classifier, FrameCNN, soft_cross_entropy


@dataclass(frozen=True)
class UMDRParams:
    widths: tuple[int, ...] = (16, 32, 64)
    dim: int = 64  # token width of the fusion blocks
    fusion_depth: int = 1  # number of cross-modal fusion blocks
    heads: int = 4
    use_skeleton: bool = True  # add the skeleton encoder's feature as a fusion token
    decouple_weight: float = 0.5  # CE weight of the decoupled spatial/temporal heads
    shufflemix_prob: float = 0.0  # probability that a training batch is ShuffleMixed
    shufflemix_alpha: float = 0.3  # lambda ~ Beta(alpha, alpha)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check(len(self.widths) >= 1 and self.dim >= 1 and self.heads >= 1, "widths, dim, heads must be positive")
        check(self.dim % self.heads == 0, "dim must be divisible by heads")
        check(self.fusion_depth >= 1, "fusion_depth must be >= 1")
        check(0.0 <= self.shufflemix_prob <= 1.0 and self.shufflemix_alpha > 0, "shufflemix_prob in [0, 1], alpha > 0")
        check(self.decouple_weight >= 0 and 0.0 <= self.dropout < 1.0, "decouple_weight >= 0, dropout in [0, 1)")


def shufflemix(
    videos: list[torch.Tensor], lam: float, perm: torch.Tensor, generator=None
) -> tuple[list[torch.Tensor], float]:
    """Replace round((1 - lam) F) random frames of every clip by those of clip perm[i].

    videos: [(N, C, F, H, W)] sharing F (the same frames are replaced in each modality).
    Returns the mixed videos and the realised lambda (share of frames kept).
    """
    f = videos[0].shape[2]
    k = int(round((1.0 - lam) * f))
    idx = torch.randperm(f, generator=generator)[:k].to(videos[0].device)
    mixed = []
    for v in videos:
        v = v.clone()
        v[:, :, idx] = v[perm][:, :, idx]
        mixed.append(v)
    return mixed, 1.0 - k / f


class DecoupledTower(nn.Module):
    """One modality: x (N, C, F, H, W) -> spatial (N, D), temporal (N, D), tokens (N, F, D)."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], dim: int) -> None:
        super().__init__()
        self.cnn = FrameCNN(in_channels, widths)
        c = self.cnn.dim
        self.spatial = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(inplace=True))
        self.temporal_short = nn.Conv1d(c, c, 3, padding=1)
        self.temporal_long = nn.Conv1d(c, c, 3, padding=2, dilation=2)
        self.to_token = nn.Linear(c, dim)
        self.recouple = nn.Linear(c, dim)
        self.dim_in = c

    def forward(self, x: torch.Tensor):
        maps = self.cnn(x)  # (N, c, F, h, w)
        spatial = self.spatial(maps.mean(2)).mean((2, 3))  # appearance of the clip: (N, c)
        frames = maps.mean((3, 4))  # (N, c, F)
        temporal = F.relu(self.temporal_short(frames) + self.temporal_long(frames))  # (N, c, F)
        tokens = self.to_token(temporal.transpose(1, 2)) + self.recouple(spatial)[:, None]  # recoupled (N, F, dim)
        return spatial, temporal.mean(2), tokens


@ADAPTERS.register("umdr", params=UMDRParams)
class UMDR(FusionAdapter):
    streams = ("fused", "rgb", "depth", "pose")

    def __init__(self, encoder, params: UMDRParams, num_classes: int, rgbd, **kwargs) -> None:
        super().__init__(encoder, num_classes, rgbd, **kwargs)
        self.params = params
        self.video_keys = tuple(k for k, used in (("rgb", rgbd.use_rgb), ("depth", rgbd.use_depth)) if used)
        if not self.video_keys:
            raise ValueError("umdr needs RGB or depth frames (set data.rgb and/or data.depth)")
        self.needs = self.video_keys
        self.streams = ("fused",) + self.video_keys + (("pose",) if params.use_skeleton else ())
        channels = {"rgb": 3, "depth": 1}
        self.towers = nn.ModuleDict(
            {k: DecoupledTower(channels[k], params.widths, params.dim) for k in self.video_keys}
        )
        c = params.widths[-1]
        self.heads = nn.ModuleDict()
        for k in self.video_keys:
            self.heads[f"{k}_spatial"] = Classifier(c, num_classes, params.dropout)
            self.heads[f"{k}_temporal"] = Classifier(c, num_classes, params.dropout)
            self.heads[k] = Classifier(params.dim, num_classes, params.dropout)
        n_tokens = len(self.video_keys) * rgbd.num_frames + int(params.use_skeleton)
        self.modality_embed = nn.Parameter(torch.zeros(len(self.video_keys) + 1, params.dim))
        self.time_embed = nn.Parameter(torch.zeros(rgbd.num_frames, params.dim))
        nn.init.trunc_normal_(self.modality_embed, std=0.02)
        nn.init.trunc_normal_(self.time_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(
            params.dim, params.heads, 2 * params.dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.fusion = nn.TransformerEncoder(layer, params.fusion_depth, enable_nested_tensor=False)
        self.n_tokens = n_tokens
        if params.use_skeleton:
            self.pose_token = nn.Linear(encoder.dim, params.dim)
            self.heads["pose"] = Classifier(encoder.dim, num_classes, params.dropout)
        self.heads["fused"] = Classifier(params.dim, num_classes, params.dropout)

    def _outputs(self, batch: dict, videos: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out, tokens = {}, []
        for m, key in enumerate(self.video_keys):
            spatial, temporal, tok = self.towers[key](videos[key])
            if tok.shape[1] != self.time_embed.shape[0]:
                raise ValueError(f"umdr was built for {self.time_embed.shape[0]} frames, got {tok.shape[1]}")
            out[f"{key}_spatial"] = self.heads[f"{key}_spatial"](spatial)
            out[f"{key}_temporal"] = self.heads[f"{key}_temporal"](temporal)
            out[key] = self.heads[key](tok.mean(1))
            tokens.append(tok + self.time_embed + self.modality_embed[m])
        if self.params.use_skeleton:
            pose = self.skeleton_features(batch)
            out["pose"] = self.heads["pose"](pose)
            tokens.append((self.pose_token(pose) + self.modality_embed[-1])[:, None])
        fused = self.fusion(torch.cat(tokens, 1)).mean(1)  # cross-modal blocks: (N, dim)
        out["fused"] = self.heads["fused"](fused)
        out["feat"] = fused
        return out

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        out = self._outputs(batch, {k: self.video(batch, k) for k in self.video_keys})
        return {k: out[k] for k in self.streams}

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        videos = {k: self.video(batch, k) for k in self.video_keys}
        label = batch["label"]
        target = F.one_hot(label, self.num_classes).float()
        logs: dict[str, torch.Tensor] = {}
        if self.training and self.params.shufflemix_prob > 0 and float(torch.rand(())) < self.params.shufflemix_prob:
            a = self.params.shufflemix_alpha
            lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()))).beta(a, a))
            perm = torch.randperm(label.shape[0], device=label.device)
            mixed, lam = shufflemix([videos[k] for k in self.video_keys], lam, perm)
            videos = dict(zip(self.video_keys, mixed))
            video_target = lam * target + (1 - lam) * target[perm]
            logs["stat/shufflemix_lambda"] = torch.tensor(lam)
        else:
            video_target = target
        out = self._outputs(batch, videos)
        loss = logs["loss/ce_fused"] = soft_cross_entropy(out["fused"], video_target)
        for key in self.video_keys:
            logs[f"loss/ce_{key}"] = soft_cross_entropy(out[key], video_target)
            decoupled = soft_cross_entropy(out[f"{key}_spatial"], video_target) + soft_cross_entropy(
                out[f"{key}_temporal"], video_target
            )
            logs[f"loss/ce_{key}_decoupled"] = decoupled
            loss = loss + logs[f"loss/ce_{key}"] + self.params.decouple_weight * decoupled
        if self.params.use_skeleton:
            logs["loss/ce_pose"] = F.cross_entropy(out["pose"], label)
            loss = loss + logs["loss/ce_pose"]
        logs["loss"] = loss
        logs["stat/embed_std"] = out["feat"].std(0).mean().detach()
        return logs
