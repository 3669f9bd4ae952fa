"""Temporal steps: which frames a view keeps (random crop-resize, centre crop, CrosSCLR's shift, CTR-GCN's
sorted random frames and floor-linspace frames)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ssl_skel.data.transforms.frames import RESIZES, Resize, _check, _resize


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


@dataclass(frozen=True)
class RandomSortedFrames:
    """clip_length frames drawn at random over the whole clip and sorted; no interpolation, no crop.

    CTR-GCN's NW-UCLA training feeder: `copies` slots per frame (their list `range(T) * 100`),
    clip_length of the copies * T slots drawn without replacement, each slot naming its frame,
    sorted. Nearly clip_length uniform draws with replacement: frames repeat when T < clip_length
    and may repeat for any T.
    """

    clip_length: int
    copies: int = 100

    def __post_init__(self) -> None:
        if self.clip_length < 1 or self.copies < 1:
            raise ValueError(f"RandomSortedFrames: need clip_length >= 1, copies >= 1; got {self}")

    def frames(self, rng: np.random.Generator, t: int) -> np.ndarray:
        """The sorted frame indices drawn for a t-frame clip."""
        slots = self.copies * t
        picks = rng.choice(slots, size=self.clip_length, replace=self.clip_length > slots)
        return np.sort(picks % t)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(x)
        return np.ascontiguousarray(x[:, self.frames(rng, x.shape[1])])


@dataclass(frozen=True)
class LinspaceFrames:
    """Frames floor(linspace(0, T - 1, clip_length)) of the clip, no interpolation (CTR-GCN's NW-UCLA test view)."""

    clip_length: int

    def __post_init__(self) -> None:
        if self.clip_length < 1:
            raise ValueError(f"LinspaceFrames: clip_length must be >= 1, got {self.clip_length}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check(x)
        frames = np.linspace(0, x.shape[1] - 1, self.clip_length).astype(np.int64)
        return np.ascontiguousarray(x[:, frames])
