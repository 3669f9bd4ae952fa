"""EPAM-Net: pose-guided spatio-temporal attention (Abdelkawy et al., Neurocomputing 2025).

What is followed: an efficient RGB stream (a 2D CNN with temporal shift modules instead
of a 3D CNN) whose feature maps are weighted in space (regions of each frame) and in
time (frames of the clip) by attention computed from the skeleton stream's features;
each stream has its own classifier and loss, and the two streams' class scores are
fused late: p = w * softmax(s_rgb) + (1 - w) * softmax(s_pose).

Simplified: the skeleton stream is this toolkit's skeleton encoder (one clip-level
vector), so the attention is query-key attention with a query from the pose feature:
    a_s(t, h, w) = softmax_{h,w}( q_s . k_s(x_{t,h,w}) / sqrt(A) ),  f_t = sum a_s x_t
    a_t(t)       = softmax_t( q_t . k_t(f_t) / sqrt(A) ),            f = sum_t a_t f_t
instead of EPAM-Net's attention maps derived from an X3D pose-heatmap stream. At
initialisation the attention is uniform, i.e. plain average pooling.

Shapes: views[0] (N, C, T, V, M), rgb (N, 3, F, H, W) -> predict {"fused", "rgb",
"pose"}: (N, K) ("fused" holds log fused probabilities).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import ADAPTERS
from ssl_skel.fusion.base import FusionAdapter
from ssl_skel.fusion.blocks import Classifier, FrameCNN


@dataclass(frozen=True)
class EPAMParams:
    widths: tuple[int, ...] = (16, 32, 64)
    attn_dim: int = 32  # A
    fusion_weight: float = 0.5  # w: weight of the RGB scores in the late fusion
    rgb_weight: float = 1.0  # loss weight of the RGB stream
    pose_weight: float = 1.0  # loss weight of the pose stream
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check(len(self.widths) >= 1 and self.attn_dim >= 1, "widths and attn_dim must be positive")
        check(0.0 <= self.fusion_weight <= 1.0, "fusion_weight must be in [0, 1]")
        check(self.rgb_weight >= 0 and self.pose_weight >= 0, "loss weights must be >= 0")
        check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")


class PoseGuidedAttention(nn.Module):
    """maps (N, D, F, h, w), pose (N, P) -> pooled (N, D), spatial (N, F, h, w), temporal (N, F)."""

    def __init__(self, dim: int, pose_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.scale = 1.0 / math.sqrt(attn_dim)
        self.q_s, self.q_t = nn.Linear(pose_dim, attn_dim), nn.Linear(pose_dim, attn_dim)
        self.k_s, self.k_t = nn.Conv3d(dim, attn_dim, 1), nn.Conv1d(dim, attn_dim, 1)
        for layer in (self.q_s, self.q_t):  # start from uniform attention (average pooling)
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, maps: torch.Tensor, pose: torch.Tensor):
        n, d, f, h, w = maps.shape
        logits = torch.einsum("na,nafhw->nfhw", self.q_s(pose), self.k_s(maps)) * self.scale
        spatial = logits.reshape(n, f, h * w).softmax(-1).reshape(n, f, h, w)
        frames = torch.einsum("nfhw,ndfhw->ndf", spatial, maps)  # (N, D, F)
        temporal = (torch.einsum("na,naf->nf", self.q_t(pose), self.k_t(frames)) * self.scale).softmax(-1)
        return torch.einsum("nf,ndf->nd", temporal, frames), spatial, temporal


@ADAPTERS.register("epam", params=EPAMParams)
class EPAMNet(FusionAdapter):
    streams = ("fused", "rgb", "pose")
    needs = ("rgb",)

    def __init__(self, encoder, params: EPAMParams, num_classes: int, rgbd, **kwargs) -> None:
        super().__init__(encoder, num_classes, rgbd, **kwargs)
        self.params = params
        self.rgb_tower = FrameCNN(3, params.widths, shift=True)
        self.attention = PoseGuidedAttention(self.rgb_tower.dim, encoder.dim, params.attn_dim)
        self.rgb_head = Classifier(self.rgb_tower.dim, num_classes, params.dropout)
        self.pose_head = Classifier(encoder.dim, num_classes, params.dropout)

    def _scores(self, batch: dict) -> dict[str, torch.Tensor]:
        pose = self.skeleton_features(batch)
        pooled, spatial, temporal = self.attention(self.rgb_tower(self.video(batch, "rgb")), pose)
        return {"rgb": self.rgb_head(pooled), "pose": self.pose_head(pose), "feat": pooled, "temporal": temporal}

    def late_fusion(self, rgb: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """log(w softmax(rgb) + (1 - w) softmax(pose)): (N, K)."""
        w = self.params.fusion_weight
        return torch.log(w * rgb.softmax(-1) + (1 - w) * pose.softmax(-1) + 1e-12)

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        s = self._scores(batch)
        return {"fused": self.late_fusion(s["rgb"], s["pose"]), "rgb": s["rgb"], "pose": s["pose"]}

    def extra_stats(self, batch: dict) -> dict[str, torch.Tensor]:
        return {"frame_attention_peak": self._scores(batch)["temporal"].max(-1).values}

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        s, label = self._scores(batch), batch["label"]
        logs = {"loss/ce_rgb": F.cross_entropy(s["rgb"], label), "loss/ce_pose": F.cross_entropy(s["pose"], label)}
        logs["loss"] = self.params.rgb_weight * logs["loss/ce_rgb"] + self.params.pose_weight * logs["loss/ce_pose"]
        logs["stat/embed_std"] = s["feat"].std(0).mean().detach()
        return logs
