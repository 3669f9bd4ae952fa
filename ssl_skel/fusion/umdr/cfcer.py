"""CFCer, UMDR's cross-modal fusion of the RGB and depth tokens (EnhanceModule gating, cross-attention)."""

from __future__ import annotations

import torch
from torch import nn

from ssl_skel.fusion.umdr.attention import CrossAttention
from ssl_skel.fusion.umdr.params import UMDRParams


class EnhanceModule(nn.Module):
    """CFCer's gating: j = LN(cat(r, d)); r * sigmoid(MLP_r(j)), d * sigmoid(MLP_d(j)); also returns the gates."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(2 * dim)
        self.mlp_rgb = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.Sigmoid())
        self.mlp_depth = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.Sigmoid())

    def forward(self, xr: torch.Tensor, xd: torch.Tensor):
        joint = self.norm(torch.cat([xr, xd], -1))
        gr, gd = self.mlp_rgb(joint), self.mlp_depth(joint)
        return xr * gr, xd * gd, gr, gd


class CFCer(nn.Module):
    """Cross-modal fusion: spatial tokens (B, F, D) x 2, temporal features (B, D) x 2 ->
    out_M, out_K (B, K) and the gate/attention statistics."""

    def __init__(self, frames: int, num_classes: int, p: UMDRParams) -> None:
        super().__init__()
        d = p.dim
        args = (d, p.heads, p.dim_head, p.mlp_dim, p.dropout, p.topk)
        self.scc_norm = nn.LayerNorm(2 * d)
        self.scc = nn.ModuleList(
            nn.ModuleList([EnhanceModule(d), CrossAttention(*args), CrossAttention(*args)]) for _ in range(p.scc_depth)
        )
        self.temp_enhance = EnhanceModule(d)
        self.norm_m, self.norm_k = nn.LayerNorm(d), nn.LayerNorm(d)
        self.pos_m = nn.Parameter(torch.randn(1, frames + 1, d))
        self.pos_k = nn.Parameter(torch.randn(1, frames + 1, d))
        self.tcc_norm = nn.LayerNorm(2 * d)
        self.tcc = nn.ModuleList(
            nn.ModuleList([CrossAttention(*args), CrossAttention(*args)]) for _ in range(p.tcc_depth)
        )
        self.head_m, self.head_k = nn.Linear(d, num_classes), nn.Linear(d, num_classes)

    @staticmethod
    def _joint_norm(norm: nn.LayerNorm, xr: torch.Tensor, xd: torch.Tensor):
        return norm(torch.cat([xr, xd], -1)).chunk(2, -1)

    def forward(self, spatial_m, spatial_k, temporal_m, temporal_k):
        gates = []
        xr, xd = self._joint_norm(self.scc_norm, spatial_m, spatial_k)
        for enhance, att_m, att_k in self.scc:
            xr, xd, gr, gd = enhance(xr, xd)
            gates += [gr, gd]
            xr, xd = att_m(xr, xd), att_k(xd, xr)
        tm, tk, gr, gd = self.temp_enhance(temporal_m, temporal_k)
        gates += [gr, gd]
        xr = self.norm_m(torch.cat([tm[:, None], xr], 1)) + self.pos_m
        xd = self.norm_k(torch.cat([tk[:, None], xd], 1)) + self.pos_k
        xr, xd = self._joint_norm(self.tcc_norm, xr, xd)
        for att_m, att_k in self.tcc:
            xr, xd = att_m(xr, xd), att_k(xd, xr)
        stats = {"gate_rgb": torch.stack([g.mean() for g in gates[0::2]]).mean()}
        stats["gate_depth"] = torch.stack([g.mean() for g in gates[1::2]]).mean()
        return self.head_m(xr[:, 0]), self.head_k(xd[:, 0]), stats
