"""Supervised classification head on a (pretrained) encoder: fine-tuning and semi-supervised.

Why a Method: fine-tuning and the 1%/10% semi-supervised protocol then run through the
one training engine (DDP, AMP, accumulation, checkpoints, resume) like pretraining does.

    logits = W · dropout(f(x)) + b,   loss = CE(logits, y)   (optionally label-smoothed)

`freeze_encoder: true` trains only the head with the encoder in eval mode (a linear
probe with augmented clips, as some papers run it); the default fine-tunes everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ssl_skel.core.registry import OBJECTIVES
from ssl_skel.models.encoders.base import SkeletonEncoder
from ssl_skel.models.frozen import freeze
from ssl_skel.objectives.base import Batch, Method


@dataclass(frozen=True)
class SupervisedParams:
    modality: str = ""  # encoder output to classify; "" = the encoder's default (fused)
    dropout: float = 0.0
    label_smoothing: float = 0.0
    freeze_encoder: bool = False
    # normal: N(0, 0.01), bias 0; ctrgcn: N(0, sqrt(2 / classes)), bias torch's default (CTR-GCN's fc);
    # stgcn: N(0, 0.02), bias 0 (ST-GCN's weights_init)
    head_init: Literal["normal", "ctrgcn", "stgcn"] = "normal"

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError("label_smoothing must be in [0, 1)")
        if self.head_init not in ("normal", "ctrgcn", "stgcn"):
            raise ValueError(f"head_init must be normal, ctrgcn or stgcn, got {self.head_init!r}")


def init_head(head: nn.Linear, scheme: str) -> None:
    """The head's initial weights (see `SupervisedParams.head_init`); torch's generator draws them."""
    with torch.no_grad():
        if scheme == "ctrgcn":  # the bias keeps nn.Linear's own uniform(+-1/sqrt(in)) draw
            nn.init.normal_(head.weight, 0.0, math.sqrt(2.0 / head.out_features))
            return
        nn.init.normal_(head.weight, 0.0, 0.02 if scheme == "stgcn" else 0.01)
        nn.init.zeros_(head.bias)


@OBJECTIVES.register("supervised", params=SupervisedParams)
class Supervised(Method):
    """Encoder + linear head trained with cross-entropy on `batch["views"][0]`."""

    def __init__(self, encoder: SkeletonEncoder, params: SupervisedParams, num_classes: int | None = None) -> None:
        super().__init__(encoder)
        if not num_classes or num_classes < 2:
            raise ValueError(f"supervised method needs num_classes >= 2, got {num_classes}")
        modality = params.modality or encoder.modalities[0]
        if modality not in encoder.modalities:
            raise ValueError(f"encoder offers modalities {encoder.modalities}, not {modality!r}")
        self.params = params
        self.modality = modality
        self.num_classes = int(num_classes)
        self.dropout = nn.Dropout(params.dropout)
        self.head = nn.Linear(encoder.dim, self.num_classes)
        init_head(self.head, params.head_init)
        if params.freeze_encoder:
            freeze(self.encoder)

    def train(self, mode: bool = True) -> Supervised:
        super().train(mode)
        if self.params.freeze_encoder:
            freeze(self.encoder)  # BatchNorm statistics stay those of pretraining
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, T, V, M) -> (N, dim); no graph through a frozen encoder."""
        if self.params.freeze_encoder:
            with torch.no_grad():
                return self.encoder(x, self.modality)
        return self.encoder(x, self.modality)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, T, V, M) -> (N, num_classes)."""
        return self.head(self.dropout(self.features(x)))

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, y = batch["views"][0], batch["label"]
        feats = self.features(x)
        logits = self.head(self.dropout(feats))
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.params.label_smoothing)
        with torch.no_grad():
            acc = (logits.argmax(1) == y).float().mean() * 100
            std = F.normalize(feats.float(), dim=1).std(0).mean()
        return {"loss": loss, "loss/ce": loss.detach(), "stat/train_top1": acc, "stat/embed_std": std}
