"""Several single-stream backbones side by side: the "three-stream" model of the literature.

Why: 3s-SkeletonCLR / 3s-CrosSCLR / 3s-AimCLR train one backbone per stream (joint,
bone, motion) and ensemble them. This encoder holds one backbone per stream so that a
multi-stream model is one checkpoint, one `load_encoder` and one `embed(x)`.

`modalities = ("fused", *streams)`. "fused" is the MEAN of the per-stream features, not
their concatenation: the contract promises every modality as an (N, dim) feature, so a
linear probe or KNN index built on `dim` works for any modality, and a mean keeps the
fused feature on the same scale as each stream. A linear probe on the mean is the average
of per-stream linear maps; score-level ensembles (the papers' protocol) use the
per-stream modalities, which are offered as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ssl_skel.core.config import ConfigError, check, from_dict
from ssl_skel.core.registry import ENCODERS
from ssl_skel.data.modalities import MODALITIES
from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder


@dataclass(frozen=True)
class MultiStreamParams:
    backbone: str = "stgcn"  # a single-stream encoder whose params have a `stream` field
    backbone_params: dict = field(default_factory=dict)  # shared by every stream, minus `stream`
    streams: tuple[str, ...] = ("joint", "bone", "motion")

    def __post_init__(self) -> None:
        check(len(self.streams) >= 1, "streams must name at least one stream")
        check(len(set(self.streams)) == len(self.streams), f"streams {list(self.streams)} repeat a name")
        bad = [s for s in self.streams if s not in MODALITIES]
        check(not bad, f"unknown streams {bad} (known: {', '.join(MODALITIES)})")
        check("stream" not in self.backbone_params, "backbone_params must not set `stream`; list it in streams")


def build_stream(backbone: str, params: dict, stream: str, spec: InputSpec) -> SkeletonEncoder:
    """One single-stream backbone for `stream`, its params validated by the registry."""
    entry = ENCODERS.get(backbone)
    if backbone == "multistream":
        raise ConfigError("model.params.backbone: a multistream encoder cannot nest another multistream")
    typed = from_dict(entry.params, {**params, "stream": stream}, prefix="model.params.backbone_params")
    return entry.cls(spec, typed)


@ENCODERS.register("multistream", params=MultiStreamParams)
class MultiStreamEncoder(SkeletonEncoder):
    """x: (N, C, T, V, M) joints -> per-stream features and their mean ("fused")."""

    def __init__(self, spec: InputSpec, params: MultiStreamParams) -> None:
        super().__init__(spec)
        self.params = params
        self.streams = nn.ModuleDict(
            {s: build_stream(params.backbone, params.backbone_params, s, spec) for s in params.streams}
        )
        dims = {s: enc.dim for s, enc in self.streams.items()}
        if len(set(dims.values())) != 1:
            raise ConfigError(f"model.params: streams have different feature dims {dims}")
        self.dim = next(iter(dims.values()))
        self.modalities = ("fused", *params.streams)

    def stream_encoder(self, stream: str) -> SkeletonEncoder:
        """The backbone of one stream (methods that train streams separately use it)."""
        if stream not in self.streams:
            raise ValueError(f"no stream {stream!r} in this encoder (streams: {list(self.streams)})")
        return self.streams[stream]

    def forward_modalities(self, x: torch.Tensor, modalities: Sequence[str]) -> dict[str, torch.Tensor]:
        """x: (N, C, T, V, M) raw joints -> {modality: (N, dim)}; each stream runs once."""
        self.check_modalities(modalities)
        self.check_input(x)
        needed = list(self.streams) if "fused" in modalities else [m for m in modalities]
        per_stream = {s: self.streams[s](x) for s in dict.fromkeys(needed)}
        out = {m: per_stream[m] for m in modalities if m != "fused"}
        if "fused" in modalities:
            out["fused"] = torch.stack([per_stream[s] for s in self.streams]).mean(dim=0)
        return {m: out[m] for m in modalities}
