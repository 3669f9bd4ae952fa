"""3s-SkeletonCLR: one SkeletonCLR per stream on a "multistream" encoder.

Li et al. (CrosSCLR, CVPR 2021) pretrain joint, bone and motion ST-GCNs separately and
ensemble them at evaluation ("3s-SkeletonCLR"). Here the streams train in one run but
stay independent: each has its own backbone, projector, momentum copies and queue, and

    L = sum_s L_InfoNCE(s)        for s in the encoder's streams,

each term logged as `loss/<stream>`. Because the terms share no parameters, the gradient
each backbone receives equals that of training it alone (with the same views).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ssl_skel.core.config import ConfigError
from ssl_skel.core.registry import OBJECTIVES
from ssl_skel.models.diagnostics import embed_std
from ssl_skel.models.encoders.base import SkeletonEncoder
from ssl_skel.models.encoders.multistream import MultiStreamEncoder
from ssl_skel.objectives.base import Batch, Method
from ssl_skel.objectives.skeletonclr import MoCoBranch, SkeletonCLRParams, require_views


@dataclass(frozen=True)
class ThreeStreamParams:
    """SkeletonCLR's settings, applied to every stream."""

    queue_size: int = 32768
    momentum: float = 0.999
    momentum_schedule: Literal["constant", "cosine"] = "constant"
    temperature: float = 0.07
    proj_hidden_dim: int = 0
    proj_dim: int = 128
    shuffle_bn: bool = True

    def __post_init__(self) -> None:
        self.per_stream()  # SkeletonCLR's range checks

    def per_stream(self) -> SkeletonCLRParams:
        return SkeletonCLRParams(**{k: getattr(self, k) for k in self.__dataclass_fields__})


@OBJECTIVES.register("threestream", params=ThreeStreamParams)
class ThreeStreamCLR(Method):
    """Independent SkeletonCLR per stream of a MultiStreamEncoder; loss = sum of stream losses."""

    def __init__(self, encoder: SkeletonEncoder, params: ThreeStreamParams, num_classes: int | None = None) -> None:
        super().__init__(encoder)
        if not isinstance(encoder, MultiStreamEncoder):
            raise ConfigError(
                f"objective threestream needs model.name: multistream (one backbone per stream), "
                f"got encoder {type(encoder).__name__}"
            )
        self.params = params
        per_stream = params.per_stream()
        self.branches = nn.ModuleDict(
            {s: MoCoBranch(encoder.stream_encoder(s), s, per_stream) for s in encoder.streams}
        )

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """batch["views"]: >= 2 views (N, C, T, V, M); view 0 is the query, view 1 the key."""
        views = require_views(batch, 2, "threestream")
        out: dict[str, torch.Tensor] = {}
        total = 0.0
        for stream, branch in self.branches.items():
            loss, q = branch(self.encoder.stream_encoder(stream), views[0], views[1])
            total = total + loss
            out[f"loss/{stream}"] = loss.detach()
            out[f"stat/embed_std_{stream}"] = embed_std(q)
        out["loss"] = total
        out["stat/embed_std"] = torch.stack([out[f"stat/embed_std_{s}"] for s in self.branches]).mean()
        return out

    def on_step_end(self, step: int, total_steps: int) -> None:
        for stream, branch in self.branches.items():
            branch.update(self.encoder.stream_encoder(stream), branch.momentum_at(step, total_steps))
