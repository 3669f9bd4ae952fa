"""The body model of the built-in dataset: joint angles -> NTU-25 joints, and the subjects.

A kinematic stick figure: per frame a few joint angles (shoulder flexion/abduction,
elbow, hip, knee, torso lean, lift) and per subject twelve bone lengths give the 25 NTU
joints in the body frame (x = the body's left, y = up, z = forward, floor at y = 0).
"""

from __future__ import annotations

import numpy as np

from ssl_skel.data.synthetic.actions import Pose

SEGMENTS = (
    "spine1",
    "spine2",
    "neck",
    "head",
    "shoulder",
    "hip",
    "upper_arm",
    "forearm",
    "hand",
    "thigh",
    "shank",
    "foot",
)
NOMINAL = np.array([0.27, 0.22, 0.07, 0.14, 0.18, 0.09, 0.29, 0.25, 0.08, 0.42, 0.40, 0.12])


def subject_table(num_subjects: int, seed: int) -> dict[str, np.ndarray]:
    """Per-subject bone lengths (m), handedness, speed, amplitude and sensor noise.

    Heights span 0.8-1.2 of nominal and each segment another +-15 %, so limb proportions
    differ between subjects, not only the overall scale; about one subject in four is
    left-handed (performs one-handed actions with the left side).
    """
    rng = np.random.default_rng([seed, 7919])
    height = rng.uniform(0.75, 1.25, size=(num_subjects, 1))
    proportions = rng.uniform(0.85, 1.15, size=(num_subjects, len(SEGMENTS)))
    return {
        "bones": NOMINAL * height * proportions,
        "left_handed": rng.random(num_subjects) < 0.25,
        "speed": rng.uniform(0.75, 1.3, size=num_subjects),
        "amplitude": rng.uniform(0.8, 1.15, size=num_subjects),
        "noise": rng.uniform(0.008, 0.025, size=num_subjects),
    }


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-8)


def _arm_dirs(flex: np.ndarray, abd: np.ndarray, elbow: np.ndarray, side: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper-arm and forearm unit vectors in the body frame (x left, y up, z forward).

    flex: 0 hangs down, pi/2 points forward, pi points up; abd: 0 in the sagittal plane,
    pi/2 out to the side (negative crosses the body); elbow bends towards front/up.
    """
    ca = np.cos(abd)
    upper = np.stack([side * np.sin(abd), -ca * np.cos(flex), ca * np.sin(flex)], axis=-1)
    ref = np.array([0.0, 0.37, 0.93])
    perp = _normalise(ref - (upper @ ref)[..., None] * upper)
    fore = np.cos(elbow)[..., None] * upper + np.sin(elbow)[..., None] * perp
    return upper, fore


def _leg_dirs(hip: np.ndarray, knee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thigh and shank unit vectors (sagittal plane); knee flexion bends the shank back."""
    zero = np.zeros_like(hip)
    thigh = np.stack([zero, -np.cos(hip), np.sin(hip)], axis=-1)
    shank = np.stack([zero, -np.cos(hip - knee), np.sin(hip - knee)], axis=-1)
    return thigh, shank


def skeleton(p: Pose, bones: np.ndarray) -> np.ndarray:
    """Pose angles (B, T) + bone lengths (B, 12) -> joints (B, T, 25, 3) in the body frame.

    Body frame: x = the body's left, y = up, z = forward, the floor at y = 0.
    """
    b, t = p["lean"].shape
    L = {name: bones[:, i, None] for i, name in enumerate(SEGMENTS)}  # (B, 1)
    Lv = {k: v[..., None] for k, v in L.items()}  # (B, 1, 1) for vectors
    j = np.zeros((b, t, 25, 3))
    ex, ey = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])

    thigh_l, shank_l = _leg_dirs(p["l_hip"], p["l_knee"])
    thigh_r, shank_r = _leg_dirs(p["r_hip"], p["r_knee"])
    ankle = 0.07
    height_l = -(L["thigh"] * thigh_l[..., 1] + L["shank"] * shank_l[..., 1])
    height_r = -(L["thigh"] * thigh_r[..., 1] + L["shank"] * shank_r[..., 1])
    root = np.zeros((b, t, 3))
    root[..., 1] = np.maximum(height_l, height_r) + ankle + 0.03 + p["lift"]

    up = np.stack([np.zeros_like(p["lean"]), np.cos(p["lean"]), np.sin(p["lean"])], axis=-1)
    j[:, :, 0] = root
    j[:, :, 1] = root + Lv["spine1"] * up
    j[:, :, 20] = j[:, :, 1] + Lv["spine2"] * up
    j[:, :, 2] = j[:, :, 20] + Lv["neck"] * up
    j[:, :, 3] = j[:, :, 2] + Lv["head"] * up

    for side, pre, (sh, el, wr, ha, tip, th) in ((1.0, "l", (4, 5, 6, 7, 21, 22)), (-1.0, "r", (8, 9, 10, 11, 23, 24))):
        upper, fore = _arm_dirs(p[f"{pre}_flex"], p[f"{pre}_abd"], p[f"{pre}_elbow"], side)
        j[:, :, sh] = j[:, :, 20] + side * Lv["shoulder"] * ex - 0.03 * up
        j[:, :, el] = j[:, :, sh] + Lv["upper_arm"] * upper
        j[:, :, wr] = j[:, :, el] + Lv["forearm"] * fore
        j[:, :, ha] = j[:, :, wr] + Lv["hand"] * fore
        j[:, :, tip] = j[:, :, ha] + 0.06 * fore
        j[:, :, th] = j[:, :, wr] + 0.05 * fore - side * 0.035 * ex

    for side, thigh, shank, (hp, kn, an, ft) in (
        (1.0, thigh_l, shank_l, (12, 13, 14, 15)),
        (-1.0, thigh_r, shank_r, (16, 17, 18, 19)),
    ):
        j[:, :, hp] = root + side * Lv["hip"] * ex - 0.04 * ey
        j[:, :, kn] = j[:, :, hp] + Lv["thigh"] * thigh
        j[:, :, an] = j[:, :, kn] + Lv["shank"] * shank
        j[:, :, ft] = j[:, :, an] + Lv["foot"] * np.array([0.0, -0.3, 0.95])
    return j


def rot_y(angle: np.ndarray) -> np.ndarray:
    """(B,) yaw angles -> (B, 3, 3) rotations about the vertical axis."""
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_x(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)
