"""What every skeleton encoder promises the rest of the toolkit.

Why a base class: pretraining methods, evaluation, load_encoder and fusion adapters only
ever see this interface, so a new backbone plugs in by registering itself by name.
Every encoder takes raw joint coordinates `x: (N, C, T, V, M)` and derives the streams
it needs (bone, motion) itself, so callers never prepare modalities by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ssl_skel.core.registry import ENCODERS
from ssl_skel.data.spec import InputSpec


class SkeletonEncoder(nn.Module):
    """Base class. Subclasses set `dim`, `modalities` and implement `forward_modalities`.

    `modalities` lists what `forward` can return: a unified encoder offers
    ("fused", "joint", "bone", "motion"); a single-stream encoder offers its one stream.
    The first entry is the default.
    """

    dim: int
    modalities: tuple[str, ...]

    def __init__(self, spec: InputSpec) -> None:
        super().__init__()
        self.spec = spec
        self.layout = spec.skeleton

    @classmethod
    def from_entry(cls, entry: dict) -> SkeletonEncoder:
        """An untrained encoder of this class from a checkpoint's "encoder" entry."""
        spec = InputSpec.from_dict(entry["spec"])
        params = ENCODERS.validate_params(entry["name"], dict(entry["params"]), source="checkpoint", section="model")
        return cls(spec, params)

    def forward_modalities(self, x: torch.Tensor, modalities: Sequence[str]) -> dict[str, torch.Tensor]:
        """x: (N, C, T, V, M) joints -> {modality: (N, dim)} features."""
        raise NotImplementedError

    def forward_streams(self, streams: Sequence[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        """[(modality, x_i: (N_i, C, T, V, M)), ...] -> [(N_i, dim) features], in order.

        Objectives that encode several augmented views at once call this; an encoder that can
        batch different streams through one pass (the unified encoder) overrides it.
        """
        return [self.forward_modalities(x, (name,))[name] for name, x in streams]

    def forward(self, x: torch.Tensor, modality: str | None = None) -> torch.Tensor:
        """x: (N, C, T, V, M) joints -> (N, dim) features of one modality."""
        name = modality or self.modalities[0]
        return self.forward_modalities(x, (name,))[name]

    def check_input(self, x: torch.Tensor) -> None:
        """Fail with what was expected when `x` does not fit the trained shapes."""
        s = self.spec
        if x.dim() != 5:
            raise ValueError(f"expected a 5-d tensor (N, C, T, V, M), got shape {tuple(x.shape)}")
        _, c, _, v, m = x.shape
        if (c, v, m) != (s.in_channels, self.layout.num_joints, s.num_persons):
            raise ValueError(
                f"encoder trained on C={s.in_channels} channels, V={self.layout.num_joints} joints "
                f"({s.layout}), M={s.num_persons} persons; got C={c}, V={v}, M={m}"
            )

    def check_modalities(self, modalities: Sequence[str]) -> None:
        unknown = [m for m in modalities if m not in self.modalities]
        if unknown:
            raise ValueError(f"{type(self).__name__} offers modalities {self.modalities}, not {unknown}")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_clip(self, modalities: Sequence[str] | None = None) -> int:
        """Forward FLOPs (multiply-add = 2) for one clip of the trained shape."""
        from ssl_skel.models.encoders.flops import count_forward_flops

        names = tuple(modalities or self.modalities[:1])
        s = self.spec
        x = torch.zeros(1, s.in_channels, s.clip_length, self.layout.num_joints, s.num_persons)
        return count_forward_flops(lambda: self.forward_modalities(x, names))
