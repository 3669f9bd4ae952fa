"""EPAM-Net: pose-guided spatio-temporal attention (Abdelkawy et al., Neurocomputing 2025).

As the authors' code does it (ahmed-nady/Multimodal-Action-Recognition,
`RGBPoseAttentionActionRecognizer` with `CBAMSpatialEfficientTemporalAttention('nested')`):
- two X-ShiftNet-style streams, 2D CNNs with a temporal shift (RGB: 1/8 + 1/8 of the
  channels shifted, pose: 1/4 + 1/4); the pose stream sees joint heatmaps (one Gaussian
  per joint and frame, sigma 0.6 heatmap pixels, the max over persons, as PoseC3D's
  `GeneratePoseTarget`) rendered from the skeleton clip, at `pose_frame_factor` (3) times
  the RGB frame count; RGB frame i lines up with pose frame 3i (a plain frame selection);
- the attention comes from the pose stream's feature maps alone:
      s = sigmoid(BN(Conv3d_{1xkxk, no bias}([max_c P ; mean_c P])))      (N, 1, F, h, w)
      t = sigmoid(Conv1d_{k_t, no bias}(mean_{h,w} s))                     (N, 1, F, 1, 1)
      att = s * t,   guided RGB maps = R + R * att
  applied once, to the RGB tower's last maps; nothing is detached, so the RGB loss also
  trains the pose stream through the attention;
- each stream has its head (average pooling, dropout 0.5, linear with N(0, 0.01) init),
  the loss is CE(guided RGB) + CE(pose) (1:1), the pose head pools all pose frames, and
  the fused answer is the raw logit sum s_rgb + s_pose.

Remaining differences: the streams are small 2D CNNs with one shift before each stage
after the first (the release: X3D blocks with a shift in every block, SE, Swish), trained
from scratch together (the release fine-tunes separately pretrained unimodal networks);
heatmaps are rendered per clip from the joints (centred on the clip's joints, body extent
filling `fill` of the frame), not from HRNet keypoints in pre-cropped videos, so on other
data the RGB frames and the heatmaps line up only as well as the frames are centred on
the actor; no keypoint scores (every heatmap peak is 1). EPAM-Net has no skeleton encoder:
the toolkit's encoder passed to this adapter is not used (kept frozen), and a pretrained
`skeleton.checkpoint` is refused as a config error. Optimiser and schedule are the engine's.

Shapes: views[0] (N, C, T, V, M), rgb (N, 3, F, H, W) -> predict {"fused", "rgb",
"pose"}: (N, K).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import ADAPTERS
from ssl_skel.fusion.base import FusionAdapter
from ssl_skel.fusion.blocks import Classifier, FrameCNN, embed_std, pose_heatmaps


@dataclass(frozen=True)
class EPAMParams:
    widths: tuple[int, ...] = (16, 32, 64)  # RGB tower stages (stride 2 each)
    pose_widths: tuple[int, ...] = (16, 32)  # pose tower stages; its maps must match the RGB maps' size
    rgb_fold: int = 8  # RGB shift: 1/8 of the channels each way (release: fold_div 8)
    pose_fold: int = 4  # pose shift: 1/4 each way (release: fold_div 4)
    heatmap_size: int = 0  # pose heatmaps are heatmap_size^2; 0 = half the RGB frame size
    sigma: float = 0.6  # Gaussian sigma in heatmap pixels (release: 0.6)
    fill: float = 0.84  # the clip's joint extent spans this fraction of the heatmap
    pose_frame_factor: int = 3  # pose frames per RGB frame (release: 48 pose / 16 RGB)
    spatial_kernel: int = 7  # k of the (1, k, k) spatial attention conv
    temporal_kernel: int = 7  # k_t of the temporal Conv1d
    dropout: float = 0.5  # head dropout (release I3DHead: 0.5)
    rgb_weight: float = 1.0
    pose_weight: float = 1.0
    attention: bool = True  # False: the ablation without pose guidance (guided RGB = RGB)

    def __post_init__(self) -> None:
        check(len(self.widths) >= 1 and len(self.pose_widths) >= 1, "widths and pose_widths need a stage")
        check(self.rgb_fold >= 2 and self.pose_fold >= 2, "rgb_fold and pose_fold must be >= 2")
        check(self.heatmap_size == 0 or self.heatmap_size >= 4, "heatmap_size must be 0 or >= 4")
        check(self.sigma > 0 and 0 < self.fill <= 1, "sigma must be > 0 and fill in (0, 1]")
        check(self.pose_frame_factor >= 1, "pose_frame_factor must be >= 1")
        check(self.spatial_kernel % 2 == 1 and self.temporal_kernel % 2 == 1, "attention kernels must be odd")
        check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        check(self.rgb_weight >= 0 and self.pose_weight >= 0, "loss weights must be >= 0")


def _stride2_size(size: int, stages: int) -> int:
    for _ in range(stages):
        size = (size + 1) // 2
    return size


class PoseAttention(nn.Module):
    """EPAM-Net's nested spatial-temporal attention from pose feature maps.

    pose (N, C, F, h, w) -> att (N, 1, F, h, w) = spatial (N, 1, F, h, w) * temporal (N, 1, F, 1, 1).
    """

    def __init__(self, spatial_kernel: int = 7, temporal_kernel: int = 7) -> None:
        super().__init__()
        self.spatial_conv = nn.Conv3d(2, 1, (1, spatial_kernel, spatial_kernel), padding="same", bias=False)
        self.spatial_bn = nn.BatchNorm3d(1, eps=1e-5, momentum=0.01)
        self.temporal_conv = nn.Conv1d(1, 1, temporal_kernel, padding=temporal_kernel // 2, bias=False)
        for conv in (self.spatial_conv, self.temporal_conv):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = torch.cat([pose.amax(1, keepdim=True), pose.mean(1, keepdim=True)], 1)  # (N, 2, F, h, w)
        spatial = torch.sigmoid(self.spatial_bn(self.spatial_conv(pooled)))
        temporal = torch.sigmoid(self.temporal_conv(spatial.mean((3, 4))))[..., None, None]  # (N, 1, F, 1, 1)
        return spatial * temporal, spatial, temporal


def _head(dim: int, num_classes: int, dropout: float) -> Classifier:
    head = Classifier(dim, num_classes, dropout)
    nn.init.normal_(head[1].weight, std=0.01)
    nn.init.zeros_(head[1].bias)
    return head


@ADAPTERS.register("epam", params=EPAMParams)
class EPAMNet(FusionAdapter):
    streams = ("fused", "rgb", "pose")
    needs = ("rgb",)
    uses_encoder = False

    def __init__(self, encoder, params: EPAMParams, num_classes: int, rgbd, **kwargs) -> None:
        super().__init__(encoder, num_classes, rgbd, **kwargs)
        self.params = params
        rgb_hw = _stride2_size(rgbd.size, len(params.widths))
        self.heatmap_size = params.heatmap_size or max(rgbd.size // 2, 1)
        pose_hw = _stride2_size(self.heatmap_size, len(params.pose_widths))
        if rgb_hw != pose_hw:
            raise ValueError(
                f"epam: RGB maps are {rgb_hw}x{rgb_hw} (size {rgbd.size}, {len(params.widths)} stages) but pose maps "
                f"{pose_hw}x{pose_hw} (heatmap_size {self.heatmap_size}, {len(params.pose_widths)} stages); "
                "the attention needs the same grid"
            )
        self.num_joints = encoder.layout.num_joints
        self.rgb_tower = FrameCNN(3, params.widths, shift=True, fold=params.rgb_fold)
        self.pose_tower = FrameCNN(self.num_joints, params.pose_widths, shift=True, fold=params.pose_fold)
        self.attention = PoseAttention(params.spatial_kernel, params.temporal_kernel)
        self.rgb_head = _head(self.rgb_tower.dim, num_classes, params.dropout)
        self.pose_head = _head(self.pose_tower.dim, num_classes, params.dropout)

    def heatmaps(self, batch: dict, frames: int) -> torch.Tensor:
        p = self.params
        return pose_heatmaps(batch["views"][0], frames * p.pose_frame_factor, self.heatmap_size, p.sigma, p.fill)

    def _scores(self, batch: dict) -> dict[str, torch.Tensor]:
        rgb = self.rgb_tower(self.video(batch, "rgb"))  # (N, D, F, h, w)
        frames = rgb.shape[2]
        pose = self.pose_tower(self.heatmaps(batch, frames))  # (N, P, factor * F, h, w)
        att, spatial, temporal = self.attention(pose[:, :, :: self.params.pose_frame_factor])
        guided = (rgb + rgb * att if self.params.attention else rgb).mean((2, 3, 4))
        pose_feat = pose.mean((2, 3, 4))
        return {
            "rgb": self.rgb_head(guided),
            "pose": self.pose_head(pose_feat),
            "feat": guided,
            "pose_feat": pose_feat,
            "att": att,
            "spatial": spatial,
            "temporal": temporal,
        }

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        s = self._scores(batch)
        return {"fused": s["rgb"] + s["pose"], "rgb": s["rgb"], "pose": s["pose"]}

    def extra_stats(self, batch: dict) -> dict[str, torch.Tensor]:
        """Per clip: mean attention, its spread over positions and over frames, and each
        stream's logit spread over classes (which stream dominates the logit sum)."""
        s = self._scores(batch)
        n = s["att"].shape[0]
        return {
            "att_mean": s["att"].reshape(n, -1).mean(1),
            "spatial_att_std": s["spatial"].reshape(n, s["spatial"].shape[2], -1).std(-1).mean(1),
            "temporal_att_std": s["temporal"].reshape(n, -1).std(1),
            "rgb_logit_std": s["rgb"].std(1),
            "pose_logit_std": s["pose"].std(1),
        }

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        s, label = self._scores(batch), batch["label"]
        logs = {"loss/ce_rgb": F.cross_entropy(s["rgb"], label), "loss/ce_pose": F.cross_entropy(s["pose"], label)}
        logs["loss"] = self.params.rgb_weight * logs["loss/ce_rgb"] + self.params.pose_weight * logs["loss/ce_pose"]
        logs["stat/attention"] = s["att"].mean().detach()
        logs["stat/embed_std"] = embed_std(s["feat"])
        return logs
