"""UmURL: unified multi-modal unsupervised representation learning (Sun et al., ACM MM 2023).

One clip gives a "single-modality" view a and a "multi-modal" view u (two augmentations).
The unified encoder f embeds a as joint, bone and motion, y_j, y_b, y_m = f_j(a), f_b(a),
f_m(a), and u as the early-fused stream y_u = f_fused(u). One projector g_k per modality
k in {j, b, m} maps a feature to R^D (D = 4096):

    z_k = g_k(y_k)          the modality's own embedding
    u_k = g_k(y_u)          the fused embedding "decomposed" towards modality k
    c   = (z_j + z_b + z_m) / 3

    intra = sum_k MSE(z_k, u_k)               consistency of each modality across views
                                              (single-modality view vs fused view)
    inter = sum_k MSE(z_k, c)                 consistency between modalities
    var   = sum_{z in Z} mean_d relu(1 - sqrt(Var_batch(z_d) + eps))
    cov   = sum_{z in Z} sum_{d != e} Cov(z)_{de}^2 / D,   Z = {z_j, z_b, z_m, u_j, u_b, u_m}

    loss = 5 * intra + 5 * inter + 5 * var + 1 * cov

MSE is the mean over batch and dimensions (torch's mse_loss). The variance/covariance
terms are VICReg's (Bardes et al. 2022): lightly's `variance_loss`, and the covariance
term through a cheaper exact identity (see `covariance_term`). All terms are computed in
fp32 even under autocast (the covariance of 4096-d embeddings loses precision or
overflows in half precision). Under DDP the six
embeddings are gathered from all ranks first (with gradients), as the authors do.

Followed from the authors' code (HuiGuanLab/UmURL, pretrain.py): the weights (5, 5, 5, 1),
eps = 1e-4, the 2048-2048-4096 projectors, the centre c kept in the graph (no stop-grad).
Differs: the authors draw four augmented views per clip (one each for joint, bone, motion
and the fused stream); with `views` of length 2 (the default) the three single-modality
streams share view a, which keeps the same four encoder streams and FLOPs per clip. Pass 4
views to reproduce the authors' sampling exactly. All four streams run through the
encoder's transformers in one batched call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from lightly.loss.vicreg_loss import variance_loss
from lightly.utils.dist import gather
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import OBJECTIVES
from ssl_skel.models.diagnostics import embed_std
from ssl_skel.models.encoders.base import SkeletonEncoder
from ssl_skel.models.heads import umurl_projector
from ssl_skel.objectives.base import Batch, Method

SINGLE_MODALITIES = ("joint", "bone", "motion")


@dataclass(frozen=True)
class UmURLParams:
    """Loss weights and projector sizes (defaults: the UmURL paper's)."""

    proj_hidden_dim: int = 0  # 0: the encoder's feature dim (2048 at the paper's defaults)
    proj_output_dim: int = 4096
    intra_weight: float = 5.0
    inter_weight: float = 5.0
    var_weight: float = 5.0
    cov_weight: float = 1.0
    var_eps: float = 1e-4
    gather_distributed: bool = True  # var/cov over the global batch under DDP

    def __post_init__(self) -> None:
        check(self.proj_hidden_dim >= 0 and self.proj_output_dim >= 1, "projector dims must be positive")
        for name in ("intra_weight", "inter_weight", "var_weight", "cov_weight"):
            check(getattr(self, name) >= 0.0, f"{name} must be >= 0")
        check(self.var_eps > 0.0, "var_eps must be > 0")


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """sum_{d != e} Cov(z)_{de}^2 / D for z: (N, D); equal to lightly's `covariance_loss`.

    Why not lightly's: it indexes the (D, D) matrix with a boolean off-diagonal mask, which
    at D = 4096 costs more than the matrix product.
    Here ||C||_F^2 - ||diag C||^2, and for N < D the Frobenius norm comes from the (N, N)
    Gram matrix instead, ||Zc^T Zc||_F = ||Zc Zc^T||_F, which is D/N times cheaper.
    """
    n, d = z.shape
    zc = z - z.mean(dim=0)
    small = zc @ zc.T if n < d else zc.T @ zc
    diag = zc.pow(2).sum(dim=0)
    return (small.pow(2).sum() - diag.pow(2).sum()) / ((n - 1) ** 2 * d)


def vc_terms(z: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """VICReg variance and covariance terms of z: (N, D), computed in fp32 (autocast off)."""
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = z.float()
        return variance_loss(z, eps=eps), covariance_term(z)


@OBJECTIVES.register("umurl", params=UmURLParams)
class UmURL(Method):
    """The unified objective over a unified encoder ("fused", "joint", "bone", "motion")."""

    def __init__(self, encoder: SkeletonEncoder, params: UmURLParams, num_classes: int | None = None) -> None:
        super().__init__(encoder)
        missing = [m for m in ("fused",) + SINGLE_MODALITIES if m not in encoder.modalities]
        if missing:
            raise ValueError(
                f"umurl needs a unified encoder offering fused/joint/bone/motion streams "
                f"(e.g. model.name: unified); {type(encoder).__name__} offers {encoder.modalities}"
            )
        self.params = params
        self.projectors = nn.ModuleDict(
            {k: umurl_projector(encoder.dim, params.proj_hidden_dim, params.proj_output_dim) for k in SINGLE_MODALITIES}
        )

    def _views(self, views: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        if len(views) == 2:
            return [views[0]] * 3, views[1]
        if len(views) == 4:
            return list(views[:3]), views[3]
        raise ValueError(
            f"umurl needs 2 views per clip (single-modality view, fused view) or 4 (joint, bone, "
            f"motion, fused); got {len(views)}: set data.num_views to 2 or 4"
        )

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        single, fused = self._views(batch["views"])
        streams = [(k, v) for k, v in zip(SINGLE_MODALITIES, single)] + [("fused", fused)]
        *y_single, y_fused = self.encoder.forward_streams(streams)
        z = [self.projectors[k](y) for k, y in zip(SINGLE_MODALITIES, y_single)]
        u = [self.projectors[k](y_fused) for k in SINGLE_MODALITIES]
        terms = self.loss_terms(z, u)
        p = self.params
        loss = p.intra_weight * terms["intra"] + p.inter_weight * terms["inter"]
        loss = loss + p.var_weight * terms["var"] + p.cov_weight * terms["cov"]
        with torch.no_grad():
            std = embed_std(y_fused)
        return {"loss": loss, **terms, "stat/embed_std": std}

    def loss_terms(self, z: list[torch.Tensor], u: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """z, u: per-modality (N, D) embeddings of the single and fused views -> the four terms."""
        device_type = z[0].device.type
        with torch.autocast(device_type=device_type, enabled=False):
            z = [t.float() for t in z]
            u = [t.float() for t in u]
            if (
                self.params.gather_distributed
                and dist.is_available()
                and dist.is_initialized()
                and dist.get_world_size() > 1
            ):
                z = [torch.cat(gather(t)) for t in z]
                u = [torch.cat(gather(t)) for t in u]
            centre = sum(z) / len(z)
            intra = sum(F.mse_loss(zk, uk) for zk, uk in zip(z, u))
            inter = sum(F.mse_loss(zk, centre) for zk in z)
            var = cov = torch.zeros((), device=z[0].device)
            for t in z + u:
                v, c = vc_terms(t, self.params.var_eps)
                var, cov = var + v, cov + c
        return {"intra": intra, "inter": inter, "var": var, "cov": cov}
