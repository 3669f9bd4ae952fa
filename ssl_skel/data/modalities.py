"""Joint -> bone / motion streams, as pure batched tensor functions.

All functions take and return `x: (N, C, T, V, M)` (or `(C, T, V, M)`, the batch axis is
optional) and work for numpy arrays and torch tensors alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

from ssl_skel.data.layouts import Layout

Array = TypeVar("Array", np.ndarray, torch.Tensor)

MODALITIES = ("joint", "bone", "motion", "bone_motion")


def bone(x: Array, layout: Layout) -> Array:
    """Child minus parent along the joint axis (-2); the root bone is zero."""
    parents = list(layout.parents)
    return x - x[..., parents, :]


def motion(x: Array) -> Array:
    """Frame difference x[t+1] - x[t] along the time axis (-3); the last frame is zero."""
    out = x[..., 1:, :, :] - x[..., :-1, :, :]
    pad_shape = list(out.shape)
    pad_shape[-3] = 1
    if isinstance(x, torch.Tensor):
        return torch.cat([out, out.new_zeros(pad_shape)], dim=-3)
    return np.concatenate([out, np.zeros(pad_shape, dtype=out.dtype)], axis=-3)


def bone_motion(x: Array, layout: Layout) -> Array:
    return motion(bone(x, layout))


def to_modality(x: Array, name: str, layout: Layout) -> Array:
    """One stream by name: joint, bone, motion or bone_motion."""
    if name == "joint":
        return x
    if name == "bone":
        return bone(x, layout)
    if name == "motion":
        return motion(x)
    if name == "bone_motion":
        return bone_motion(x, layout)
    raise ValueError(f"unknown modality {name!r} (known: {', '.join(MODALITIES)})")


def to_modalities(x: Array, names: Sequence[str], layout: Layout) -> dict[str, Array]:
    return {name: to_modality(x, name, layout) for name in names}
