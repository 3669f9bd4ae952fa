"""IntegralAction: pose-driven feature integration (Moon, Kwon, Lee, Lee; CVPRW 2021).

As the release does it (mks0601/IntegralAction_RELEASE, `common/nets/module.py::Aggregator`,
`main/model.py`, `main/config.py`):
- two TSM streams, appearance (RGB frames) and pose (joint heatmaps), each spatially
  averaged *per frame*; in both the temporal shift moves 1/4 + 1/4 of the channels;
- per frame, the pose feature alone gives the gate g = sigmoid(W_g p) in (0, 1)^A, and
      f = (1 - g) * LN(ReLU(BN(W_v v))) + g * LN(ReLU(BN(W_p p)))
  (the release's 1x1 conv + BN + ReLU projections, then LayerNorm), so g is the pose
  weight; without the gate (`gate: false`, the release's ablation) f = ReLU(BN(W_v v)) +
  ReLU(BN(W_p p)); the classifier maps each frame's f to logits and the clip's logits are
  their mean over frames;
- the regulariser `gate_reg` * mean BCE(g, 1) = 1.5 * mean(-log g) (release `reg_weight`
  1.5), pushing every gate element toward pose;
- the three stages rgb-only, pose-only, rgb+pose (stages "rgb", "pose", "fused"): the
  fused stage trains only the aggregator (gate, projections, norms) and the classifier,
  the two trained streams stay fixed (their BatchNorm still in train mode, as there), and
  its loss is CE(fused) + gate regulariser, no single-stream terms. The one-stage
  schedule "all" (not in the release) trains everything with `aux_weight` single-stream CE.

Remaining differences: the streams are small 2D CNNs from scratch (release: ImageNet
TSM-ResNet18s, A = 512); the pose input is joint heatmaps rendered from the skeleton
clip (`ssl_skel.fusion.blocks.pose_heatmaps`), without the release's part-affinity
fields, drawn at F evenly spaced frames of the skeleton clip (segment centres) beside the
RGB frames of the same F segments (random within them in training); one learning rate for
every stage (release: 5e-3 single-stream, 5e-4 fused), from the engine's config.
`pose_input: encoder` (not in the release) uses the toolkit's skeleton encoder instead,
whose one clip-level vector then drives the same gate for every frame; with the default
`heatmap` the encoder is not used (a `skeleton.checkpoint` is then refused as a config error).

Shapes: views[0] (N, C, T, V, M), rgb (N, 3, F, H, W) -> predict {"fused", "rgb",
"pose"}: (N, K); gate (N, F, A).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import ADAPTERS
from ssl_skel.fusion.base import FusionAdapter
from ssl_skel.fusion.blocks import Classifier, FrameCNN, embed_std, pose_heatmaps


@dataclass(frozen=True)
class IntegralParams:
    widths: tuple[int, ...] = (16, 32, 64)  # RGB tower stage widths
    pose_widths: tuple[int, ...] = (16, 32, 64)  # pose (heatmap) tower stage widths
    fold: int = 4  # temporal shift: 1/fold of the channels each way (release TSM: 1/4 + 1/4)
    pose_input: Literal["heatmap", "encoder"] = "heatmap"
    heatmap_size: int = 0  # 0 = the RGB frame size
    sigma: float = 0.5  # heatmap Gaussian sigma in pixels (release: 0.5 at 56 x 56)
    fill: float = 0.84  # the clip's joint extent spans this fraction of the heatmap
    agg_dim: int = 64  # width of the integrated feature (A; release 512)
    gate: bool = True  # False: plain sum of the projected streams (the release's ablation)
    gate_reg: float = 1.5  # weight of mean BCE(g, 1) (release reg_weight 1.5)
    aux_weight: float = 1.0  # single-stream CE weight in the one-stage schedule "all" only
    dropout: float = 0.0  # the release builds Dropout(0.5) but discards its output

    def __post_init__(self) -> None:
        check(len(self.widths) >= 1 and all(w >= 1 for w in self.widths), "widths must be positive")
        check(len(self.pose_widths) >= 1 and all(w >= 1 for w in self.pose_widths), "pose_widths must be positive")
        check(self.fold >= 2 and self.agg_dim >= 1, "fold must be >= 2, agg_dim >= 1")
        check(self.heatmap_size == 0 or self.heatmap_size >= 4, "heatmap_size must be 0 or >= 4")
        check(self.sigma > 0 and 0 < self.fill <= 1, "sigma must be > 0 and fill in (0, 1]")
        check(self.gate_reg >= 0 and self.aux_weight >= 0, "loss weights must be >= 0")
        check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")


def _projection(dim_in: int, dim_out: int) -> nn.Sequential:
    """The release's make_conv_layers([C, A], kernel 1) on (N*F, C, 1, 1): linear + BN + ReLU."""
    return nn.Sequential(nn.Linear(dim_in, dim_out), nn.BatchNorm1d(dim_out), nn.ReLU())


class Aggregator(nn.Module):
    """Per-frame pose-gated integration: v (B, C_v), p (B, C_p) -> f (B, A), gate (B, A); B = N * F."""

    def __init__(self, rgb_dim: int, pose_dim: int, agg_dim: int, gate: bool = True) -> None:
        super().__init__()
        self.use_gate = gate
        self.gate_fc = nn.Linear(pose_dim, agg_dim)
        self.rgb_proj = _projection(rgb_dim, agg_dim)
        self.pose_proj = _projection(pose_dim, agg_dim)
        self.rgb_norm = nn.LayerNorm(agg_dim)
        self.pose_norm = nn.LayerNorm(agg_dim)

    def forward(self, v: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.use_gate:
            return self.rgb_proj(v) + self.pose_proj(p), torch.full_like(v[:, :1], 0.5).expand(
                -1, self.gate_fc.out_features
            )
        gate = torch.sigmoid(self.gate_fc(p))
        fused = (1 - gate) * self.rgb_norm(self.rgb_proj(v)) + gate * self.pose_norm(self.pose_proj(p))
        return fused, gate


@ADAPTERS.register("integral", params=IntegralParams)
class IntegralAction(FusionAdapter):
    streams = ("fused", "rgb", "pose")
    stages = ("all", "rgb", "pose", "fused")
    needs = ("rgb",)

    @classmethod
    def encoder_used(cls, params: IntegralParams) -> bool:
        return params.pose_input == "encoder"

    def __init__(self, encoder, params: IntegralParams, num_classes: int, rgbd, **kwargs) -> None:
        self.uses_encoder = self.encoder_used(params)
        super().__init__(encoder, num_classes, rgbd, **kwargs)
        self.params = params
        self.heatmap_size = params.heatmap_size or rgbd.size
        self.rgb_tower = FrameCNN(3, params.widths, shift=True, fold=params.fold)
        if self.uses_encoder:
            self.pose_tower = None
            pose_dim = encoder.dim
        else:
            self.pose_tower = FrameCNN(encoder.layout.num_joints, params.pose_widths, shift=True, fold=params.fold)
            pose_dim = self.pose_tower.dim
        self.rgb_head = Classifier(self.rgb_tower.dim, num_classes, params.dropout)
        self.pose_head = Classifier(pose_dim, num_classes, params.dropout)
        self.aggregator = Aggregator(self.rgb_tower.dim, pose_dim, params.agg_dim, params.gate)
        self.fused_head = Classifier(params.agg_dim, num_classes, params.dropout)

    def stage_modules(self, stage: str) -> Iterable[nn.Module]:
        if stage == "rgb":
            return [self.rgb_tower, self.rgb_head]
        if stage == "pose":
            return [self.encoder if self.uses_encoder else self.pose_tower, self.pose_head]
        if stage == "fused":
            return [self.aggregator, self.fused_head]
        return [self]

    def pose_frames(self, batch: dict, frames: int) -> torch.Tensor:
        """(N, F, D_pose) per-frame pose features (the encoder's clip vector repeated with pose_input=encoder)."""
        if self.uses_encoder:
            return self.skeleton_features(batch)[:, None].expand(-1, frames, -1)
        p = self.params
        heat = pose_heatmaps(batch["views"][0], frames, self.heatmap_size, p.sigma, p.fill)
        return self.pose_tower(heat).mean((3, 4)).transpose(1, 2)

    def _features(self, batch: dict) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        frames = self.rgbd.num_frames
        if self.stage != "pose":
            rgb = self.video(batch, "rgb")
            frames = rgb.shape[2]
            out["rgb"] = self.rgb_tower(rgb).mean((3, 4)).transpose(1, 2)  # (N, F, D_rgb)
        if self.stage != "rgb":
            out["pose"] = self.pose_frames(batch, frames)  # (N, F, D_pose)
        if "rgb" in out and "pose" in out:
            n, f, _ = out["rgb"].shape
            fused, gate = self.aggregator(out["rgb"].reshape(n * f, -1), out["pose"].reshape(n * f, -1))
            out["fused"], out["gate"] = fused.reshape(n, f, -1), gate.reshape(n, f, -1)
        return out

    @staticmethod
    def _clip_logits(head: nn.Module, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame logits averaged over frames: (N, F, D) -> (N, K)."""
        return head(frames).mean(1)

    def _logits(self, feats: dict) -> dict[str, torch.Tensor]:
        heads = {"rgb": self.rgb_head, "pose": self.pose_head, "fused": self.fused_head}
        return {k: self._clip_logits(heads[k], feats[k]) for k in heads if k in feats}

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        out = self._logits(self._features(batch))
        if "fused" not in out:  # single-stream stages answer with their one stream
            out["fused"] = out["rgb" if self.stage == "rgb" else "pose"]
        return out

    def extra_stats(self, batch: dict) -> dict[str, torch.Tensor]:
        feats = self._features(batch)
        if "gate" not in feats:
            return {}
        g = feats["gate"]
        return {"pose_gate": g.mean((1, 2)), "pose_gate_std": g.reshape(g.shape[0], -1).std(1)}

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        label = batch["label"]
        feats = self._features(batch)
        logits = self._logits(feats)
        logs = {f"loss/ce_{k}": F.cross_entropy(v, label) for k, v in logits.items()}
        if self.stage in ("rgb", "pose"):
            loss = logs[f"loss/ce_{self.stage}"]
            logs["stat/embed_std"] = embed_std(feats[self.stage].mean(1))
        else:
            gate = feats["gate"]
            logs["loss/gate_reg"] = (
                F.binary_cross_entropy(gate, torch.ones_like(gate)) if self.params.gate else gate.new_zeros(())
            )
            loss = logs["loss/ce_fused"] + self.params.gate_reg * logs["loss/gate_reg"]
            if self.stage == "all":
                loss = loss + self.params.aux_weight * (logs["loss/ce_rgb"] + logs["loss/ce_pose"])
            logs["stat/pose_gate"] = gate.mean().detach()
            logs["stat/embed_std"] = embed_std(feats["fused"].mean(1))
        logs["loss"] = loss
        return logs
