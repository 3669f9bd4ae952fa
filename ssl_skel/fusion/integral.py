"""IntegralAction: pose-driven feature integration (Moon, Kwon, Lee, Lee; CVPRW 2021).

What is followed (paper and its public release, `common/nets/module.py::Aggregator`):
- two streams, appearance (RGB frames through a TSM 2D CNN) and pose;
- the pose feature alone decides, per clip and per channel, the gate
  g = sigmoid(W_g f_pose) in (0, 1)^A, and the integrated feature is
      f = (1 - g) * LN(W_v f_rgb) + g * LN(W_p f_pose),
  so g is the weight of the pose stream: a clip whose appearance misleads can be
  classified from pose alone (g -> 1);
- the release's regulariser BCE(g, 1) * gate_reg nudging the gate toward pose;
- the three-stage training schedule rgb-only, pose-only, rgb+pose (stages "rgb",
  "pose", "fused"); the release initialises stage 3 from the two single-stream models,
  here the three stages train one module in order, which is the same thing.

Simplified: the pose stream is this toolkit's skeleton encoder (a clip-level vector)
instead of a ResNet on rendered heatmaps/PAFs, so the gate is per clip, not per frame;
the appearance tower is a tiny TSM CNN trained from scratch. In the fused stage the
single-stream heads keep training with weight `aux_weight` so per-stream accuracies stay
meaningful.

Shapes: views[0] (N, C, T, V, M), rgb (N, 3, F, H, W) -> predict {"fused", "rgb",
"pose"}: (N, K); gate (N, agg_dim).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import ADAPTERS
from ssl_skel.fusion.base import FusionAdapter
from ssl_skel.fusion.blocks import Classifier, FrameCNN


@dataclass(frozen=True)
class IntegralParams:
    widths: tuple[int, ...] = (16, 32, 64)  # RGB tower stage widths
    agg_dim: int = 64  # width of the integrated feature (A)
    gate: bool = True  # False: plain sum of the projected streams (the release's ablation)
    gate_reg: float = 0.01  # weight of BCE(g, 1)
    aux_weight: float = 1.0  # single-stream CE weight in the fused stage
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check(len(self.widths) >= 1 and all(w >= 1 for w in self.widths), "widths must be positive")
        check(self.agg_dim >= 1, "agg_dim must be >= 1")
        check(self.gate_reg >= 0 and self.aux_weight >= 0, "loss weights must be >= 0")
        check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")


@ADAPTERS.register("integral", params=IntegralParams)
class IntegralAction(FusionAdapter):
    streams = ("fused", "rgb", "pose")
    stages = ("all", "rgb", "pose", "fused")
    needs = ("rgb",)

    def __init__(self, encoder, params: IntegralParams, num_classes: int, rgbd, **kwargs) -> None:
        super().__init__(encoder, num_classes, rgbd, **kwargs)
        self.params = params
        a = params.agg_dim
        self.rgb_tower = FrameCNN(3, params.widths, shift=True)
        self.rgb_head = Classifier(self.rgb_tower.dim, num_classes, params.dropout)
        self.pose_head = Classifier(encoder.dim, num_classes, params.dropout)
        self.gate_fc = nn.Linear(encoder.dim, a)
        self.rgb_proj = nn.Linear(self.rgb_tower.dim, a)
        self.pose_proj = nn.Linear(encoder.dim, a)
        self.rgb_norm = nn.LayerNorm(a)
        self.pose_norm = nn.LayerNorm(a)
        self.fused_head = Classifier(a, num_classes, params.dropout)

    def stage_modules(self, stage: str) -> Iterable[nn.Module]:
        if stage == "rgb":
            return [self.rgb_tower, self.rgb_head]
        if stage == "pose":
            return [self.encoder, self.pose_head]
        return [self]

    def _features(self, batch: dict) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.stage != "pose":
            out["rgb"] = self.rgb_tower(self.video(batch, "rgb")).mean((2, 3, 4))  # (N, D_rgb)
        if self.stage != "rgb":
            out["pose"] = self.skeleton_features(batch)  # (N, D_pose)
        if "rgb" in out and "pose" in out:
            out["gate"], out["fused"] = self.integrate(out["rgb"], out["pose"])
        return out

    def integrate(self, f_rgb: torch.Tensor, f_pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, D_rgb), (N, D_pose) -> pose gate (N, A), integrated feature (N, A)."""
        if not self.params.gate:
            gate = torch.full((f_rgb.shape[0], self.params.agg_dim), 0.5, device=f_rgb.device)
            return gate, self.rgb_proj(f_rgb) + self.pose_proj(f_pose)
        gate = torch.sigmoid(self.gate_fc(f_pose))
        fused = (1 - gate) * self.rgb_norm(self.rgb_proj(f_rgb)) + gate * self.pose_norm(self.pose_proj(f_pose))
        return gate, fused

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        feats = self._features(batch)
        out = {}
        if "rgb" in feats:
            out["rgb"] = self.rgb_head(feats["rgb"])
        if "pose" in feats:
            out["pose"] = self.pose_head(feats["pose"])
        if "fused" in feats:
            out["fused"] = self.fused_head(feats["fused"])
        else:  # single-stream stages answer with their one stream
            out["fused"] = out["rgb" if self.stage == "rgb" else "pose"]
        return out

    def extra_stats(self, batch: dict) -> dict[str, torch.Tensor]:
        feats = self._features(batch)
        return {"pose_gate": feats["gate"].mean(1)} if "gate" in feats else {}

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        label = batch["label"]
        feats = self._features(batch)
        logs: dict[str, torch.Tensor] = {}
        if self.stage == "rgb":
            loss = logs["loss/ce_rgb"] = F.cross_entropy(self.rgb_head(feats["rgb"]), label)
            logs["stat/embed_std"] = feats["rgb"].std(0).mean().detach()
        elif self.stage == "pose":
            loss = logs["loss/ce_pose"] = F.cross_entropy(self.pose_head(feats["pose"]), label)
            logs["stat/embed_std"] = feats["pose"].std(0).mean().detach()
        else:
            gate = feats["gate"]
            logs["loss/ce_fused"] = F.cross_entropy(self.fused_head(feats["fused"]), label)
            logs["loss/ce_rgb"] = F.cross_entropy(self.rgb_head(feats["rgb"]), label)
            logs["loss/ce_pose"] = F.cross_entropy(self.pose_head(feats["pose"]), label)
            logs["loss/gate_reg"] = (
                F.binary_cross_entropy(gate, torch.ones_like(gate)) if self.params.gate else gate.new_zeros(())
            )
            loss = (
                logs["loss/ce_fused"]
                + self.params.aux_weight * (logs["loss/ce_rgb"] + logs["loss/ce_pose"])
                + self.params.gate_reg * logs["loss/gate_reg"]
            )
            logs["stat/pose_gate"] = gate.mean().detach()
            logs["stat/embed_std"] = feats["fused"].std(0).mean().detach()
        logs["loss"] = loss
        return logs
