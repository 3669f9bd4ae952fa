"""The built-in dataset: procedural human actions on the NTU-25 layout.

Why: every stage of the toolkit (pretraining, probes, KNN, fine-tuning) must run on a
machine without the NTU download. This module writes a dataset in exactly the on-disk
format of the NTU converter (`ssl_skel.data.storage`, C=3, M=2, layout "ntu25",
benchmarks "xsub" by subject and "xview" by camera), so later stages run on it unchanged.

The classes are designed so that the *order and speed* of poses carry the class, not a
static pose: many classes come in groups that visit the same poses (raise vs. lower a
hand, punch vs. reach, clap vs. spread arms, squat down vs. stand up vs. jump, approach
vs. depart), so one frame is ambiguous while the whole clip is not
(see tests/test_synthetic.py for the numbers).

Body model: a kinematic stick figure driven per frame by a few joint angles (shoulder
flexion/abduction, elbow, hip, knee, torso lean, lift) with per-subject bone lengths,
speed, amplitude and sensor noise; camera views are rotations about the vertical axis
(0, -45, +45 degrees, as the three NTU cameras). Everything is drawn from
`np.random.default_rng` seeded by `(seed, ...)`, so a seed fixes the dataset bit for bit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ssl_skel.data.layouts import NTU25
from ssl_skel.data.storage import DataWriter

log = logging.getLogger(__name__)

VERSION = 1
VIEWS_DEG = (0.0, -45.0, 45.0)  # camera yaw per view id; xview tests on view 0
POSE_KEYS = (
    "l_flex", "l_abd", "l_elbow", "r_flex", "r_abd", "r_elbow",
    "l_hip", "l_knee", "r_hip", "r_knee", "lean", "lift", "pos",
)
REST = {"l_abd": 0.12, "r_abd": 0.12, "l_elbow": 0.15, "r_elbow": 0.15, "l_knee": 0.05, "r_knee": 0.05}
Pose = dict  # key in POSE_KEYS -> (B, T) array of radians (lift/pos: metres)


# --------------------------------------------------------------------------- time helpers
def _ramp(u: np.ndarray, a: float | np.ndarray, b: float | np.ndarray) -> np.ndarray:
    """Smoothstep from 0 at u=a to 1 at u=b."""
    x = np.clip((u - a) / (b - a), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _bump(u: np.ndarray, centre: float | np.ndarray, width: float | np.ndarray) -> np.ndarray:
    """sin^2 pulse of the given width centred at `centre` (0 outside)."""
    x = np.clip((u - centre) / width + 0.5, 0.0, 1.0)
    return np.sin(np.pi * x) ** 2


def _cycle(u: np.ndarray, n: np.ndarray) -> np.ndarray:
    """0 -> 1 -> 0 repeated n times over u in [0, 1]."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n * u)


def _rest(shape: tuple[int, int]) -> Pose:
    return {k: np.full(shape, REST.get(k, 0.0)) for k in POSE_KEYS}


# --------------------------------------------------------------------------- classes
@dataclass(frozen=True)
class ActionClass:
    name: str
    persons: int
    motion: Callable[[np.ndarray, np.random.Generator], list]  # (u, rng) -> [Pose] * persons
    length: int  # nominal valid frames at speed 1


def _amp(rng: np.random.Generator, u: np.ndarray, lo: float = 0.85, hi: float = 1.1) -> np.ndarray:
    return rng.uniform(lo, hi, size=(u.shape[0], 1))


def _cycles(rng: np.random.Generator, u: np.ndarray, n: float) -> np.ndarray:
    return n * rng.uniform(0.85, 1.15, size=(u.shape[0], 1))


def _raise_right(u, rng):
    p = _rest(u.shape)
    t0 = rng.uniform(0.05, 0.25, size=(u.shape[0], 1))
    p["r_flex"] = 2.9 * _amp(rng, u) * _ramp(u, t0, t0 + 0.45)
    return [p]


def _lower_right(u, rng):
    return _raise_right(1.0 - u, rng)


def _swing_right(u, rng):
    p = _rest(u.shape)
    p["r_flex"] = 2.9 * _amp(rng, u) * _cycle(u, _cycles(rng, u, 2.0))
    return [p]


def _punch_like(u, rng, n):
    p = _rest(u.shape)
    x = _cycle(u, _cycles(rng, u, n))
    a = _amp(rng, u)
    p["r_flex"] = 0.35 + 1.2 * a * x
    p["r_elbow"] = 1.9 * (1.0 - x) + 0.05
    p["l_flex"] = 0.35 + 0.1 * x  # guard hand
    p["l_elbow"] = np.full(u.shape, 1.9)
    return [p]


def _punch(u, rng):
    return _punch_like(u, rng, 3.0)


def _reach(u, rng):
    return _punch_like(u, rng, 1.0)


def _clap_like(u, rng, openness):
    p = _rest(u.shape)
    a = _amp(rng, u)
    p["l_flex"] = p["r_flex"] = np.full(u.shape, 1.45)
    p["l_abd"] = p["r_abd"] = -0.3 + 1.4 * a * openness
    p["l_elbow"] = p["r_elbow"] = np.full(u.shape, 0.3)
    return [p]


def _clap(u, rng):
    return _clap_like(u, rng, 1.0 - _cycle(u, _cycles(rng, u, 4.0)))


def _spread(u, rng):
    t0 = rng.uniform(0.1, 0.3, size=(u.shape[0], 1))
    return _clap_like(u, rng, _ramp(u, t0, t0 + 0.5))


def _squat_pose(p: Pose, depth: np.ndarray) -> Pose:
    """depth in [0, 1]: knees bend, hips flex, torso leans, arms go forward to balance."""
    p["l_knee"] = p["r_knee"] = 0.05 + 2.0 * depth
    p["l_hip"] = p["r_hip"] = 1.1 * depth
    p["lean"] = 0.35 * depth
    p["l_flex"] = p["r_flex"] = 1.3 * depth
    return p


def _squat_down(u, rng):
    t0 = rng.uniform(0.05, 0.25, size=(u.shape[0], 1))
    return [_squat_pose(_rest(u.shape), _amp(rng, u, 0.8, 1.0) * _ramp(u, t0, t0 + 0.5))]


def _stand_up(u, rng):
    return _squat_down(1.0 - u, rng)


def _jump(u, rng):
    phase = np.mod(_cycles(rng, u, 2.0) * u, 1.0)
    crouch = _bump(phase, 0.17, 0.34) + 0.8 * _bump(phase, 0.87, 0.26)
    air = _bump(phase, 0.55, 0.4)
    p = _squat_pose(_rest(u.shape), 0.55 * _amp(rng, u) * crouch)
    p["lift"] = 0.3 * air
    p["l_flex"] = p["r_flex"] = p["l_flex"] + 1.8 * air
    return [p]


def _walk_legs(p: Pose, u: np.ndarray, n: np.ndarray, a: np.ndarray) -> Pose:
    s = np.sin(2.0 * np.pi * n * u)
    p["l_hip"], p["r_hip"] = 0.55 * a * np.maximum(s, 0), 0.55 * a * np.maximum(-s, 0)
    p["l_knee"], p["r_knee"] = 0.05 + 2.0 * p["l_hip"], 0.05 + 2.0 * p["r_hip"]
    p["l_flex"], p["r_flex"] = -0.45 * a * s, 0.45 * a * s
    return p


def _walk(u, rng):
    return [_walk_legs(_rest(u.shape), u, _cycles(rng, u, 2.0), _amp(rng, u))]


def _kick(u, rng):
    p = _rest(u.shape)
    c = rng.uniform(0.4, 0.6, size=(u.shape[0], 1))
    a = _amp(rng, u)
    p["r_hip"] = 1.4 * a * _bump(u, c, 0.3)
    p["r_knee"] = 0.05 + 1.6 * _bump(u, c - 0.06, 0.16)
    p["l_flex"] = p["r_flex"] = 0.5 * _bump(u, c, 0.3)
    return [p]


def _pair(u: np.ndarray, gap: np.ndarray) -> list[Pose]:
    """Two rest poses; `pos` holds each person's place along the line between them."""
    a, b = _rest(u.shape), _rest(u.shape)
    a["pos"], b["pos"] = -gap / 2.0, gap / 2.0
    return [a, b]


def _handshake(u, rng):
    gap = 0.85 * _amp(rng, u, 0.95, 1.05) * np.ones(u.shape)
    people = _pair(u, gap)
    hold = _ramp(u, 0.15, 0.35) * (1.0 - _ramp(u, 0.75, 0.95))
    shake = 0.12 * np.sin(2.0 * np.pi * _cycles(rng, u, 3.0) * u) * hold
    for p in people:
        p["r_flex"] = 1.0 * hold + shake
        p["r_abd"] = 0.12 - 0.2 * hold
        p["r_elbow"] = 0.15 + 0.4 * hold
    return people


def _push(u, rng):
    c = rng.uniform(0.35, 0.5, size=(u.shape[0], 1))
    back = 0.45 * _amp(rng, u) * _ramp(u, c, c + 0.25)
    people = _pair(u, 0.7 + back)
    a, b = people
    x = _bump(u, c, 0.3)
    a["l_flex"] = a["r_flex"] = 1.5 * x
    a["l_elbow"] = a["r_elbow"] = 1.2 * (1.0 - x) * (x > 0.01) + 0.15
    a["lean"] = 0.2 * x
    b["lean"] = -0.3 * _bump(u, c + 0.12, 0.3)
    b["l_flex"] = b["r_flex"] = 0.6 * _bump(u, c + 0.12, 0.3)
    return people


def _hug(u, rng):
    t0 = rng.uniform(0.05, 0.2, size=(u.shape[0], 1))
    close = _ramp(u, t0, t0 + 0.35)
    wrap = _ramp(u, t0 + 0.25, t0 + 0.5)
    people = _pair(u, 1.4 - 1.0 * close)
    for p in people:
        p["l_flex"] = p["r_flex"] = 1.35 * wrap
        p["l_abd"] = p["r_abd"] = 0.12 + 0.5 * wrap
        p["l_elbow"] = p["r_elbow"] = 0.15 + 1.3 * wrap
    return people


def _approach(u, rng):
    near = _amp(rng, u, 0.8, 1.0)
    people = _pair(u, 0.9 * near + 1.7 * (1.0 - _ramp(u, 0.0, 1.0)))
    n, a = _cycles(rng, u, 2.5), _amp(rng, u)
    for p in people:
        _walk_legs(p, u, n, a)
    return people


def _depart(u, rng):
    return _approach(1.0 - u, rng)


CLASSES: tuple[ActionClass, ...] = (
    ActionClass("raise right hand", 1, _raise_right, 48),
    ActionClass("lower right hand", 1, _lower_right, 48),
    ActionClass("swing right arm", 1, _swing_right, 56),
    ActionClass("punch", 1, _punch, 52),
    ActionClass("reach forward", 1, _reach, 52),
    ActionClass("clap", 1, _clap, 52),
    ActionClass("spread arms", 1, _spread, 48),
    ActionClass("squat down", 1, _squat_down, 52),
    ActionClass("stand up", 1, _stand_up, 52),
    ActionClass("jump", 1, _jump, 56),
    ActionClass("walk in place", 1, _walk, 56),
    ActionClass("kick", 1, _kick, 48),
    ActionClass("handshake", 2, _handshake, 56),
    ActionClass("push", 2, _push, 52),
    ActionClass("hug", 2, _hug, 56),
    ActionClass("approach", 2, _approach, 60),
    ActionClass("depart", 2, _depart, 60),
)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)


# --------------------------------------------------------------------------- body model
SEGMENTS = ("spine1", "spine2", "neck", "head", "shoulder", "hip", "upper_arm", "forearm", "hand",
            "thigh", "shank", "foot")
NOMINAL = np.array([0.27, 0.22, 0.07, 0.14, 0.18, 0.09, 0.29, 0.25, 0.08, 0.42, 0.40, 0.12])


def _subject_table(num_subjects: int, seed: int) -> dict[str, np.ndarray]:
    """Per-subject bone lengths (m), speed, amplitude and sensor noise."""
    rng = np.random.default_rng([seed, 7919])
    height = rng.uniform(0.85, 1.15, size=(num_subjects, 1))
    proportions = rng.uniform(0.92, 1.08, size=(num_subjects, len(SEGMENTS)))
    return {
        "bones": NOMINAL * height * proportions,
        "speed": rng.uniform(0.8, 1.25, size=num_subjects),
        "amplitude": rng.uniform(0.85, 1.15, size=num_subjects),
        "noise": rng.uniform(0.003, 0.012, size=num_subjects),
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


def _skeleton(p: Pose, bones: np.ndarray) -> np.ndarray:
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

    for side, thigh, shank, (hp, kn, an, ft) in ((1.0, thigh_l, shank_l, (12, 13, 14, 15)),
                                                 (-1.0, thigh_r, shank_r, (16, 17, 18, 19))):
        j[:, :, hp] = root + side * Lv["hip"] * ex - 0.04 * ey
        j[:, :, kn] = j[:, :, hp] + Lv["thigh"] * thigh
        j[:, :, an] = j[:, :, kn] + Lv["shank"] * shank
        j[:, :, ft] = j[:, :, an] + Lv["foot"] * np.array([0.0, -0.3, 0.95])
    return j


def _rot_y(angle: np.ndarray) -> np.ndarray:
    """(B,) yaw angles -> (B, 3, 3) rotations about the vertical axis."""
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_x(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


# --------------------------------------------------------------------------- generation
WOBBLE_RAD = 0.15  # amplitude of the slow idle motion added to every angle


def _wobble(key: str, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Slow random drift of one angle (fidgeting), so no two clips repeat a pose exactly."""
    if key in ("pos", "lift"):
        return np.zeros(u.shape)
    b = u.shape[0]
    freq = rng.uniform(0.3, 1.5, size=(b, 2, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(b, 2, 1))
    amp = rng.uniform(0, WOBBLE_RAD, size=(b, 2, 1))
    return (amp * np.sin(2 * np.pi * freq * u[:, None, :] + phase)).sum(axis=1)


def _class_clips(
    k: int, count: int, seed: int, subjects: dict[str, np.ndarray], max_frames: int
) -> dict[str, np.ndarray]:
    """All clips of class k at once: data (count, 3, T, 25, 2) plus metadata."""
    cls = CLASSES[k]
    rng = np.random.default_rng([seed, 1, k])
    num_subjects = len(subjects["speed"])
    order = np.arange(count)
    subject = order % num_subjects
    view = (order // num_subjects + k) % len(VIEWS_DEG)

    speed = subjects["speed"][subject] * rng.uniform(0.93, 1.07, size=count)
    length = np.clip(np.round(cls.length / speed), 24, max_frames).astype(np.int64)
    t = np.arange(max_frames)[None, :]
    u = np.clip(t / (length[:, None] - 1.0), 0.0, 1.0)
    warp = rng.uniform(-0.08, 0.08, size=(count, 1))
    u = u + warp * np.sin(np.pi * u)  # monotone time warp per clip

    people = cls.motion(u, rng)
    amp = subjects["amplitude"][subject][:, None]
    bones = subjects["bones"][subject]
    facing = rng.uniform(-0.25, 0.25, size=count)
    world = np.zeros((count, max_frames, 25, 3, 2))
    for m, pose in enumerate(people):
        pose = {key: (val * amp if key not in ("pos", "lift") else val) for key, val in pose.items()}
        pose = {key: np.broadcast_to(val, u.shape) + _wobble(key, u, rng) for key, val in pose.items()}
        joints = _skeleton(pose, bones if m == 0 else bones[rng.permutation(count)])
        if cls.persons == 1:
            yaw = np.pi + facing
            offset = np.zeros((count, max_frames, 3))
        else:  # face each other along x; pos moves each person along that line
            yaw = np.full(count, np.pi / 2 if m == 0 else -np.pi / 2) + 0.3 * facing
            offset = np.stack([pose["pos"], np.zeros_like(u), np.zeros_like(u)], axis=-1)
        world[..., m] = np.einsum("bij,btvj->btvi", _rot_y(yaw), joints) + offset[:, :, None, :]

    cam_yaw = np.deg2rad(np.asarray(VIEWS_DEG)[view]) + rng.uniform(-0.08, 0.08, size=count)
    cam_pitch = rng.uniform(-0.06, 0.06, size=count)
    cam = _rot_x(cam_pitch) @ _rot_y(cam_yaw)
    xyz = np.einsum("bij,btvjm->btvim", cam, world)
    xyz[..., 2, :] += 3.0 + rng.uniform(-0.3, 0.3, size=(count, 1, 1, 1))
    xyz[..., 1, :] -= 0.9
    noise = subjects["noise"][subject][:, None, None, None, None]
    xyz += rng.standard_normal(xyz.shape) * noise

    xyz -= xyz[:, :1, NTU25.centre, :, :1][:, :, None]  # origin: centre joint of person 0, frame 0
    xyz *= (t[0][None, :, None, None, None] < length[:, None, None, None, None])
    if cls.persons == 1:
        xyz[..., 1] = 0.0
    data = xyz.transpose(0, 3, 1, 2, 4).astype(np.float32)  # (B, 3, T, 25, 2)
    names = [f"S{subject[i] + 1:03d}C{view[i] + 1:03d}A{k + 1:03d}R{i + 1:04d}" for i in range(count)]
    return {"data": data, "length": length, "subject": subject, "view": view, "names": names}


def generate_dataset(
    out: str | Path,
    *,
    seed: int = 0,
    clips_per_class: int = 160,
    num_subjects: int = 20,
    max_frames: int = 64,
) -> Path:
    """Write the synthetic dataset to `out` (storage format, layout ntu25) and return it.

    clips_per_class * 17 clips; subjects alternate train/test for "xsub" (odd subject ids
    train, as NTU numbers them from 1), view 0 (frontal) is the "xview" test view.
    """
    if clips_per_class < 1 or num_subjects < 2 or max_frames < 24:
        raise ValueError("need clips_per_class >= 1, num_subjects >= 2, max_frames >= 24")
    subjects = _subject_table(num_subjects, seed)
    total = clips_per_class * len(CLASSES)
    writer = DataWriter(out, total, (3, max_frames, NTU25.num_joints, 2))
    labels, lengths, names, subj, views = [], [], [], [], []
    for k in range(len(CLASSES)):
        row = k * clips_per_class
        clips = _class_clips(k, clips_per_class, seed, subjects, max_frames)
        writer.data[row : row + clips_per_class] = clips["data"]
        labels += [k] * clips_per_class
        lengths += clips["length"].tolist()
        names += clips["names"]
        subj += clips["subject"].tolist()
        views += clips["view"].tolist()
    subj_arr, view_arr = np.asarray(subj), np.asarray(views)
    rows = np.arange(total)
    splits = {
        "xsub": {"train": rows[subj_arr % 2 == 0], "test": rows[subj_arr % 2 == 1]},
        "xview": {"train": rows[view_arr != 0], "test": rows[view_arr == 0]},
    }
    source = {
        "generator": "ssl_skel.data.synthetic",
        "generator_version": VERSION,
        "seed": seed,
        "clips_per_class": clips_per_class,
        "num_subjects": num_subjects,
        "views_deg": list(VIEWS_DEG),
    }
    root = writer.finish(labels, lengths, names, splits, layout=NTU25.name, class_names=CLASS_NAMES, source=source)
    log.info("wrote %d synthetic clips (%d classes) to %s", total, len(CLASSES), root)
    return root


# --------------------------------------------------------------------------- command line
def summary(root: str | Path) -> str:
    """A few lines describing a dataset folder: classes, clips, splits."""
    from ssl_skel.data.storage import read_manifest

    manifest = read_manifest(root)
    lines = [
        f"{root}: {manifest['num_samples']} clips, {manifest['num_classes']} classes, "
        f"layout {manifest['layout']}, shape {tuple(manifest['shape'])}",
    ]
    for bench, parts in manifest["splits"].items():
        lines.append(f"  {bench}: " + ", ".join(f"{part} {count}" for part, count in parts.items()))
    if manifest.get("class_names"):
        lines.append("  classes: " + ", ".join(manifest["class_names"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`synthetic_gendata.py` / `ssl-skel gendata synthetic`: write the dataset, print a summary."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="synthetic_gendata", description="Generate the built-in synthetic dataset.")
    parser.add_argument("--out", default="data/synthetic", help="output folder (default: data/synthetic)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips-per-class", type=int, default=160)
    parser.add_argument("--num-subjects", type=int, default=20)
    parser.add_argument("--max-frames", type=int, default=64)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    root = generate_dataset(
        args.out, seed=args.seed, clips_per_class=args.clips_per_class,
        num_subjects=args.num_subjects, max_frames=args.max_frames,
    )
    print(summary(root))
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0
