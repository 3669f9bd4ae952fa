"""What every fusion adapter promises the training engine and the evaluation.

A fusion adapter is a `Method` (the one training loop trains it like any objective):
`forward(batch)` returns {"loss", logged terms}; `predict(batch)` returns class scores
per stream ({"fused": (N, K), "rgb": (N, K), ...}) so each single stream's accuracy can
be reported beside the fused one. The skeleton branch is the method's `encoder`
(state_dict prefix "encoder."), frozen or fine-tuned by config; a frozen encoder stays
in eval mode (BatchNorm statistics untouched) even when a parent calls `.train()`.
A design with its own pose network (EPAM-Net's heatmap stream) sets `uses_encoder =
False`: the encoder is then kept frozen and never called.

Batch: {"views": [(N, C, T, V, M) skeleton], "rgb": (N, 3, F, H, W), "depth":
(N, 1, F, H, W), "label": (N,), "index": (N,)}; RGB/depth only where the data has them.

Multi-stage schedules (IntegralAction's rgb-only, pose-only, rgb+pose) are named
`stages`; `set_stage(name)` switches which parameters train and which losses count.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ssl_skel.fusion.rgbd import RGBDSpec
from ssl_skel.models.encoders.base import SkeletonEncoder
from ssl_skel.objectives.base import Method


class FusionAdapter(Method):
    streams: tuple[str, ...] = ("fused",)  # keys of predict(); "fused" is the adapter's answer
    stages: tuple[str, ...] = ("all",)  # training stages this adapter knows
    needs: tuple[str, ...] = ()  # batch keys predict() requires besides "views"
    uses_encoder: bool = True  # False: the design has its own pose stream; the encoder stays frozen, unused

    @classmethod
    def encoder_used(cls, params) -> bool:
        """Whether an adapter built with `params` calls the skeleton encoder."""
        return cls.uses_encoder

    def __init__(
        self,
        encoder: SkeletonEncoder,
        num_classes: int,
        rgbd: RGBDSpec,
        *,
        freeze_encoder: bool = True,
        modality: str | None = None,
    ) -> None:
        super().__init__(encoder)
        if num_classes is None or num_classes < 2:
            raise ValueError(f"{type(self).__name__} needs num_classes >= 2, got {num_classes}")
        if modality and modality not in encoder.modalities:
            raise ValueError(f"skeleton modality {modality!r} not offered by the encoder ({encoder.modalities})")
        self.num_classes = int(num_classes)
        self.rgbd = rgbd
        self.freeze_encoder = bool(freeze_encoder) or not self.uses_encoder
        self.modality = modality or encoder.modalities[0]
        self.stage = "all"
        if self.freeze_encoder:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    # ------------------------------------------------------------------ inputs
    def skeleton_features(self, batch: dict) -> torch.Tensor:
        """batch["views"][0]: (N, C, T, V, M) -> (N, encoder.dim)."""
        x = batch["views"][0]
        if self.freeze_encoder:
            with torch.no_grad():
                return self.encoder(x, self.modality).detach()
        return self.encoder(x, self.modality)

    def video(self, batch: dict, key: str) -> torch.Tensor:
        """batch[key] as (N, C, F, H, W) float; a clear error when the data lacks it."""
        if key not in batch or batch[key] is None:
            raise ValueError(
                f"{type(self).__name__} needs batch[{key!r}] ((N, C, F, H, W) frames); "
                f"set data.{key} to the folder of {key} frames"
            )
        x = batch[key]
        if x.dim() != 5:
            raise ValueError(f"batch[{key!r}] must be (N, C, F, H, W), got shape {tuple(x.shape)}")
        return x.float()

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> FusionAdapter:
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def set_stage(self, stage: str) -> None:
        """Switch the training stage: only `stage_modules(stage)` keep gradients."""
        if stage not in self.stages:
            raise ValueError(f"{type(self).__name__} has stages {self.stages}, not {stage!r}")
        self.stage = stage
        trainable = {id(p) for m in self.stage_modules(stage) for p in m.parameters()}
        for p in self.parameters():
            p.requires_grad_(id(p) in trainable)
        if self.freeze_encoder:
            self.encoder.requires_grad_(False)

    def stage_modules(self, stage: str) -> Iterable[nn.Module]:
        """Modules trained in `stage`; the default stage trains everything."""
        return [self]

    # ------------------------------------------------------------------ outputs
    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        """Class scores per stream: {stream: (N, num_classes)}."""
        raise NotImplementedError

    def extra_stats(self, batch: dict) -> dict[str, torch.Tensor]:
        """Per-clip diagnostics summed by evaluation (e.g. the pose gate); none by default."""
        return {}
