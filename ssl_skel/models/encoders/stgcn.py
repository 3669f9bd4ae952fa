"""ST-GCN: the single-stream graph-convolutional baseline of skeleton SSL papers.

Follows Yan et al., "Spatial Temporal Graph Convolutional Networks for Skeleton-Based
Action Recognition" (AAAI 2018), in the reduced form that SkeletonCLR / CrosSCLR
(Li et al., CVPR 2021) and AimCLR use for self-supervised pretraining:

- input batch norm over (V * C) per person, persons folded into the batch;
- 10 blocks `GCN(K partitions) -> BN -> ReLU -> temporal conv (9 x 1) -> BN -> dropout`
  with a residual, channels b, b, b, b, 2b, 2b, 2b, 4b, 4b, out (stride 2 entering the
  2b and 4b stages), b = 16 and out = 256 as in those papers ("1/4 of the channels of
  the standard ST-GCN"), learnable edge-importance masks per block, dropout 0.5;
- global average pooling over (T, V), then the mean over the M persons -> (N, out).

The graph comes from the layout's one declaration of bones (`ssl_skel.data.layouts`), so
any layout (NTU-25, Kinect-20, COCO-17) works. The "spatial" partition splits each
joint's 1-hop neighbourhood into root / centripetal / centrifugal by hop distance to the
layout's root joint (spine_shoulder for NTU, as in ST-GCN); "uniform" (K=1) and
"distance" (K=2) are the paper's other two strategies.

Differences from the reference code: the classifier `fc` is not part of the encoder (the
methods own their heads), `num_layers` generalises the fixed 10-block schedule (stage
boundaries at 40% and 70% of the depth), convolutions directly followed by batch norm
have no bias (BN cancels it, so it would never learn), and the stream (joint / bone / motion /
bone_motion) is derived inside the encoder from raw joints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import ENCODERS
from ssl_skel.data.layouts import Layout, hop_distance, partition_adjacency  # noqa: F401 - hop_distance re-exported
from ssl_skel.data.modalities import MODALITIES, to_modality
from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder

Stream = Literal["joint", "bone", "motion", "bone_motion"]
Partition = Literal["spatial", "uniform", "distance", "ctrgcn"]


@dataclass(frozen=True)
class STGCNParams:
    """ST-GCN hyper-parameters; defaults are the SkeletonCLR/CrosSCLR pretraining ones."""

    stream: Stream = "joint"
    base_channels: int = 16  # b: channels of the first stage (64 in the supervised ST-GCN)
    out_channels: int = 256  # channels of the last block = feature dim
    num_layers: int = 10
    temporal_kernel: int = 9
    dropout: float = 0.5
    partition: Partition = "spatial"
    edge_importance: bool = True  # learnable mask on each block's adjacency
    # pytorch: torch's default initialisation; stgcn: the authors' weights_init (convolutions N(0, 0.02) with
    # zero bias, batch norms weight N(1, 0.02) and bias 0)
    init: Literal["pytorch", "stgcn"] = "pytorch"

    def __post_init__(self) -> None:
        check(self.stream in MODALITIES, f"stream must be one of {list(MODALITIES)}")
        check(self.base_channels >= 1 and self.out_channels >= 1, "channels must be >= 1")
        check(self.num_layers >= 1, "num_layers must be >= 1")
        check(self.temporal_kernel >= 1 and self.temporal_kernel % 2 == 1, "temporal_kernel must be odd")
        check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")


# --------------------------------------------------------------------------- graph
# The graph (hop distances, partitions) is part of the layout declaration: ssl_skel.data.layouts.
def root_joint(layout: Layout) -> int:
    """The graph centre of the spatial partition (the declared gcn centre, else the tree's root)."""
    return layout.partition_centre


# --------------------------------------------------------------------------- blocks
class GraphConv(nn.Module):
    """x: (N, C, T, V) -> sum_k A_k-weighted 1x1 convolutions: (N, C_out, T, V)."""

    def __init__(self, in_channels: int, out_channels: int, partitions: int) -> None:
        super().__init__()
        self.partitions = partitions
        self.conv = nn.Conv2d(in_channels, out_channels * partitions, kernel_size=1)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        y = self.conv(x).view(n, self.partitions, -1, t, v)
        return torch.einsum("nkctv,kvw->nctw", y, adjacency)


class STGCNBlock(nn.Module):
    """Spatial graph conv -> BN/ReLU -> temporal conv -> BN/dropout, plus a residual."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        partitions: int,
        temporal_kernel: int,
        stride: int,
        dropout: float,
        residual: bool,
    ) -> None:
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, partitions)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                out_channels,
                out_channels,
                (temporal_kernel, 1),
                (stride, 1),
                ((temporal_kernel - 1) // 2, 0),
                bias=False,  # BN follows
            ),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout),
        )
        if not residual:
            self.residual: nn.Module | None = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """x: (N, C_in, T, V) -> (N, C_out, T / stride, V)."""
        y = self.tcn(self.gcn(x, adjacency))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y)


def channel_schedule(params: STGCNParams) -> list[tuple[int, int]]:
    """(channels, stride) per block: b until 40% depth, 2b until 70%, then 4b; last = out."""
    depth, b = params.num_layers, params.base_channels
    second, third = round(0.4 * depth), round(0.7 * depth)
    blocks = []
    for i in range(depth):
        channels = b if i < second else 2 * b if i < third else 4 * b
        stride = 2 if i > 0 and i in (second, third) else 1
        blocks.append((params.out_channels if i == depth - 1 else channels, stride))
    return blocks


# --------------------------------------------------------------------------- encoder
def fold_persons(x: torch.Tensor, data_bn: nn.BatchNorm1d) -> torch.Tensor:
    """x: (N, C, T, V, M) -> batch-normalised over (V * C) per person: (N * M, C, T, V)."""
    n, c, t, v, m = x.shape
    x = data_bn(x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))
    return x.view(n * m, v, c, t).permute(0, 2, 3, 1).contiguous()


def pool_persons(x: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """x: (N * M, C, T, V) -> global average over (T, V), then mean over persons: (N, C)."""
    return x.mean(dim=(2, 3)).view(n, m, -1).mean(dim=1)


class SingleStreamGCN(SkeletonEncoder):
    """What the single-stream graph encoders share: one stream, the input batch norm, the partition.

    params: a frozen dataclass with `stream`, `out_channels` and `partition` (ST-GCN's or CTR-GCN's).
    """

    def __init__(self, spec: InputSpec, params: Any) -> None:
        super().__init__(spec)
        self.params = params
        self.stream = params.stream
        self.modalities = (params.stream,)
        self.dim = params.out_channels
        self.data_bn = nn.BatchNorm1d(spec.in_channels * self.layout.num_joints)

    def partition(self) -> torch.Tensor:
        """(K, V, V) adjacency of the layout under `params.partition`."""
        return torch.from_numpy(partition_adjacency(self.layout, self.params.partition))

    def embed_stream(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, T, V, M) already in this encoder's stream -> (N, dim)."""
        raise NotImplementedError

    def forward_modalities(self, x: torch.Tensor, modalities: Sequence[str]) -> dict[str, torch.Tensor]:
        """x: (N, C, T, V, M) raw joints -> {stream: (N, dim)}."""
        self.check_modalities(modalities)
        self.check_input(x)
        features = self.embed_stream(to_modality(x, self.stream, self.layout))
        return {name: features for name in modalities}


@ENCODERS.register("stgcn", params=STGCNParams)
class STGCN(SingleStreamGCN):
    """Single-stream ST-GCN: x: (N, C, T, V, M) joints -> (N, out_channels) features."""

    def __init__(self, spec: InputSpec, params: STGCNParams) -> None:
        super().__init__(spec, params)
        adjacency = self.partition()
        self.register_buffer("adjacency", adjacency)
        blocks = []
        in_channels = spec.in_channels
        for i, (channels, stride) in enumerate(channel_schedule(params)):
            blocks.append(
                STGCNBlock(
                    in_channels,
                    channels,
                    adjacency.shape[0],
                    params.temporal_kernel,
                    stride,
                    dropout=0.0 if i == 0 else params.dropout,
                    residual=i > 0,
                )
            )
            in_channels = channels
        self.blocks = nn.ModuleList(blocks)
        if params.edge_importance:
            self.edge_importance = nn.ParameterList([nn.Parameter(torch.ones_like(adjacency)) for _ in self.blocks])
        else:
            self.edge_importance = None
        if params.init == "stgcn":
            self.init_as_authors()

    @torch.no_grad()
    def init_as_authors(self) -> None:
        """ST-GCN's weights_init: convolutions N(0, 0.02) with zero bias, batch norms N(1, 0.02) and bias 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.normal_(0.0, 0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.normal_(1.0, 0.02)
                nn.init.zeros_(module.bias)

    def embed_stream(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, T, V, M) already in this encoder's stream -> (N, dim)."""
        n, m = x.shape[0], x.shape[-1]
        x = fold_persons(x, self.data_bn)
        for i, block in enumerate(self.blocks):
            adjacency = self.adjacency if self.edge_importance is None else self.adjacency * self.edge_importance[i]
            x = block(x, adjacency)
        return pool_persons(x, n, m)
