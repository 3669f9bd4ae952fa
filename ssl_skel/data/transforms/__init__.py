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
Supervised recipes add CTR-GCN's NW-UCLA steps: rotation about chosen axes in their order,
per-clip min-max to [-1, 1], sorted random frames for training and floor-linspace frames for
evaluation.
The authors' own choices are options here: UmURL's crop floor of 64 frames, half-pixel
linear resizing (torch `F.interpolate(..., align_corners=False)`), joint corruption and
its per-view "one of" choice with shear; CrosSCLR's random shift with mirrored padding
and its per-frame spine centring + rotation about y, applied before augmenting
(`build_preprocess`).

One module per kind of step: `frames` (presence, resampling in time), `temporal` (crops,
shift), `spatial` (linear maps, flip), `noise` (noise, blur, masks), `preprocess`
(deterministic steps), `pipeline` (composition from the config). Everything is importable
from here.
"""

from __future__ import annotations

from ssl_skel.data.transforms.frames import (
    RESIZES,
    Resize,
    Transform,
    presence,
    resample,
    resample_half_pixel,
)
from ssl_skel.data.transforms.frames import _half_pixel_taps as _half_pixel_taps  # used by data.batched
from ssl_skel.data.transforms.frames import _resize as _resize  # used by data.batched
from ssl_skel.data.transforms.noise import AxisMask, FrameMask, GaussianBlur, GaussianNoise, JointMask
from ssl_skel.data.transforms.pipeline import (
    STEP_BUILDERS,
    Compose,
    OneOf,
    build_eval_transform,
    build_transforms,
)
from ssl_skel.data.transforms.preprocess import (
    PREPROCESS,
    FrameCentre,
    MinMaxScale,
    ResizeAll,
    YAlign,
    build_preprocess,
    y_alignment,
)
from ssl_skel.data.transforms.spatial import (
    Flip,
    JointCorruption,
    LinearStep,
    Rotate,
    Shear,
    Yaw,
    axis_rotation,
    rotation_matrix,
)
from ssl_skel.data.transforms.temporal import (
    CenterCropResize,
    LinspaceFrames,
    RandomShift,
    RandomSortedFrames,
    TemporalCropResize,
)

__all__ = [
    "PREPROCESS",
    "RESIZES",
    "STEP_BUILDERS",
    "AxisMask",
    "CenterCropResize",
    "Compose",
    "Flip",
    "FrameCentre",
    "FrameMask",
    "GaussianBlur",
    "GaussianNoise",
    "JointCorruption",
    "JointMask",
    "LinearStep",
    "LinspaceFrames",
    "MinMaxScale",
    "OneOf",
    "RandomShift",
    "RandomSortedFrames",
    "Resize",
    "ResizeAll",
    "Rotate",
    "Shear",
    "TemporalCropResize",
    "Transform",
    "YAlign",
    "Yaw",
    "axis_rotation",
    "build_eval_transform",
    "build_preprocess",
    "build_transforms",
    "presence",
    "resample",
    "resample_half_pixel",
    "rotation_matrix",
    "y_alignment",
]
