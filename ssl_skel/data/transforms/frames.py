"""Frame arithmetic shared by the transforms: which bodies are present, and resampling in time.

Clips are `x: (C, T, V, M)` float32 numpy arrays. A person absent in a frame (all coordinates
zero) is kept absent: `presence` finds them, `_keep_absent_zero` restores their zeros.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import numpy as np

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Resize = Literal["endpoints", "half_pixel"]
RESIZES = ("endpoints", "half_pixel")


def presence(x: np.ndarray) -> np.ndarray:
    """x: (C, T, V, M) -> (1, T, 1, M) bool: the person has some non-zero joint in the frame."""
    # two reductions over leading axes: ~3x faster than one over the (0, 2) axis pair
    return x.any(axis=0).any(axis=1)[None, :, None, :]


def _keep_absent_zero(out: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.where(present, out, 0.0).astype(np.float32, copy=False)


def _check(x: np.ndarray) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected a clip of shape (C, T, V, M), got {x.shape}")


def resample(x: np.ndarray, start: float, length: float, out_frames: int) -> np.ndarray:
    """Linear interpolation of frames [start, start + length - 1] of x: (C, T, V, M) to out_frames.

    Between a frame where a person is present and one where it is absent the person is
    not blended towards zero: the nearest source frame is used instead.
    """
    t = x.shape[1]
    src = (
        np.linspace(start, start + length - 1.0, out_frames) if out_frames > 1 else np.array([start + (length - 1) / 2])
    )
    src = np.clip(src, 0.0, t - 1.0)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = (src - lo).astype(np.float32)[None, :, None, None]
    out = x[:, lo] * (1.0 - w) + x[:, hi] * w
    present = presence(x)
    both = present[:, lo] & present[:, hi]
    nearest = np.where(w < 0.5, x[:, lo], x[:, hi])
    return np.where(both, out, nearest).astype(np.float32, copy=False)


@functools.lru_cache(maxsize=4096)
def _half_pixel_taps(n: int, out_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source frames and weights of a half-pixel resize of n frames to out_frames (cached: n <= T_max)."""
    # float32 index arithmetic in torch's order, so the weights are torch's to the last bit
    f32 = np.float32
    scale = f32(n) / f32(out_frames)
    src = np.maximum(scale * (np.arange(out_frames, dtype=f32) + f32(0.5)) - f32(0.5), f32(0.0))
    lo = np.minimum(src.astype(np.int64), n - 1)
    hi = np.minimum(lo + 1, n - 1)
    w = (src - lo.astype(f32))[None, :, None]
    taps = (np.concatenate([lo, hi]), w, (1.0 - w).astype(f32))  # both source frames of a sample: one gather
    for a in taps:
        a.setflags(write=False)
    return taps


def resample_half_pixel(x: np.ndarray, start: int, length: int, out_frames: int) -> np.ndarray:
    """Frames [start, start + length) of x: (C, T, V, M) linearly resized to out_frames, half-pixel centres.

    The same numbers as torch's `F.interpolate(mode="linear", align_corners=False)` (what UmURL
    runs, as bilinear on a (L, 1) image) and cv2's INTER_LINEAR (CrosSCLR): output frame i
    samples source position (i + 0.5) * length / out_frames - 0.5, clamped at 0; no
    anti-aliasing when shrinking, and no guard against blending a body into absence (the
    authors have none).
    """
    seg = x[:, start : start + length]
    n = seg.shape[1]
    if n < 1:
        raise ValueError(f"resample_half_pixel: empty segment (start {start}, length {length}, T {x.shape[1]})")
    taps, w, w0 = _half_pixel_taps(n, out_frames)
    flat = seg.reshape(seg.shape[0], n, -1)  # (C, n, V*M): the blend runs over rows of V*M values
    both = flat.take(taps, axis=1)
    out = both[:, :out_frames] * w0
    out += both[:, out_frames:] * w
    return out.reshape((seg.shape[0], out_frames) + seg.shape[2:]).astype(np.float32, copy=False)


def _resize(x: np.ndarray, start: int, length: int, out_frames: int, mode: Resize) -> np.ndarray:
    if mode == "half_pixel":
        return resample_half_pixel(x, start, length, out_frames)
    return resample(x, start, length, out_frames)
