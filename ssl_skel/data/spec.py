"""What a dataset delivers and an encoder is built for: layout, channels, persons, clip length.

Why in `data`: datasets produce it and encoders, checkpoints and evaluation consume it, so it
sits in the lowest layer that knows layouts. The layout travels in full (`layout_def`, the
declaration as plain types) and so does the converter's normalisation (`preprocess`), so a
checkpoint alone can rebuild its encoder and prepare raw clips the way its training data was
prepared. Specs from older checkpoints carry only the layout name (a built-in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ssl_skel.data.layouts import Layout, stored_layout

SPEC_KEYS = ("layout", "in_channels", "num_persons", "clip_length")


@dataclass(frozen=True)
class InputSpec:
    """The data an encoder was built for; stored in checkpoints, checked on every call."""

    layout: str  # the layout's name (a built-in, or the name in layout_def)
    in_channels: int  # 2 (2D pose), 3 (3D, or 2D plus a score)
    num_persons: int  # M
    clip_length: int  # T of the training clips
    layout_def: dict | None = field(default=None, compare=False)  # Layout.to_dict(); None: built-in by name
    preprocess: dict | None = field(default=None, compare=False)  # the converter's normalisation (see prepare)

    @cached_property
    def skeleton(self) -> Layout:
        return stored_layout(self.layout, self.layout_def)

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> InputSpec:
        """From a checkpoint's `encoder.spec` (old ones lack layout_def and preprocess)."""
        return cls(
            **{k: entry[k] for k in SPEC_KEYS},
            layout_def=entry.get("layout_def"),
            preprocess=entry.get("preprocess"),
        )

    @classmethod
    def for_layout(
        cls, layout: Layout, in_channels: int, num_persons: int, clip_length: int, preprocess: dict | None = None
    ) -> InputSpec:
        return cls(layout.name, in_channels, num_persons, clip_length, layout.to_dict(), preprocess)
