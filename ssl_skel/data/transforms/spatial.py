"""Spatial steps: linear maps of the coordinates (shear, rotation, yaw, joint corruption) and the flip.

Linear steps share `LinearStep`: their draws fill a (C, C) matrix and a joint mask apart from
the clip, so `ssl_skel.data.batched` can apply many views at once with the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ssl_skel.data.layouts import Layout
from ssl_skel.data.transforms.frames import _check


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
