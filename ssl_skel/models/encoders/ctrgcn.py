"""CTR-GCN: channel-wise topology refinement (Chen et al., ICCV 2021), single stream.

Per partition k of the skeleton graph, each block learns a shared topology P_k
(initialised to the normalised adjacency A_k) and refines it per channel and per sample:

    M_k(x) = alpha * T(tanh(phi(x)_u - psi(x)_v)) + P_k        (N, C_out, V, V)
    y      = sum_k  M_k(x) applied over joints to xi(x)          (channel-wise aggregation)

phi, psi: 1x1 convs to R = C_in / 8 channels (8 for raw coordinates), averaged over time;
T: 1x1 conv R -> C_out; xi: 1x1 conv C_in -> C_out; alpha: a learnable scalar
initialised to 0, so training starts from the plain (learnable) topology. The temporal part
is the multi-scale temporal conv of the paper: two dilated (5 x 1) branches (dilation 1, 2),
a max-pool branch and a 1x1 branch, concatenated.

Same frame as `stgcn` (raw joints in, the stream derived inside, persons folded into the
batch and averaged after global pooling, graph from the layout's "spatial" partition) and
the paper's widths: 10 blocks 64, 64, 64, 64, 128, 128, 128, 256, 256, 256 (stride 2
entering 128 and 256). Differences: no classifier inside the encoder; the input batch norm
is shared by the persons (V * C features, as in the SSL ST-GCN); convolutions directly
followed by batch norm carry no bias. `partition: ctrgcn` and `init: ctrgcn` give the
authors' graph values and initialisation (by default: ST-GCN's partition, torch's init).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import ENCODERS
from ssl_skel.data.modalities import MODALITIES
from ssl_skel.models.encoders.base import InputSpec
from ssl_skel.models.encoders.stgcn import (
    Partition,
    SingleStreamGCN,
    Stream,
    channel_schedule,
    fold_persons,
    pool_persons,
)


@dataclass(frozen=True)
class CTRGCNParams:
    """CTR-GCN hyper-parameters; defaults are the paper's (joint stream)."""

    stream: Stream = "joint"
    base_channels: int = 64
    out_channels: int = 256
    num_layers: int = 10
    temporal_kernel: int = 5
    dilations: tuple[int, ...] = (1, 2)
    rel_reduction: int = 8
    # spatial: ST-GCN's averaged partition by hop distance; ctrgcn: the authors' graph (self, children summed
    # into parents, parents spread over children: `ssl_skel.data.layouts.ctrgcn_adjacency`)
    partition: Partition = "spatial"
    # pytorch: torch's default initialisation (the batch norm after the graph convolution at 1e-6); ctrgcn: the
    # authors' (convolutions kaiming-normal fan-out, batch norms 1 and 0, those in the temporal module N(1, 0.02))
    init: Literal["pytorch", "ctrgcn"] = "pytorch"

    def __post_init__(self) -> None:
        check(self.stream in MODALITIES, f"stream must be one of {list(MODALITIES)}")
        check(self.num_layers >= 1 and self.rel_reduction >= 1, "num_layers and rel_reduction must be >= 1")
        check(self.temporal_kernel >= 1 and self.temporal_kernel % 2 == 1, "temporal_kernel must be odd")
        check(len(self.dilations) >= 1 and min(self.dilations) >= 1, "dilations must be >= 1")
        branches = len(self.dilations) + 2
        for name in ("base_channels", "out_channels"):
            value = getattr(self, name)
            check(
                value >= branches and value % branches == 0,
                f"{name} must be a positive multiple of {branches} (one part per temporal branch)",
            )


def conv_bn(
    in_channels: int, out_channels: int, kernel: tuple[int, int] = (1, 1), stride: int = 1, dilation: int = 1
) -> nn.Sequential:
    """Temporal (k x 1) conv without bias, then batch norm: (N, C, T, V) -> (N, C', T / stride, V)."""
    pad = ((kernel[0] - 1) * dilation // 2, 0)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, (stride, 1), pad, (dilation, 1), bias=False),
        nn.BatchNorm2d(out_channels),
    )


class TopologyRefinement(nn.Module):
    """CTR-GC's learned parts for one partition.

    x: (N, C_in, T, V) -> (per-channel refinement (N, C_out, V_out, V_in), values xi(x)
    (N, C_out, T, V)); the parent adds the shared topology. The parent computes all partitions
    at once with these modules' weights; `forward` is the one-partition form of the same maths.
    """

    def __init__(self, in_channels: int, out_channels: int, reduction: int) -> None:
        super().__init__()
        rel = 8 if in_channels <= 16 else in_channels // reduction
        self.phi = nn.Conv2d(in_channels, rel, 1)
        self.psi = nn.Conv2d(in_channels, rel, 1)
        self.xi = nn.Conv2d(in_channels, out_channels, 1)
        self.lift = nn.Conv2d(rel, out_channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q, k = self.phi(x).mean(2), self.psi(x).mean(2)  # (N, R, V)
        relation = torch.tanh(q.unsqueeze(-1) - k.unsqueeze(-2))  # (N, R, V_out, V_in)
        return self.lift(relation), self.xi(x)


class RefinedGraphConv(nn.Module):
    """Sum of CTR-GCs over partitions, batch norm, residual, ReLU.

    The K partitions' refinements are computed together, with the weights of their own
    `TopologyRefinement` modules (so the parameters keep one module per partition): one 1x1
    convolution for every xi, one for every phi and psi on the clip averaged over time (a 1x1
    convolution commutes with the mean, so phi(x).mean(2) = phi(x.mean(2))), one grouped
    convolution for every lift. Fewer, larger convolutions: about 10 % less CPU per training step
    at the paper's width than one partition at a time, the same values up to float rounding.
    """

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor, reduction: int) -> None:
        super().__init__()
        # learnable shared topology per partition, stored as (K, V_out, V_in)
        self.topology = nn.Parameter(adjacency.transpose(1, 2).clone())
        self.alpha = nn.Parameter(torch.zeros(1))
        self.convs = nn.ModuleList(
            [TopologyRefinement(in_channels, out_channels, reduction) for _ in range(adjacency.shape[0])]
        )
        self.bn = nn.BatchNorm2d(out_channels)
        nn.init.constant_(self.bn.weight, 1e-6)  # as the paper's code: blocks start near identity
        self.down = nn.Identity() if in_channels == out_channels else conv_bn(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        convs, parts = self.convs, len(self.convs)
        rel, out = convs[0].phi.out_channels, convs[0].xi.out_channels
        qk_weight = torch.cat([w for c in convs for w in (c.phi.weight, c.psi.weight)])
        qk_bias = torch.cat([b for c in convs for b in (c.phi.bias, c.psi.bias)])
        qk = F.conv2d(x.mean(2, keepdim=True), qk_weight, qk_bias)  # (N, K * 2R, 1, V)
        values = F.conv2d(x, torch.cat([c.xi.weight for c in convs]), torch.cat([c.xi.bias for c in convs]))
        n, _, t, v = values.shape
        qk = qk.view(n, parts, 2, rel, v)
        relation = torch.tanh(qk[:, :, 0].unsqueeze(-1) - qk[:, :, 1].unsqueeze(-2))  # (N, K, R, V_out, V_in)
        lift_weight = torch.cat([c.lift.weight for c in convs])
        lift_bias = torch.cat([c.lift.bias for c in convs])
        refined = F.conv2d(relation.reshape(n, parts * rel, v, v), lift_weight, lift_bias, groups=parts)
        relation = refined.view(n, parts, out, v, v) * self.alpha + self.topology.unsqueeze(1)  # (N, K, C, V, V)
        values = values.view(n, parts, out, t, v)
        y = None
        for k in range(parts):
            z = torch.einsum("ncuv,nctv->nctu", relation[:, k], values[:, k])
            y = z if y is None else y + z  # no copy of the first partition's output
        return F.relu(self.bn(y) + self.down(x))


class MultiScaleTemporalConv(nn.Module):
    """Dilated (k x 1) branches + max-pool branch + 1x1 branch, concatenated on channels."""

    def __init__(self, channels: int, out_channels: int, kernel: int, stride: int, dilations: Sequence[int]) -> None:
        super().__init__()
        part = out_channels // (len(dilations) + 2)

        def squeeze() -> list[nn.Module]:
            return [*conv_bn(channels, part), nn.ReLU(inplace=True)]

        branches = [nn.Sequential(*squeeze(), conv_bn(part, part, (kernel, 1), stride, d)) for d in dilations]
        branches.append(
            nn.Sequential(
                *squeeze(),
                nn.MaxPool2d((3, 1), (stride, 1), (1, 0)),
                nn.BatchNorm2d(part),
            )
        )
        branches.append(conv_bn(channels, part, stride=stride))
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class CTRGCNBlock(nn.Module):
    """x: (N, C_in, T, V) -> ReLU(TCN(GCN(x)) + residual): (N, C_out, T / stride, V)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency: torch.Tensor,
        params: CTRGCNParams,
        stride: int,
        residual: bool,
    ) -> None:
        super().__init__()
        self.gcn = RefinedGraphConv(in_channels, out_channels, adjacency, params.rel_reduction)
        self.tcn = MultiScaleTemporalConv(out_channels, out_channels, params.temporal_kernel, stride, params.dilations)
        if not residual:
            self.residual: nn.Module | None = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = conv_bn(in_channels, out_channels, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x))
        return F.relu(y if self.residual is None else y + self.residual(x))


@ENCODERS.register("ctrgcn", params=CTRGCNParams)
class CTRGCN(SingleStreamGCN):
    """Single-stream CTR-GCN: x: (N, C, T, V, M) joints -> (N, out_channels) features."""

    def __init__(self, spec: InputSpec, params: CTRGCNParams) -> None:
        super().__init__(spec, params)
        adjacency = self.partition()
        blocks, in_channels = [], spec.in_channels
        for i, (channels, stride) in enumerate(channel_schedule(params)):
            blocks.append(CTRGCNBlock(in_channels, channels, adjacency, params, stride, residual=i > 0))
            in_channels = channels
        self.blocks = nn.Sequential(*blocks)
        if params.init == "ctrgcn":
            self.init_as_authors()

    @torch.no_grad()
    def init_as_authors(self) -> None:
        """CTR-GCN's initialisation: every convolution kaiming-normal (fan-out) with zero bias, every batch norm
        weight 1 and bias 0, except the temporal modules' (weight N(1, 0.02)) and the norm after each graph
        convolution (weight 1e-6). The shared topology keeps the graph, alpha stays 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, MultiScaleTemporalConv):
                for bn in module.modules():
                    if isinstance(bn, nn.BatchNorm2d):
                        bn.weight.normal_(1.0, 0.02)
            elif isinstance(module, RefinedGraphConv):
                nn.init.constant_(module.bn.weight, 1e-6)

    def embed_stream(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, T, V, M) already in this encoder's stream -> (N, dim)."""
        n, m = x.shape[0], x.shape[-1]
        return pool_persons(self.blocks(fold_persons(x, self.data_bn)), n, m)
