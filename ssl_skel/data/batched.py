"""All views of a clip, or of a batch, at once: the draws taken per clip, the maths applied in bulk.

Why: a view of the UmURL recipe is a temporal crop-resize then one linear spatial step (shear,
or joint corruption: x <- A x on some joints). Made one view at a time that is about sixty
small numpy calls per clip, and their Python overhead, not their arithmetic, is what a loader
worker spends its core on. `ViewPlanner` draws every random number of a clip's views first,
from the clip's own generator and in exactly the order `Compose` draws them (so the views are
the per-view pipeline's, bit for bit), then crops all views with one gather and applies the
linear steps with one stacked matrix product.

The same draws also let the linear steps run on the training device (`data.augment_on:
device`): the loader worker only crops and resamples to the clip length, and sends each view's
matrices and joint masks with the batch; `apply_linear_torch` applies them to the batch tensor
there. Draws still come from (seed, epoch, index), so a resumed run replays exactly, and the
views equal the per-clip path's up to fp32 rounding of the 3x3 products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ssl_skel.data.transforms import Compose, LinearStep, OneOf, TemporalCropResize, _half_pixel_taps, _resize


@dataclass(frozen=True)
class ViewPlans:
    """The draws of K views of one clip (or, collated, of a batch: a leading batch axis).

    starts, lengths: (K,) crop of each view; matrices: (K, S, C, C) float32 and joints:
    (K, S, V) bool, one row per linear step of the pipeline (S of them, in order).
    """

    starts: np.ndarray
    lengths: np.ndarray
    matrices: np.ndarray
    joints: np.ndarray


def _planned(t: object) -> bool:
    if isinstance(t, OneOf):
        return all(_planned(m) for m in t.transforms)
    return isinstance(t, LinearStep)


def unplanned_steps(pipeline: Compose) -> list[str]:
    """Names of the steps that keep `pipeline` off the planned path ([] when it can take it).

    Planned: a temporal crop-resize first, then only shear, rotation, yaw, joint corruption
    (and `OneOf` over them); preprocessing, flips, noise, blur, masks and shifts are not.
    """
    steps = pipeline.transforms
    bad = [] if steps and isinstance(steps[0], TemporalCropResize) else ["a temporal crop-resize first"]
    for t in steps[1:]:
        if not _planned(t):
            bad.append(type(t).__name__)
    return bad


@dataclass(frozen=True)
class ViewPlanner:
    """Draws and makes the views of a crop-resize + linear-steps pipeline (see `unplanned_steps`)."""

    crop: TemporalCropResize
    linear: tuple

    @staticmethod
    def of(pipeline: Compose) -> ViewPlanner | None:
        if unplanned_steps(pipeline):
            return None
        return ViewPlanner(pipeline.transforms[0], tuple(pipeline.transforms[1:]))

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...], views: int) -> ViewPlans:
        """The draws of `views` views of a clip of `shape` (C, T, V, M), in `Compose`'s order."""
        c, t, v = shape[0], shape[1], shape[2]
        s = len(self.linear)
        crops = []
        matrices = np.empty((views, s, c, c), dtype=np.float32)
        joints = np.empty((views, s, v), dtype=bool)
        for k in range(views):
            crops.append(self.crop.plan(rng, t))
            for j, step in enumerate(self.linear):
                step.fill(rng, matrices[k, j], joints[k, j])
        starts, lengths = np.array(crops, dtype=np.int64).T
        return ViewPlans(starts, lengths, matrices, joints)

    def crops(self, x: np.ndarray, plans: ViewPlans) -> np.ndarray:
        """x: (C, T, V, M) -> (C, K, clip_length, V, M) float32: every view's crop, resized.

        Channels first (the gather's natural order); `apply_linear_numpy` turns them view-first.
        """
        out_t = self.crop.clip_length
        if self.crop.resize != "half_pixel":
            views = [_resize(x, int(a), int(n), out_t, self.crop.resize) for a, n in zip(plans.starts, plans.lengths)]
            return np.ascontiguousarray(np.stack(views, axis=1), dtype=np.float32)
        c, k = x.shape[0], len(plans.starts)
        taps = [_half_pixel_taps(int(n), out_t) for n in plans.lengths]
        src = x.reshape(c, x.shape[1], -1)  # (C, T, V*M)
        lo = src.take(np.concatenate([a + tp[0][:out_t] for a, tp in zip(plans.starts, taps)]), axis=1)
        hi = src.take(np.concatenate([a + tp[0][out_t:] for a, tp in zip(plans.starts, taps)]), axis=1)
        # weights as wide as a row: long inner loops (a (K * T, 1) broadcast is 3x slower)
        w0 = np.repeat(np.concatenate([tp[2][0] for tp in taps]), src.shape[2], axis=1)  # (K * T, V*M)
        w = np.repeat(np.concatenate([tp[1][0] for tp in taps]), src.shape[2], axis=1)
        out = lo * w0  # the per-view resize's operations, in its order
        out += hi * w
        return out.reshape((c, k, out_t) + x.shape[2:])


def apply_linear_numpy(crops: np.ndarray, matrices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """crops: (C, K, T, V, M) float32; matrices (K, S, C, C); joints (K, S, V) -> (K, C, T, V, M), every step applied.

    x <- A x on the chosen joints, as the per-view step computes it (one BLAS product per view,
    + 0.0 for the -0.0 of 0 times a negative entry); the other joints keep their values.
    """
    c, k = crops.shape[:2]
    shape = (k, c) + crops.shape[2:]
    crops = np.ascontiguousarray(crops)
    x = crops.reshape(c, k, -1).transpose(1, 0, 2)  # (K, C, T*V*M) rows, a view: BLAS takes the row stride
    m = crops.shape[4]
    for s in range(matrices.shape[1]):
        y = np.matmul(matrices[:, s], x)
        y += 0.0
        keep = ~joints[:, s]
        views = np.flatnonzero(keep.any(axis=1))  # only the views that keep some joints
        if len(views):
            wide = np.repeat(keep[:, None, :, None], m, axis=3)  # (K, 1, V, M): full trailing axes, long loops
            for j in views:
                np.copyto(y[j].reshape(shape[1:]), x[j].reshape(shape[1:]), where=wide[j, :, None])
        x = y
    return np.ascontiguousarray(x).reshape(shape)


def apply_linear_torch(views: list[torch.Tensor], matrices: torch.Tensor, joints: torch.Tensor) -> list[torch.Tensor]:
    """The linear steps on a batch on its device: views K x (B, C, T, V, M); matrices (B, K, S, C, C);
    joints (B, K, S, V) bool. All views go through one batched product per step."""
    b, k = matrices.shape[:2]
    x = torch.stack(views, 1)  # (B, K, C, T, V, M)
    shape = x.shape
    x = x.reshape(b * k, *shape[2:])
    c = shape[2]
    for s in range(matrices.shape[2]):
        a = matrices[:, :, s].reshape(b * k, c, c).to(x.dtype)
        y = torch.bmm(a, x.reshape(b * k, c, -1)).reshape(x.shape)
        y.add_(0.0)  # -0.0 -> +0.0, as the per-view step
        x = torch.where(joints[:, :, s].reshape(b * k, 1, 1, -1, 1), y, x)
    return list(x.reshape(shape).unbind(1))
