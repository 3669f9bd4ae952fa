"""MMCL: multi-modality co-learning for skeleton action recognition (Liu et al., ACM MM 2024).

As the authors' code does it (liujf69/MMCL-Action, `model/MMCL.py`, `model/FAM.py`,
`main_MMCL.py`): the skeleton model is trained with two guides and runs alone at test
time (`predict` needs no video and no text):
- FAM, feature alignment: an RGB network sees the clip's frame and its output goes
  through an MLP (-> 256 -> 256 there, -> encoder.dim -> encoder.dim here) to the
  skeleton feature's width; the *unprojected* skeleton feature (the encoder's pooled
  output) and that projection are aligned by a symmetric InfoNCE loss at temperature 0.4
  (their `Contrastive_loss`, numerically lightly's NTXentLoss), weight 0.1; the RGB
  network learns only through this loss (no RGB classification loss);
- FRM, feature refinement: a per-sample "text" feature (there: the token ids of a
  multimodal LLM's answer about the sample's frame, computed offline) goes through an
  MLP E -> 64 -> 2 and a softmax to (p_pos, p_neg); the skeleton logits z are re-weighted
      z' = z * (p_pos * w_pos + p_neg * w_neg),   w_pos, w_neg in R^K learnable, init 1
  (so z' = z at init) and CE(z', y) is added with weight 0.2;
- total loss CE(z, y) + 0.2 CE_FRM + 0.1 L_FAM.
Per-sample features are arrays the user supplies (`text_features`: a folder with one
`<sample>.npy` of shape (E,) per training sample, from any captioning model run
offline); this toolkit never downloads or runs such a model. `text_mode: prototype`
keeps an option that is *not* MMCL's FRM: a (K, E) class-embedding table
(`text_embeddings`) used as cosine prototypes, CE(cos / prototype_temperature).

Remaining differences: the RGB network is a small 2D CNN trained from scratch on the
clip's middle frame (the authors: torchvision's ImageNet Inception-v3, trained jointly
on one frame per sample, its 1000-d class logits feeding the MLP); the skeleton encoder
is the toolkit's (theirs: CTR-GCN); the optimiser and schedule are the engine's (theirs:
SGD lr 0.1 with warm-up and steps at 90/100 of 110 epochs); the release hard-codes 120
classes in w_pos/w_neg, here they have K entries; the classifier keeps PyTorch's default
init (theirs: normal(0, sqrt(2 / K)), which in the fast test preset left the skeleton
model at 0.074 top-1 after 4 epochs against 0.235 with the default).

Shapes: views[0] (N, C, T, V, M) [+ rgb (N, 3, F, H, W), text (N, E) in training] ->
predict {"fused", "pose"}: (N, K) (the same skeleton logits).
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
from ssl_skel.fusion.blocks import Classifier, FrameCNN, embed_std


@dataclass(frozen=True)
class MMCLParams:
    guide: Literal["both", "rgb", "text", "none"] = "both"  # FAM and FRM, one of them, or neither
    text_mode: Literal["sample", "prototype"] = "sample"  # FRM on per-sample features, or class prototypes
    text_features: str = ""  # folder of <sample>.npy (E,) per-sample features (text_mode: sample)
    text_embeddings: str = ""  # (K, E) .npy class embeddings (text_mode: prototype)
    temperature: float = 0.4  # FAM InfoNCE temperature (authors: 0.4)
    align_weight: float = 0.1  # FAM weight (authors: 0.1)
    text_weight: float = 0.2  # FRM weight (authors: 0.2)
    text_dim: int = 3  # E of the per-sample features (authors: 3, the answer's token ids)
    frm_hidden: int = 64  # FRM MLP width (authors: 64)
    prototype_temperature: float = 0.1  # only text_mode: prototype
    widths: tuple[int, ...] = (16, 32, 64)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check(self.temperature > 0 and self.prototype_temperature > 0, "temperatures must be > 0")
        check(
            min(self.align_weight, self.text_weight) >= 0 and min(self.frm_hidden, self.text_dim) >= 1,
            "weights >= 0, sizes >= 1",
        )
        needs = "text_features" if self.text_mode == "sample" else "text_embeddings"
        check(
            self.guide in ("rgb", "none") or bool(getattr(self, needs)),
            f"guide {self.guide!r} with text_mode {self.text_mode!r} needs {needs}",
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


class FeatureRefinement(nn.Module):
    """MMCL's FRM: z (N, K), text (N, E) -> z * (p_pos w_pos + p_neg w_neg), (p_pos, p_neg) = softmax(mlp(text))."""

    def __init__(self, text_dim: int, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(text_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        self.pos = nn.Parameter(torch.ones(num_classes))
        self.neg = nn.Parameter(torch.ones(num_classes))

    def forward(self, logits: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        p = self.mlp(text.float()).softmax(-1)
        return logits * (p[:, :1] * self.pos + p[:, 1:] * self.neg)


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
            self.rgb_tower = FrameCNN(3, params.widths)
            d = encoder.dim
            self.align_rgb = nn.Sequential(nn.Linear(self.rgb_tower.dim, d), nn.ReLU(), nn.Linear(d, d))
            self.align_loss = NTXentLoss(temperature=params.temperature)
        if self.use_text and params.text_mode == "prototype":
            self.register_buffer("text", load_text_embeddings(params.text_embeddings, num_classes))
            self.text_proj = nn.Linear(self.text.shape[1], encoder.dim)
            self.refine_skeleton = nn.Linear(encoder.dim, encoder.dim)
        elif self.use_text:
            self.frm = FeatureRefinement(params.text_dim, num_classes, params.frm_hidden)

    @property
    def sample_features(self) -> str:
        """The per-sample feature folder the dataset must supply as batch["text"], or ""."""
        p = self.params
        return p.text_features if self.use_text and p.text_mode == "sample" else ""

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        logits = self.head(self.skeleton_features(batch))
        return {"fused": logits, "pose": logits}

    def rgb_features(self, batch: dict) -> torch.Tensor:
        """The middle frame through the RGB network: (N, 3, F, H, W) -> (N, D_rgb)."""
        rgb = self.video(batch, "rgb")
        middle = rgb[:, :, rgb.shape[2] // 2 : rgb.shape[2] // 2 + 1]
        return self.rgb_tower(middle).mean((2, 3, 4))

    def text_logits(self, feat: torch.Tensor) -> torch.Tensor:
        """Prototype option: cosine similarity of the skeleton projection to each class prototype / T: (N, K)."""
        s = F.normalize(self.refine_skeleton(feat), dim=-1)
        t = F.normalize(self.text_proj(self.text), dim=-1)
        return s @ t.T / self.params.prototype_temperature

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        label = batch["label"]
        feat = self.skeleton_features(batch)
        logits = self.head(feat)
        logs = {"loss/ce_pose": F.cross_entropy(logits, label)}
        loss = logs["loss/ce_pose"]
        if self.use_rgb:
            logs["loss/align"] = self.align_loss(feat, self.align_rgb(self.rgb_features(batch)))
            loss = loss + self.params.align_weight * logs["loss/align"]
        if self.use_text:
            if self.params.text_mode == "prototype":
                refined = self.text_logits(feat)
            else:
                text = batch.get("text")
                if text is None:
                    raise ValueError(
                        "mmcl FRM needs batch['text'] ((N, E) per-sample features); set params.text_features "
                        "to the folder of <sample>.npy files"
                    )
                if text.dim() != 2 or text.shape[1] != self.params.text_dim:
                    raise ValueError(
                        f"mmcl FRM needs (N, text_dim={self.params.text_dim}) features, got {tuple(text.shape)}"
                    )
                refined = self.frm(logits, text)
            logs["loss/text"] = F.cross_entropy(refined, label)
            loss = loss + self.params.text_weight * logs["loss/text"]
        logs["loss"] = loss
        logs["stat/embed_std"] = embed_std(feat)
        return logs
