"""Composing a view: the training pipeline from an `AugmentConfig`, and the evaluation view.

The spatial, noise and masking steps follow `ssl_skel.core.config.SPATIAL_STEPS` (the one list
of their names and order); `STEP_BUILDERS` says how each is built from the config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ssl_skel.core.config import SPATIAL_STEPS, AugmentConfig
from ssl_skel.data.layouts import Layout
from ssl_skel.data.transforms.frames import Resize, Transform
from ssl_skel.data.transforms.noise import AxisMask, FrameMask, GaussianBlur, GaussianNoise, JointMask
from ssl_skel.data.transforms.preprocess import MinMaxScale, ResizeAll, build_preprocess
from ssl_skel.data.transforms.spatial import Flip, JointCorruption, Rotate, Shear, Yaw
from ssl_skel.data.transforms.temporal import (
    CenterCropResize,
    LinspaceFrames,
    RandomShift,
    RandomSortedFrames,
    TemporalCropResize,
)


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


StepBuilder = Callable[[AugmentConfig, Layout], "Transform | None"]

# how each step named in SPATIAL_STEPS is built; None: switched off (zero magnitude or probability)
STEP_BUILDERS: dict[str, StepBuilder] = {
    "shear": lambda aug, layout: Shear(aug.shear) if aug.shear > 0 else None,
    "rotate": lambda aug, layout: (
        Rotate(aug.rotate_deg, tuple(aug.rotate_axes), aug.rotate_integer) if aug.rotate_deg > 0 else None
    ),
    "yaw": lambda aug, layout: Yaw(aug.yaw_deg) if aug.yaw_deg > 0 else None,
    "flip": lambda aug, layout: Flip(layout, aug.flip_prob) if aug.flip_prob > 0 else None,
    "corrupt": lambda aug, layout: (
        JointCorruption(aug.corrupt_joints, aug.corrupt_zero_prob, aug.corrupt_mix) if aug.corrupt_joints > 0 else None
    ),
    "noise": lambda aug, layout: GaussianNoise(aug.noise_std) if aug.noise_std > 0 else None,
    "blur": lambda aug, layout: GaussianBlur(aug.blur_prob) if aug.blur_prob > 0 else None,
    "joint_mask": lambda aug, layout: JointMask(aug.joint_mask_prob) if aug.joint_mask_prob > 0 else None,
    "frame_mask": lambda aug, layout: FrameMask(aug.frame_mask_prob) if aug.frame_mask_prob > 0 else None,
    "axis_mask": lambda aug, layout: AxisMask(aug.axis_mask_prob) if aug.axis_mask_prob > 0 else None,
}


def _spatial_steps(aug: AugmentConfig, layout: Layout) -> list[tuple[str, Transform]]:
    """The configured spatial/noise/mask steps in pipeline order (SPATIAL_STEPS), each with its config name."""
    named = [(name, STEP_BUILDERS[name](aug, layout)) for name in SPATIAL_STEPS]
    return [(name, t) for name, t in named if t is not None]


def _temporal_steps(aug: AugmentConfig, clip_length: int, resize: Resize, preprocess: str) -> list[Transform]:
    """The step that picks a view's frames (with the resize a shift needs first)."""
    if aug.temporal == "shift":
        return ([ResizeAll(clip_length, resize)] if preprocess == "none" else []) + [RandomShift(aug.shift_pad_ratio)]
    if aug.temporal == "random_sorted":
        return [RandomSortedFrames(clip_length)]
    return [TemporalCropResize(clip_length, aug.crop_min, 1.0, aug.crop_min_frames, aug.crop_rounding, resize)]


def build_transforms(
    aug: AugmentConfig,
    layout: Layout,
    clip_length: int,
    *,
    resize: Resize = "endpoints",
    preprocess: str = "none",
    normalize: str = "none",
) -> Compose:
    """The training view pipeline from config: preprocess, temporal step, then spatial, noise, masks.

    A zero magnitude/probability leaves a transform out. The steps named in `aug.one_of` are
    replaced, at the place of the first of them, by one `OneOf` over them with
    `aug.one_of_probs` (UmURL: corruption or shear, 50/50 per view). normalize "minmax": the
    min-max spans the whole clip, so the spatial steps run on the whole clip first, then the
    min-max, then the temporal step (CTR-GCN's NW-UCLA order: rotate, min-max, pick frames).
    """
    pre: list[Transform] = list(build_preprocess(preprocess, clip_length))
    temporal = _temporal_steps(aug, clip_length, resize, preprocess)
    spatial = _spatial_steps(aug, layout)
    chosen = {name: t for name, t in spatial if name in aug.one_of}
    missing = [name for name in aug.one_of if name not in chosen]
    if missing:
        raise ValueError(f"augment.one_of names {missing}, which are switched off or unknown")
    steps: list[Transform] = []
    placed = False
    for name, t in spatial:
        if name not in chosen:
            steps.append(t)
        elif not placed:
            steps.append(OneOf(tuple(chosen[n] for n in aug.one_of), tuple(aug.one_of_probs)))
            placed = True
    if normalize == "minmax":
        return Compose(tuple(pre + steps + [MinMaxScale()] + temporal))
    if normalize != "none":
        raise ValueError(f"unknown normalize {normalize!r} (none or minmax)")
    return Compose(tuple(pre + temporal + steps))


def build_eval_transform(
    clip_length: int,
    *,
    resize: Resize = "endpoints",
    preprocess: str = "none",
    normalize: str = "none",
    frames: str = "resize",
) -> Compose:
    """The deterministic evaluation view: all valid frames resized to clip_length (frames "resize") or picked
    at floor(linspace(0, T - 1, clip_length)) ("linspace"), after `preprocess` and the clip's min-max."""
    steps: list[Transform] = list(build_preprocess(preprocess, clip_length))
    if normalize == "minmax":
        steps.append(MinMaxScale())
    elif normalize != "none":
        raise ValueError(f"unknown normalize {normalize!r} (none or minmax)")
    if not build_preprocess(preprocess, clip_length):  # a preprocess resizes to clip_length itself
        pick = LinspaceFrames(clip_length) if frames == "linspace" else CenterCropResize(clip_length, 1.0, resize)
        steps.append(pick)
    return Compose(tuple(steps))
