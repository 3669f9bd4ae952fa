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
The authors' own choices are options here: UmURL's crop floor of 64 frames, half-pixel
linear resizing (torch `F.interpolate(..., align_corners=False)`), joint corruption and
its per-view "one of" choice with shear; CrosSCLR's random shift with mirrored padding
and its per-frame spine centring + rotation about y, applied before augmenting
(`build_preprocess`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ssl_skel.core.config import AugmentConfig
from ssl_skel.data.layouts import Layout

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


# --------------------------------------------------------------------------- time
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


@dataclass(frozen=True)
class TemporalCropResize:
    """Random crop of a fraction in [min_ratio, max_ratio] of the frames, resized to clip_length.

    The input is the clip's valid frames only (the dataset cuts the zero padding off). The
    crop keeps `rounding(ratio * T)` frames, but never fewer than `min_frames` (all of them
    when the clip is shorter). UmURL: ratio U[0.1, 1], floor, at least 64, half-pixel resize.
    """

    clip_length: int
    min_ratio: float = 0.5
    max_ratio: float = 1.0
    min_frames: int = 2
    rounding: Literal["round", "floor"] = "round"
    resize: Resize = "endpoints"

    def __post_init__(self) -> None:
        if not (0 < self.min_ratio <= self.max_ratio <= 1.0) or self.clip_length < 1:
            raise ValueError(f"TemporalCropResize: need 0 < min_ratio <= max_ratio <= 1, clip_length >= 1; got {self}")
        if self.min_frames < 1 or self.rounding not in ("round", "floor") or self.resize not in RESIZES:
            raise ValueError(f"TemporalCropResize: need min_frames >= 1, rounding round|floor, resize {RESIZES}")

    def crop_length(self, t: int, ratio: float) -> int:
        """Frames kept of a t-frame clip for a drawn `ratio`."""
        raw = math.floor(ratio * t) if self.rounding == "floor" else int(round(ratio * t))
        return min(max(raw, self.min_frames), t)

    def plan(self, rng: np.random.Generator, t: int) -> tuple[int, int]:
        """The crop of a t-frame clip, (start, length): the draws `__call__` makes, in its order."""
        length = self.crop_length(t, rng.uniform(self.min_ratio, self.max_ratio))
        return int(rng.integers(0, t - length + 1)), length

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        start, length = self.plan(rng, x.shape[1])
        return _resize(x, start, length, self.clip_length, self.resize)


@dataclass(frozen=True)
class CenterCropResize:
    """Deterministic centre crop of `ratio` of the frames, resized to clip_length (eval view)."""

    clip_length: int
    ratio: float = 1.0
    resize: Resize = "endpoints"

    def __post_init__(self) -> None:
        if not 0 < self.ratio <= 1.0 or self.clip_length < 1:
            raise ValueError(f"CenterCropResize: need 0 < ratio <= 1, clip_length >= 1; got {self}")
        if self.resize not in RESIZES:
            raise ValueError(f"CenterCropResize: resize must be one of {RESIZES}, got {self.resize!r}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(x)
        t = x.shape[1]
        length = int(np.clip(round(self.ratio * t), min(2, t), t))
        return _resize(x, (t - length) // 2, length, self.clip_length, self.resize)


@dataclass(frozen=True)
class RandomShift:
    """Random temporal shift by up to T // pad_ratio frames with mirrored padding (CrosSCLR `temperal_crop`).

    The clip is padded at both ends with its first / last T // pad_ratio frames in reverse
    order (edge frame repeated, numpy's "symmetric"), then T frames are cut at a uniform start
    in [0, 2 * pad]: a shift in [-pad, +pad] frames, no resize.
    """

    pad_ratio: int = 6

    def __post_init__(self) -> None:
        if self.pad_ratio < 1:
            raise ValueError(f"RandomShift: pad_ratio must be >= 1, got {self.pad_ratio}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        t = x.shape[1]
        pad = t // self.pad_ratio
        start = int(rng.integers(0, 2 * pad + 1))
        if pad == 0:
            return x
        padded = np.concatenate([x[:, :pad][:, ::-1], x, x[:, -pad:][:, ::-1]], axis=1)
        return np.ascontiguousarray(padded[:, start : start + t])


# --------------------------------------------------------------------------- space
class LinearStep:
    """A linear spatial step: x <- A x on some joints (the others keep their values).

    `fill(rng, matrix, joints)` makes the step's draws and writes A into `matrix` (C, C)
    float32 and the chosen joints into `joints` (V,) bool: shear, rotation and yaw choose
    every joint, joint corruption some of them (zeroing: A = 0, and 0 * x + 0.0 is +0.0).
    Drawn apart from the clip so that many views can be made at once (`ssl_skel.data.batched`:
    numpy in the loader, torch on the training device) with the draws of the per-view call.
    """

    def fill(self, rng: np.random.Generator, matrix: np.ndarray, joints: np.ndarray) -> None:
        raise NotImplementedError

    def plan(self, rng: np.random.Generator, c: int, v: int) -> tuple[np.ndarray, np.ndarray]:
        """(matrix (C, C) float32, joints (V,) bool) of one view."""
        matrix, joints = np.empty((c, c), dtype=np.float32), np.empty(v, dtype=bool)
        self.fill(rng, matrix, joints)
        return matrix, joints

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One view, x <- A x on every joint (shear, rotation, yaw; joint corruption overrides this)."""
        _check(x)
        return _apply_matrix(x, self.plan(rng, x.shape[0], x.shape[2])[0])


def _apply_matrix(x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """x <- A x over the coordinate axis. Linear, so an absent (all-zero) body stays exactly zero."""
    out = (matrix.astype(np.float32) @ x.reshape(x.shape[0], -1).astype(np.float32, copy=False)).reshape(x.shape)
    out += 0.0  # -0.0 (0 times a negative entry) -> +0.0
    return out


@dataclass(frozen=True)
class Shear(LinearStep):
    """Random shear: x <- A x with A = I + off-diagonal entries uniform in [-magnitude, magnitude]."""

    magnitude: float

    def fill(self, rng: np.random.Generator, matrix: np.ndarray, joints: np.ndarray) -> None:
        c = len(matrix)
        a = rng.uniform(-self.magnitude, self.magnitude, size=(c, c))
        a.flat[:: c + 1] = 1.0
        matrix[...] = a
        joints[...] = True


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
class Rotate(LinearStep):
    """Random rotation, each angle uniform in [-max_deg, max_deg]; rigid, so bone lengths are kept."""

    max_deg: float

    def fill(self, rng: np.random.Generator, matrix: np.ndarray, joints: np.ndarray) -> None:
        c = len(matrix)
        if c not in (2, 3):
            raise ValueError(f"Rotate needs 2 or 3 coordinate channels, got C={c}")
        angles = np.deg2rad(rng.uniform(-self.max_deg, self.max_deg, size=1 if c == 2 else 3))
        matrix[...] = rotation_matrix(angles)
        joints[...] = True


@dataclass(frozen=True)
class Yaw(LinearStep):
    """Random rotation about the vertical (y) axis, uniform in [-max_deg, max_deg]: any camera
    yaw at 180, without tilting the body the way a large `Rotate` about x and z does."""

    max_deg: float

    def fill(self, rng: np.random.Generator, matrix: np.ndarray, joints: np.ndarray) -> None:
        if len(matrix) != 3:
            raise ValueError(f"Yaw needs 3 coordinate channels, got C={len(matrix)}")
        angle = np.deg2rad(rng.uniform(-self.max_deg, self.max_deg))
        matrix[...] = rotation_matrix([0.0, angle, 0.0])
        joints[...] = True


@dataclass(frozen=True)
class Flip:
    """With probability `prob`, mirror x (channel 0) and swap left/right joints of `layout`."""

    layout: Layout
    prob: float = 0.5

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        if x.shape[2] != self.layout.num_joints:
            raise ValueError(
                f"Flip: layout {self.layout.name} has {self.layout.num_joints} joints, clip has {x.shape[2]}"
            )
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


@dataclass(frozen=True)
class JointCorruption(LinearStep):
    """Corrupt `num_joints` random joints in every frame and person (UmURL `joint_courruption`).

    With probability `zero_prob` they are set to 0; otherwise their coordinates are mixed by
    one random C x C matrix with entries uniform in [-magnitude, magnitude] (x <- A x). Absent
    bodies stay zero either way.
    """

    num_joints: int = 15
    zero_prob: float = 0.5
    magnitude: float = 1.0

    def __post_init__(self) -> None:
        if self.num_joints < 1 or not 0.0 <= self.zero_prob <= 1.0 or self.magnitude < 0:
            raise ValueError(f"JointCorruption: need num_joints >= 1, zero_prob in [0, 1], magnitude >= 0; got {self}")

    def fill(self, rng: np.random.Generator, matrix: np.ndarray, joints: np.ndarray) -> None:
        v = len(joints)
        if self.num_joints > v:
            raise ValueError(f"JointCorruption: {self.num_joints} joints asked, the clip has {v}")
        zero = rng.random() < self.zero_prob
        joints[...] = False
        joints[rng.permutation(v)[: self.num_joints]] = True  # a uniform subset; 4x cheaper than choice()
        c = len(matrix)
        matrix[...] = 0.0 if zero else rng.uniform(-self.magnitude, self.magnitude, size=(c, c))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        matrix, joints = self.plan(rng, x.shape[0], x.shape[2])
        chosen = np.zeros((1, 1) + x.shape[2:], dtype=bool)  # full (V, M) trailing axes: long inner loops
        chosen[0, 0, joints] = True
        mapped = _apply_matrix(x, matrix) if matrix.any() else np.float32(0.0)
        return np.where(chosen, mapped, x).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- preprocessing (deterministic)
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


# --------------------------------------------------------------------------- composition
@dataclass(frozen=True)
class OneOf:
    """Apply exactly one of `transforms`, the i-th with probability probs[i] (the rest: none of them)."""

    transforms: tuple[Transform, ...]
    probs: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.transforms) != len(self.probs) or not self.transforms:
            raise ValueError("OneOf: one probability per transform, at least one transform")
        if min(self.probs) < 0 or sum(self.probs) > 1.0 + 1e-9:
            raise ValueError(f"OneOf: probabilities must be >= 0 and sum to at most 1, got {self.probs}")

    def choose(self, rng: np.random.Generator) -> Transform | None:
        u = rng.random()
        edge = 0.0
        for transform, p in zip(self.transforms, self.probs):
            edge += p
            if u < edge:
                return transform
        return None

    def fill(self, rng: np.random.Generator, matrix: np.ndarray, joints: np.ndarray) -> None:
        """As `LinearStep.fill` (all members linear): the chosen one's draws, or A = I on no joint."""
        chosen = self.choose(rng)
        if chosen is not None:
            chosen.fill(rng, matrix, joints)
            return
        matrix[...] = np.eye(len(matrix), dtype=np.float32)
        joints[...] = False

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        chosen = self.choose(rng)
        return chosen(x, rng) if chosen is not None else x


@dataclass(frozen=True)
class Compose:
    """Apply transforms in order with one generator."""

    transforms: tuple[Transform, ...]

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for transform in self.transforms:
            x = transform(x, rng)
        return np.ascontiguousarray(x, dtype=np.float32)


def _spatial_steps(aug: AugmentConfig, layout: Layout) -> list[tuple[str, Transform]]:
    """The configured spatial/noise/mask steps in pipeline order, each with its config name."""
    named: list[tuple[str, Transform | None]] = [
        ("shear", Shear(aug.shear) if aug.shear > 0 else None),
        ("rotate", Rotate(aug.rotate_deg) if aug.rotate_deg > 0 else None),
        ("yaw", Yaw(aug.yaw_deg) if aug.yaw_deg > 0 else None),
        ("flip", Flip(layout, aug.flip_prob) if aug.flip_prob > 0 else None),
        (
            "corrupt",
            JointCorruption(aug.corrupt_joints, aug.corrupt_zero_prob, aug.corrupt_mix)
            if aug.corrupt_joints > 0
            else None,
        ),
        ("noise", GaussianNoise(aug.noise_std) if aug.noise_std > 0 else None),
        ("blur", GaussianBlur(aug.blur_prob) if aug.blur_prob > 0 else None),
        ("joint_mask", JointMask(aug.joint_mask_prob) if aug.joint_mask_prob > 0 else None),
        ("frame_mask", FrameMask(aug.frame_mask_prob) if aug.frame_mask_prob > 0 else None),
        ("axis_mask", AxisMask(aug.axis_mask_prob) if aug.axis_mask_prob > 0 else None),
    ]
    return [(name, t) for name, t in named if t is not None]


def build_transforms(
    aug: AugmentConfig, layout: Layout, clip_length: int, *, resize: Resize = "endpoints", preprocess: str = "none"
) -> Compose:
    """The training view pipeline from config: preprocess, temporal step, then spatial, noise, masks.

    A zero magnitude/probability leaves a transform out. The steps named in `aug.one_of` are
    replaced, at the place of the first of them, by one `OneOf` over them with
    `aug.one_of_probs` (UmURL: corruption or shear, 50/50 per view).
    """
    steps: list[Transform] = list(build_preprocess(preprocess, clip_length))
    if aug.temporal == "shift":
        steps.append(RandomShift(aug.shift_pad_ratio))
        if preprocess == "none":
            steps.insert(0, ResizeAll(clip_length, resize))
    else:
        steps.append(TemporalCropResize(clip_length, aug.crop_min, 1.0, aug.crop_min_frames, aug.crop_rounding, resize))
    spatial = _spatial_steps(aug, layout)
    chosen = {name: t for name, t in spatial if name in aug.one_of}
    missing = [name for name in aug.one_of if name not in chosen]
    if missing:
        raise ValueError(f"augment.one_of names {missing}, which are switched off or unknown")
    placed = False
    for name, t in spatial:
        if name not in chosen:
            steps.append(t)
        elif not placed:
            steps.append(OneOf(tuple(chosen[n] for n in aug.one_of), tuple(aug.one_of_probs)))
            placed = True
    return Compose(tuple(steps))


def build_eval_transform(clip_length: int, *, resize: Resize = "endpoints", preprocess: str = "none") -> Compose:
    """The deterministic evaluation view: all valid frames resized to clip_length (after `preprocess`)."""
    pre = build_preprocess(preprocess, clip_length)
    return Compose(pre if pre else (CenterCropResize(clip_length, 1.0, resize),))
