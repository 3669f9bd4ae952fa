"""MMCL: multi-modality co-learning for skeleton action recognition (Liu et al., ACM MM 2024).

What is followed: during training, features of another modality guide the skeleton
model, and at test time the skeleton model runs alone (no video, no text, no extra
cost). Two guides, as in the paper:
- feature alignment (the paper's FAM): skeleton features are aligned with features of
  the clip's RGB frames by a symmetric InfoNCE loss (lightly's NTXentLoss) between
  projections of the two, so the skeleton embedding absorbs appearance cues;
- feature refinement with text (the paper's FRM): class text embeddings, given as an
  (K, E) .npy array, act as class prototypes; the skeleton projection is classified by
  cosine similarity to the projected prototypes, cos / temperature, with cross-entropy.

Simplified: the paper's RGB features come from a frozen multimodal LLM; no weights may
be downloaded here, so a tiny TSM CNN on the frames is trained from scratch beside the
skeleton model, with its own classification loss (`rgb_ce_weight`) so that it carries
class information worth aligning to. Text embeddings are whatever array the user
supplies (the synthetic data ships hashed character-trigram embeddings of the class
names). `guide: none` is the skeleton-only baseline.

Shapes: views[0] (N, C, T, V, M) [+ rgb (N, 3, F, H, W) in training] -> predict
{"fused", "pose"} (and "rgb" when frames are given and the RGB guide exists): (N, K).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from lightly.loss import NTXentLoss
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import ADAPTERS
from ssl_skel.fusion.base import FusionAdapter
from ssl_skel.fusion.blocks import Classifier, FrameCNN


@dataclass(frozen=True)
class MMCLParams:
    guide: Literal["rgb", "text", "both", "none"] = "rgb"
    text_embeddings: str = ""  # (K, E) .npy of class text embeddings; required for text guides
    proj_dim: int = 64
    temperature: float = 0.1
    align_weight: float = 1.0  # skeleton <-> RGB feature alignment
    text_weight: float = 1.0  # text-prototype refinement
    rgb_ce_weight: float = 1.0  # the RGB guide's own classification loss
    widths: tuple[int, ...] = (16, 32, 64)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check(self.proj_dim >= 1 and self.temperature > 0, "proj_dim >= 1, temperature > 0")
        check(min(self.align_weight, self.text_weight, self.rgb_ce_weight) >= 0, "loss weights must be >= 0")
        check(
            self.guide in ("rgb", "none") or bool(self.text_embeddings),
            f"guide {self.guide!r} needs text_embeddings (a .npy path)",
        )
        check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")


def load_text_embeddings(path: str | Path, num_classes: int) -> torch.Tensor:
    """(K, E) float32 from a .npy file, with errors that name the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: text embeddings not found (a (num_classes, E) .npy array)")
    try:
        array = np.load(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim != 2 or array.shape[0] != num_classes:
        raise ValueError(f"{path}: text embeddings must be (num_classes={num_classes}, E), got {array.shape}")
    return torch.as_tensor(array, dtype=torch.float32)


@ADAPTERS.register("mmcl", params=MMCLParams)
class MMCL(FusionAdapter):
    streams = ("fused", "pose")
    needs = ()  # the skeleton model runs alone at test time

    def __init__(self, encoder, params: MMCLParams, num_classes: int, rgbd, **kwargs) -> None:
        super().__init__(encoder, num_classes, rgbd, **kwargs)
        self.params = params
        self.head = Classifier(encoder.dim, num_classes, params.dropout)
        self.use_rgb = params.guide in ("rgb", "both")
        self.use_text = params.guide in ("text", "both")
        if self.use_rgb:
            self.rgb_tower = FrameCNN(3, params.widths, shift=True)
            self.rgb_head = Classifier(self.rgb_tower.dim, num_classes, params.dropout)
            self.align_skeleton = nn.Sequential(
                nn.Linear(encoder.dim, params.proj_dim), nn.ReLU(), nn.Linear(params.proj_dim, params.proj_dim)
            )
            self.align_rgb = nn.Sequential(
                nn.Linear(self.rgb_tower.dim, params.proj_dim), nn.ReLU(), nn.Linear(params.proj_dim, params.proj_dim)
            )
            self.align_loss = NTXentLoss(temperature=params.temperature)
        if self.use_text:
            self.register_buffer("text", load_text_embeddings(params.text_embeddings, num_classes))
            self.text_proj = nn.Linear(self.text.shape[1], params.proj_dim)
            self.refine_skeleton = nn.Linear(encoder.dim, params.proj_dim)

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        logits = self.head(self.skeleton_features(batch))
        out = {"fused": logits, "pose": logits}
        if self.use_rgb and batch.get("rgb") is not None:
            out["rgb"] = self.rgb_head(self.rgb_tower(self.video(batch, "rgb")).mean((2, 3, 4)))
        return out

    def text_logits(self, feat: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of the skeleton projection to each class prototype / T: (N, K)."""
        s = F.normalize(self.refine_skeleton(feat), dim=-1)
        t = F.normalize(self.text_proj(self.text), dim=-1)
        return s @ t.T / self.params.temperature

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        label = batch["label"]
        feat = self.skeleton_features(batch)
        logs = {"loss/ce_pose": F.cross_entropy(self.head(feat), label)}
        loss = logs["loss/ce_pose"]
        if self.use_rgb:
            rgb = self.rgb_tower(self.video(batch, "rgb")).mean((2, 3, 4))
            logs["loss/ce_rgb"] = F.cross_entropy(self.rgb_head(rgb), label)
            logs["loss/align"] = self.align_loss(self.align_skeleton(feat), self.align_rgb(rgb))
            loss = (
                loss + self.params.rgb_ce_weight * logs["loss/ce_rgb"] + self.params.align_weight * logs["loss/align"]
            )
        if self.use_text:
            logs["loss/text"] = F.cross_entropy(self.text_logits(feat), label)
            loss = loss + self.params.text_weight * logs["loss/text"]
        logs["loss"] = loss
        logs["stat/embed_std"] = feat.std(0).mean().detach()
        return logs
