"""SkeletonCLR: MoCo v2 on skeleton clips (Li et al., CrosSCLR, CVPR 2021).

A query view goes through the encoder and a projector, a key view through momentum
copies of both; with q, k l2-normalised and a queue Q of K past keys,

    L = -log( exp(q.k / tau) / (exp(q.k / tau) + sum_{j<K} exp(q.Q_j / tau)) )

(InfoNCE, He et al., MoCo, CVPR 2020; MLP projector from MoCo v2). After each optimiser
step the momentum weights move by theta_k <- m * theta_k + (1 - m) * theta_q, and the
batch's keys replace the oldest queue entries (first in, first out).

Defaults are SkeletonCLR's: K = 32768, m = 0.999, tau = 0.07, projector
dim -> dim -> 128 (ReLU between, no BN). The loss is SkeletonCLR's one-directional
query/key form, not the symmetrised one.

Built on lightly: `NTXentLoss` with a memory bank computes the loss and keeps the queue,
`MoCoProjectionHead` is the projector, `update_momentum` / `cosine_schedule` move the
momentum weights. Two adjustments: lightly registers the bank as a non-persistent buffer,
here it is made persistent so the queue travels in checkpoints; and the loss is computed
in fp32 even under autocast (exp(1/0.07) strains fp16). Under DDP the bank is filled with
the keys gathered from every rank (lightly's `gather_distributed`), and keys are computed
with shuffled BN (`batch_shuffle_distributed`) as in MoCo, unless `shuffle_bn` is off.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead
from lightly.models.utils import (
    batch_shuffle_distributed,
    batch_unshuffle_distributed,
    deactivate_requires_grad,
    update_momentum,
)
from lightly.utils import dist as lightly_dist
from lightly.utils.scheduler import cosine_schedule
from torch import nn

from ssl_skel.core.config import ConfigError, check
from ssl_skel.core.registry import OBJECTIVES
from ssl_skel.models.diagnostics import embed_std
from ssl_skel.models.encoders.base import SkeletonEncoder
from ssl_skel.objectives.base import Batch, Method


@dataclass(frozen=True)
class SkeletonCLRParams:
    queue_size: int = 32768  # K negatives; keep it a multiple of the global batch size
    momentum: float = 0.999
    momentum_schedule: Literal["constant", "cosine"] = "constant"  # cosine: m -> 1 over training
    temperature: float = 0.07
    proj_hidden_dim: int = 0  # 0: the encoder's dim (SkeletonCLR: 256 -> 256 -> 128)
    proj_dim: int = 128
    modality: str = ""  # encoder modality to train; "" = the encoder's default
    shuffle_bn: bool = True  # shuffle keys across ranks for BN under DDP (no effect on 1 process)

    def __post_init__(self) -> None:
        check(self.queue_size >= 1, "queue_size must be >= 1")
        check(0.0 <= self.momentum <= 1.0, "momentum must be in [0, 1]")
        check(self.temperature > 0, "temperature must be > 0")
        check(self.proj_hidden_dim >= 0 and self.proj_dim >= 1, "proj dims must be positive")


def persistent_bank(loss: NTXentLoss) -> NTXentLoss:
    """Make lightly's memory bank (queue + pointer) part of the state_dict."""
    bank = loss.memory_bank
    bank.register_buffer("bank", bank.bank, persistent=True)
    bank.register_buffer("bank_ptr", bank.bank_ptr, persistent=True)
    return loss


def require_views(batch: Batch, count: int, method: str) -> list[torch.Tensor]:
    views = batch["views"]
    if len(views) < count:
        raise ValueError(f"{method} needs {count} views per sample, got {len(views)} (set data.num_views >= {count})")
    return views


class MoCoBranch(nn.Module):
    """Projector, momentum copies and queue for one backbone and one modality.

    The online backbone is passed to each call rather than stored, so a parent method
    keeps it once under `encoder.` in the state_dict.
    """

    def __init__(self, backbone: SkeletonEncoder, modality: str, params: SkeletonCLRParams) -> None:
        super().__init__()
        backbone.check_modalities((modality,))
        self.modality = modality
        self.params = params
        hidden = params.proj_hidden_dim or backbone.dim
        self.projector = MoCoProjectionHead(backbone.dim, hidden, params.proj_dim)
        self.momentum_backbone = copy.deepcopy(backbone)
        self.momentum_projector = copy.deepcopy(self.projector)
        deactivate_requires_grad(self.momentum_backbone)
        deactivate_requires_grad(self.momentum_projector)
        self.criterion = persistent_bank(
            NTXentLoss(
                temperature=params.temperature,
                memory_bank_size=(params.queue_size, params.proj_dim),
                gather_distributed=True,
            )
        )

    @property
    def queue(self) -> torch.Tensor:
        """(K, proj_dim) l2-normalised keys, oldest at the pointer."""
        return self.criterion.memory_bank.bank

    @property
    def queue_ptr(self) -> int:
        return int(self.criterion.memory_bank.bank_ptr)

    @torch.no_grad()
    def keys(self, view: torch.Tensor) -> torch.Tensor:
        """view: (N, C, T, V, M) -> (N, proj_dim) keys from the momentum branch."""
        shuffle = self.params.shuffle_bn and lightly_dist.world_size() > 1
        if shuffle:
            view, unshuffle = batch_shuffle_distributed(view)
        k = self.momentum_projector(self.momentum_backbone(view, self.modality))
        return batch_unshuffle_distributed(k, unshuffle) if shuffle else k

    def forward(
        self, backbone: SkeletonEncoder, query: torch.Tensor, key: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query, key: (N, C, T, V, M) views -> (InfoNCE loss, (N, proj_dim) query embeddings)."""
        q = self.projector(backbone(query, self.modality))
        k = self.keys(key)
        with torch.autocast(device_type=q.device.type, enabled=False):
            loss = self.criterion(q.float(), k.float())  # enqueues k when q requires grad
        return loss, q

    def momentum_at(self, step: int, total_steps: int) -> float:
        if self.params.momentum_schedule == "cosine":
            return cosine_schedule(step, max(total_steps, 1), self.params.momentum, 1.0)
        return self.params.momentum

    @torch.no_grad()
    def update(self, backbone: SkeletonEncoder, momentum: float) -> None:
        """theta_k <- m * theta_k + (1 - m) * theta_q for backbone and projector."""
        update_momentum(backbone, self.momentum_backbone, momentum)
        update_momentum(self.projector, self.momentum_projector, momentum)


@OBJECTIVES.register("skeletonclr", params=SkeletonCLRParams)
class SkeletonCLR(Method):
    """MoCo v2 with a momentum encoder and a queue on one encoder modality."""

    def __init__(self, encoder: SkeletonEncoder, params: SkeletonCLRParams, num_classes: int | None = None) -> None:
        super().__init__(encoder)
        self.params = params
        modality = params.modality or encoder.modalities[0]
        if modality not in encoder.modalities:
            raise ConfigError(
                f"objective.params.modality: {modality!r} is not offered by the encoder "
                f"(offers {list(encoder.modalities)})"
            )
        self.branch = MoCoBranch(encoder, modality, params)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """batch["views"]: >= 2 views (N, C, T, V, M); view 0 is the query, view 1 the key."""
        views = require_views(batch, 2, "skeletonclr")
        loss, q = self.branch(self.encoder, views[0], views[1])
        return {"loss": loss, "loss/infonce": loss.detach(), "stat/embed_std": embed_std(q)}

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.branch.update(self.encoder, self.branch.momentum_at(step, total_steps))
