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


def axis_rotation(axis: str, angle: float) -> np.ndarray:
    """(3, 3) right-handed rotation by `angle` (radians) about axis x, y or z (column vectors: x' = R x)."""
    c, s = np.cos(angle), np.sin(angle)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    if axis == "z":
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    raise ValueError(f"unknown rotation axis {axis!r} (x, y or z)")


def rotation_matrix(angles: Sequence[float], axes: Sequence[str] = ("x", "y", "z")) -> np.ndarray:
    """Rotation about `axes[0]` by angles[0], then about axes[1] by angles[1], ... (radians): R = ... R1 R0.
    One angle and no axes given: the in-plane (2-D) rotation."""
    if len(angles) == 1 and tuple(axes) == ("x", "y", "z"):
        c, s = np.cos(angles[0]), np.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    if len(angles) != len(axes):
        raise ValueError(f"rotation_matrix: {len(angles)} angles for axes {list(axes)}")
    out = np.eye(3)
    for axis, angle in zip(axes, angles):
        out = axis_rotation(axis, angle) @ out
    return out


@dataclass(frozen=True)
class Rotate(LinearStep):
    """Random rotation, each angle uniform in [-max_deg, max_deg]; rigid, so bone lengths are kept.

    3-D: one angle per axis of `axes`, drawn in that order, the rotations applied in that order
    (default x, y, z: R = Rz Ry Rx). CTR-GCN's NW-UCLA feeder turns about y, then about x, by
    whole degrees: axes ("y", "x"), integer=True (angles uniform over -max_deg..max_deg).
    2-D: one in-plane angle (axes are not used).
    """

    max_deg: float
    axes: tuple[str, ...] = ("x", "y", "z")
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.axes or len(set(self.axes)) != len(self.axes) or any(a not in "xyz" for a in self.axes):
            raise ValueError(f"Rotate: axes must be 1 to 3 different axes of x, y, z; got {self.axes}")
        if self.integer and not float(self.max_deg).is_integer():
            raise ValueError(f"Rotate: integer angles need a whole max_deg, got {self.max_deg}")

    def angles(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n angles in radians, uniform over [-max_deg, max_deg] (whole degrees when `integer`)."""
        if self.integer:
            m = int(self.max_deg)
            return np.deg2rad(rng.integers(-m, m + 1, size=n).astype(np.float64))
        return np.deg2rad(rng.uniform(-self.max_deg, self.max_deg, size=n))

    def fill(self, rng: np.random.Generator, matrix: np.ndarray, joints: np.ndarray) -> None:
        c = len(matrix)
        if c not in (2, 3):
            raise ValueError(f"Rotate needs 2 or 3 coordinate channels, got C={c}")
        if c == 2:
            matrix[...] = rotation_matrix(self.angles(rng, 1))
        else:
            matrix[...] = rotation_matrix(self.angles(rng, len(self.axes)), self.axes)
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
