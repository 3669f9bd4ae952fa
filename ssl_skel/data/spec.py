"""What a dataset delivers and an encoder is built for: layout, channels, persons, clip length.

Why in `data`: datasets produce it and encoders, checkpoints and evaluation consume it, so it
sits in the lowest layer that knows layouts.
"""
from __future__ import annotations

from dataclasses import dataclass

from ssl_skel.data.layouts import Layout, get_layout


@dataclass(frozen=True)
class InputSpec:
    """The data an encoder was built for; stored in checkpoints, checked on every call."""

    layout: str  # name in ssl_skel.data.layouts.LAYOUTS
    in_channels: int  # 2 (2D pose) or 3 (3D)
    num_persons: int  # M
    clip_length: int  # T of the training clips

    @property
    def skeleton(self) -> Layout:
        return get_layout(self.layout)
