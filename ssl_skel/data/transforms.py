"""Skeleton augmentations for self-supervised views, as small seeded callables.

Every transform maps one clip `x: (C, T, V, M)` (float32, numpy) and a
`np.random.Generator` to a new clip; randomness comes only from that generator, so a
dataset that seeds it from (seed, epoch, index) gets the same views whatever the worker
count. A person that is absent in a frame (all coordinates zero, e.g. the padded second
body of a one-actor sample) stays exactly zero after every transform: shear, rotation
and noise would otherwise turn padding into a ghost body.

The set follows the skeleton SSL literature (CrosSCLR/AimCLR/CMD/UmURL): shear and
rotation as spatial augmentations, left/right flip with joint swap, temporal
crop-resize, Gaussian noise and temporal blur, and spatial / temporal / axis masking.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ssl_skel.core.config import AugmentConfig
from ssl_skel.data.layouts import Layout

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def presence(x: np.ndarray) -> np.ndarray:
    """x: (C, T, V, M) -> (1, T, 1, M) bool: the person has some non-zero joint in the frame."""
    return np.any(x != 0, axis=(0, 2), keepdims=True)


def _keep_absent_zero(out: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.where(present, out, 0.0).astype(np.float32, copy=False)


def _check(x: np.ndarray) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected a clip of shape (C, T, V, M), got {x.shape}")


# --------------------------------------------------------------------------- time
def resample(x: np.ndarray, start: float, length: float, out_frames: int) -> np.ndarray:
    """Linear interpolation of frames [start, start + length - 1] of x: (C, T, V, M) to out_frames.

    Between a frame where a person is present and one where it is absent the person is
    not blended towards zero: the nearest source frame is used instead.
    """
    t = x.shape[1]
    src = np.linspace(start, start + length - 1.0, out_frames) if out_frames > 1 else np.array([start + (length - 1) / 2])
    src = np.clip(src, 0.0, t - 1.0)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = (src - lo).astype(np.float32)[None, :, None, None]
    out = x[:, lo] * (1.0 - w) + x[:, hi] * w
    present = presence(x)
    both = present[:, lo] & present[:, hi]
    nearest = np.where(w < 0.5, x[:, lo], x[:, hi])
    return np.where(both, out, nearest).astype(np.float32, copy=False)


@dataclass(frozen=True)
class TemporalCropResize:
    """Random crop of a fraction in [min_ratio, max_ratio] of the frames, resized to clip_length.

    The input is the clip's valid frames only (the dataset cuts the zero padding off).
    """

    clip_length: int
    min_ratio: float = 0.5
    max_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not (0 < self.min_ratio <= self.max_ratio <= 1.0) or self.clip_length < 1:
            raise ValueError(f"TemporalCropResize: need 0 < min_ratio <= max_ratio <= 1, clip_length >= 1; got {self}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        t = x.shape[1]
        ratio = rng.uniform(self.min_ratio, self.max_ratio)
        length = int(np.clip(round(ratio * t), min(2, t), t))
        start = int(rng.integers(0, t - length + 1))
        return resample(x, start, length, self.clip_length)


@dataclass(frozen=True)
class CenterCropResize:
    """Deterministic centre crop of `ratio` of the frames, resized to clip_length (eval view)."""

    clip_length: int
    ratio: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.ratio <= 1.0 or self.clip_length < 1:
            raise ValueError(f"CenterCropResize: need 0 < ratio <= 1, clip_length >= 1; got {self}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(x)
        t = x.shape[1]
        length = int(np.clip(round(self.ratio * t), min(2, t), t))
        return resample(x, (t - length) // 2, length, self.clip_length)


# --------------------------------------------------------------------------- space
def _apply_matrix(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    out = np.einsum("ij,jtvm->itvm", matrix.astype(np.float32), x)
    return _keep_absent_zero(out, presence(x))


@dataclass(frozen=True)
class Shear:
    """Random shear: x <- A x with A = I + off-diagonal entries uniform in [-magnitude, magnitude]."""

    magnitude: float

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        c = x.shape[0]
        a = rng.uniform(-self.magnitude, self.magnitude, size=(c, c))
        np.fill_diagonal(a, 1.0)
        return _apply_matrix(x, a)


def rotation_matrix(angles: Sequence[float]) -> np.ndarray:
    """Rotation about x, then y, then z (radians) for 3 angles; in-plane rotation for 1 angle."""
    if len(angles) == 1:
        c, s = np.cos(angles[0]), np.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Rotate:
    """Random rotation, each angle uniform in [-max_deg, max_deg]; rigid, so bone lengths are kept."""

    max_deg: float

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        c = x.shape[0]
        if c not in (2, 3):
            raise ValueError(f"Rotate needs 2 or 3 coordinate channels, got C={c}")
        angles = np.deg2rad(rng.uniform(-self.max_deg, self.max_deg, size=1 if c == 2 else 3))
        return _apply_matrix(x, rotation_matrix(angles))


@dataclass(frozen=True)
class Flip:
    """With probability `prob`, mirror x (channel 0) and swap left/right joints of `layout`."""

    layout: Layout
    prob: float = 0.5

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        if x.shape[2] != self.layout.num_joints:
            raise ValueError(f"Flip: layout {self.layout.name} has {self.layout.num_joints} joints, clip has {x.shape[2]}")
        if rng.random() >= self.prob:
            return x
        out = x[:, :, self.layout.flip_permutation].copy()
        out[0] = -out[0]
        return out + 0.0  # no negative zeros in padding


# --------------------------------------------------------------------------- noise
@dataclass(frozen=True)
class GaussianNoise:
    """Add N(0, std^2) to every coordinate of present persons."""

    std: float

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        out = x + rng.normal(0.0, self.std, size=x.shape).astype(np.float32)
        return _keep_absent_zero(out, presence(x))


@dataclass(frozen=True)
class GaussianBlur:
    """With probability `prob`, smooth along time with a Gaussian of sigma uniform in `sigma`."""

    prob: float = 0.5
    sigma: tuple[float, float] = (0.1, 2.0)
    radius: int = 7

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        if rng.random() >= self.prob:
            return x
        sigma = rng.uniform(*self.sigma)
        offsets = np.arange(-self.radius, self.radius + 1)
        kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
        kernel /= kernel.sum()
        t = x.shape[1]
        idx = np.clip(np.arange(t)[:, None] + offsets[None, :], 0, t - 1)  # edge padding
        out = np.einsum("ctkvm,k->ctvm", x[:, idx], kernel.astype(np.float32))
        return _keep_absent_zero(out, presence(x))


# --------------------------------------------------------------------------- masking
@dataclass(frozen=True)
class JointMask:
    """Spatial masking: zero round(ratio * V) random joints in every frame and person."""

    ratio: float

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        count = int(round(self.ratio * x.shape[2]))
        out = x.copy()
        out[:, :, rng.choice(x.shape[2], size=count, replace=False)] = 0.0
        return out


@dataclass(frozen=True)
class FrameMask:
    """Temporal masking: zero round(ratio * T) random frames."""

    ratio: float

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        count = int(round(self.ratio * x.shape[1]))
        out = x.copy()
        out[:, rng.choice(x.shape[1], size=count, replace=False)] = 0.0
        return out


@dataclass(frozen=True)
class AxisMask:
    """With probability `prob`, zero one random coordinate axis."""

    prob: float

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        if rng.random() >= self.prob:
            return x
        out = x.copy()
        out[int(rng.integers(x.shape[0]))] = 0.0
        return out


# --------------------------------------------------------------------------- composition
@dataclass(frozen=True)
class Compose:
    """Apply transforms in order with one generator."""

    transforms: tuple[Transform, ...]

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for transform in self.transforms:
            x = transform(x, rng)
        return np.ascontiguousarray(x, dtype=np.float32)


def build_transforms(aug: AugmentConfig, layout: Layout, clip_length: int) -> Compose:
    """The training view pipeline from config: crop-resize first, then spatial, noise, masks.

    A zero magnitude/probability leaves a transform out.
    """
    steps: list[Transform] = [TemporalCropResize(clip_length, aug.crop_min, 1.0)]
    if aug.shear > 0:
        steps.append(Shear(aug.shear))
    if aug.rotate_deg > 0:
        steps.append(Rotate(aug.rotate_deg))
    if aug.flip_prob > 0:
        steps.append(Flip(layout, aug.flip_prob))
    if aug.noise_std > 0:
        steps.append(GaussianNoise(aug.noise_std))
    if aug.blur_prob > 0:
        steps.append(GaussianBlur(aug.blur_prob))
    if aug.joint_mask_prob > 0:
        steps.append(JointMask(aug.joint_mask_prob))
    if aug.frame_mask_prob > 0:
        steps.append(FrameMask(aug.frame_mask_prob))
    if aug.axis_mask_prob > 0:
        steps.append(AxisMask(aug.axis_mask_prob))
    return Compose(tuple(steps))


def build_eval_transform(clip_length: int) -> Compose:
    """The deterministic evaluation view: all valid frames resized to clip_length."""
    return Compose((CenterCropResize(clip_length, 1.0),))
