"""Deterministic preprocessing before augmenting (and as the eval view): CrosSCLR's centring,
resize and per-frame rotation about y (`build_preprocess`), and CTR-GCN's per-clip min-max (`MinMaxScale`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssl_skel.data.transforms.frames import Resize, Transform, _check, _resize, presence


@dataclass(frozen=True)
class FrameCentre:
    """Subtract each body's own `joint` in every frame (CrosSCLR's "relative" data; NTU joint 21 = index 20)."""

    joint: int = 20

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(x)
        return (x - x[:, :, self.joint : self.joint + 1]).astype(np.float32, copy=False)


def y_alignment(x: np.ndarray, right: int = 8, left: int = 4) -> np.ndarray:
    """(T, M, 3, 3) per-frame rotations about y taking each body's left->right shoulder line to +x.

    CrosSCLR `parallel_skeleton`: v = right - left shoulder with v_y := 0, the angle is
    arccos(v_x / (|v| + 1e-4)) per frame, negated for the whole clip when sum_t v_z >= 0 (one
    sign per body and clip), and R_y(a) = [[cos a, 0, -sin a], [0, 1, 0], [sin a, 0, cos a]].
    Kept as the authors wrote it: a frame whose v_z has the other sign than the clip's sum is
    turned away from x, not onto it.
    """
    v = (x[:, :, right] - x[:, :, left]).astype(np.float64)  # (3, T, M)
    v[1] = 0.0
    angle = np.arccos(v[0] / (np.sqrt((v**2).sum(axis=0)) + 1e-4))  # (T, M)
    angle = np.where(v[2].sum(axis=0, keepdims=True) >= 0, -angle, angle)
    c, s = np.cos(angle), np.sin(angle)
    rot = np.zeros(angle.shape + (3, 3))
    rot[..., 0, 0], rot[..., 0, 2], rot[..., 1, 1], rot[..., 2, 0], rot[..., 2, 2] = c, -s, 1.0, s, c
    return rot


@dataclass(frozen=True)
class YAlign:
    """Rotate every frame of every body about y so its shoulders lie along x (see `y_alignment`)."""

    right: int = 8
    left: int = 4

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(x)
        if x.shape[0] != 3:
            raise ValueError(f"YAlign needs 3 coordinate channels, got C={x.shape[0]}")
        rot = y_alignment(x, self.right, self.left)
        return np.einsum("tmij,jtvm->itvm", rot, x.astype(np.float64)).astype(np.float32)


@dataclass(frozen=True)
class ResizeAll:
    """All frames resized to clip_length (deterministic)."""

    clip_length: int
    resize: Resize = "half_pixel"

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(x)
        return _resize(x, 0, x.shape[1], self.clip_length, self.resize)


@dataclass(frozen=True)
class MinMaxScale:
    """Each coordinate axis of the clip mapped to [-1, 1] over all its frames, joints and persons.

    x_c <- 2 (x_c - min_c) / (max_c - min_c) - 1, min and max over every present point of the clip
    (CTR-GCN's NW-UCLA feeder, per clip and per axis, so the axes are stretched independently and
    body proportions are not kept). Absent bodies stay zero; an axis with max == min maps to 0.
    """

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(x)
        c = x.shape[0]
        present = presence(x)
        if present.all():
            flat = x.reshape(c, -1)
            lo, hi = flat.min(axis=1), flat.max(axis=1)
        elif present.any():
            lo = np.where(present, x, np.inf).reshape(c, -1).min(axis=1)
            hi = np.where(present, x, -np.inf).reshape(c, -1).max(axis=1)
        else:
            return x
        span = hi - lo
        scale = np.divide(2.0, span, out=np.zeros_like(span), where=span > 0)[:, None, None, None]
        mid = ((lo + hi) / 2)[:, None, None, None]
        out = ((x - mid) * scale).astype(np.float32, copy=False)
        return out if present.all() else np.where(present, out, 0.0).astype(np.float32, copy=False)


PREPROCESS = ("none", "crossclr")


def build_preprocess(name: str, clip_length: int) -> tuple[Transform, ...]:
    """Deterministic steps run on the valid frames before augmentation (train) or as the view (eval).

    crossclr: CrosSCLR's `NTUMotionProcessor(data_type="relative", y_rotation=True,
    sampling="resize")`: every frame centred on each body's spine-shoulder joint, the valid
    frames resized to clip_length (half-pixel linear), each frame rotated about y.
    """
    if name == "none":
        return ()
    if name == "crossclr":
        return (FrameCentre(20), ResizeAll(clip_length, "half_pixel"), YAlign(8, 4))
    raise ValueError(f"unknown preprocess {name!r} (one of {', '.join(PREPROCESS)})")
