"""The built-in dataset, version 2: procedural actions with the nuisances of real recordings.

Why these nuisances: a dataset where a randomly initialised encoder already separates
the classes shows nothing about what pretraining buys. Here the class is in the motion,
while everything a camera and a population of actors add on top varies per clip:

- viewpoint: the actor faces any direction (camera yaw any angle), the camera looks down
  from -5 to +25 degrees of elevation and stands 2-4.5 m away;
- actors: per-subject bone lengths and proportions, handedness (one in four mirror the
  one-handed actions), speed and amplitude;
- time: the speed changes within a clip (a smooth random rate), clips start late or end
  early (partial actions), idle drift on every angle;
- sensor: Gaussian noise growing with distance, per-joint spikes (jitter), joints dropped
  to zero for a few frames, and now and then a second person (a distractor) standing or
  walking nearby in a one-person action.

Format: exactly what the NTU converter writes (`ssl_skel.data.storage`, C=3, M=2,
layout "ntu25", benchmarks "xsub" by subject and "xview" by camera), so later stages run
on it unchanged. Everything is drawn from `np.random.default_rng` seeded by
`(seed, ...)`: a seed fixes the dataset bit for bit.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ssl_skel.data.layouts import NTU25
from ssl_skel.data.storage import DataFormatError, DataWriter
from ssl_skel.data.synthetic.actions import CLASS_NAMES, CLASSES, POSE_KEYS, Pose, mirror, rest_pose, walk_legs
from ssl_skel.data.synthetic.body import rot_x, rot_y, skeleton, subject_table

log = logging.getLogger(__name__)

VERSION = 2
GENERATOR = "ssl_skel.data.synthetic"
VIEWS_DEG = (0.0, -45.0, 45.0)  # camera yaw offset per view id (the actor's facing is uniform on top)
ELEVATION_DEG = (-15.0, 40.0)
DISTANCE_M = (2.0, 4.5)
PARTIAL_PROB = 0.5  # chance that a clip starts late, and (independently) that it ends early
DISTRACTOR_PROB = 0.3
DROP_PROB = 0.6  # chance per clip of a dropped-joint burst
SPIKE_PROB = 0.01  # chance per joint and frame of a jitter spike
WOBBLE_RAD = 0.15  # amplitude of the slow idle motion added to every angle
MAKE = "ssl-skel gendata synthetic --out {root}"


# --------------------------------------------------------------------------- time
def _progress(length: np.ndarray, max_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(B,) valid lengths -> (B, max_frames) monotone progress 0 -> 1 with a varying rate.

    The rate is exp(a * sin(2 pi f t / length + phase)): a clip speeds up and slows down
    (a up to 0.5, about a factor 2.7 between fastest and slowest), frames past the end hold 1.
    """
    b = len(length)
    t = np.minimum(np.arange(max_frames)[None, :], length[:, None] - 1) / (length[:, None] - 1.0)
    a = rng.uniform(0.0, 0.8, size=(b, 1))
    f = rng.uniform(0.5, 1.5, size=(b, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(b, 1))
    rate = np.exp(a * np.sin(2 * np.pi * f * t + phase))
    step = np.diff(t, axis=1, prepend=0.0) * rate
    p = np.cumsum(step, axis=1)
    return p / np.maximum(p[:, -1:], 1e-9)


def _wobble(key: str, u: np.ndarray, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Slow random drift of one angle (fidgeting), so no two clips repeat a pose exactly."""
    if key in ("pos", "lift"):
        return np.zeros(u.shape)
    b = u.shape[0]
    freq = rng.uniform(0.3, 1.5, size=(b, 2, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(b, 2, 1))
    amp = rng.uniform(0, WOBBLE_RAD * scale, size=(b, 2, 1))
    return (amp * np.sin(2 * np.pi * freq * u[:, None, :] + phase)).sum(axis=1)


def _distractor(u: np.ndarray, rng: np.random.Generator) -> Pose:
    """A bystander: standing and fidgeting, or walking in place."""
    p = rest_pose(u.shape)
    walking = rng.random((u.shape[0], 1)) < 0.5
    walk = walk_legs(rest_pose(u.shape), u, rng.uniform(1.0, 3.0, size=(u.shape[0], 1)), np.ones((u.shape[0], 1)))
    return {k: np.where(walking, walk[k], p[k]) for k in POSE_KEYS}


# --------------------------------------------------------------------------- clips
def _class_clips(k: int, count: int, seed: int, subjects: dict[str, np.ndarray], max_frames: int) -> dict:
    """All clips of class k at once: data (count, 3, T, 25, 2) plus metadata."""
    cls = CLASSES[k]
    rng = np.random.default_rng([seed, 2, k])
    num_subjects = len(subjects["speed"])
    order = np.arange(count)
    subject = order % num_subjects
    view = (order // num_subjects + k) % len(VIEWS_DEG)

    # time: speed, partial actions, a varying rate within the clip
    speed = subjects["speed"][subject] * rng.uniform(0.85, 1.15, size=count)
    u0 = np.where(rng.random(count) < PARTIAL_PROB, rng.uniform(0.0, 0.3, size=count), 0.0)
    u1 = np.where(rng.random(count) < PARTIAL_PROB, rng.uniform(0.7, 1.0, size=count), 1.0)
    length = np.clip(np.round(cls.length * (u1 - u0) / speed), 24, max_frames).astype(np.int64)
    u = u0[:, None] + (u1 - u0)[:, None] * _progress(length, max_frames, rng)

    people = cls.motion(u, rng)
    amp = subjects["amplitude"][subject][:, None]
    left = subjects["left_handed"][subject]
    facing = rng.uniform(0.0, 2 * np.pi, size=count)  # the actor (or the pair's axis) faces anywhere
    distractor = (rng.random(count) < DISTRACTOR_PROB) if cls.persons == 1 else np.zeros(count, bool)
    if cls.persons == 1:
        people = people + [_distractor(u, rng)]
    world = np.zeros((count, max_frames, 25, 3, 2))
    for m, pose in enumerate(people):
        handed = left if m == 0 else rng.random(count) < 0.25
        pose = {key: np.where(handed[:, None], mirror(pose)[key], pose[key]) for key in pose}
        pose = {key: (val * amp if key not in ("pos", "lift") else val) for key, val in pose.items()}
        pose = {key: np.broadcast_to(val, u.shape) + _wobble(key, u, rng) for key, val in pose.items()}
        bones = subjects["bones"][subject] if m == 0 else subjects["bones"][rng.integers(num_subjects, size=count)]
        joints = skeleton(pose, bones)
        zero = np.zeros_like(u)
        if cls.persons == 2:  # face each other along the pair's axis; pos moves each person along it
            yaw = facing + (np.pi / 2 if m == 0 else -np.pi / 2)
            offset = np.stack([pose["pos"], zero, zero], axis=-1)
        elif m == 0:
            yaw, offset = facing, np.zeros(u.shape + (3,))
        else:  # the bystander: 1.2-2.2 m to a side, facing anywhere
            side = rng.choice([-1.0, 1.0], size=(count, 1)) * rng.uniform(1.2, 2.2, size=(count, 1))
            depth = rng.uniform(-0.8, 0.8, size=(count, 1))
            yaw = rng.uniform(0.0, 2 * np.pi, size=count)
            offset = np.stack([side + zero, zero, depth + zero], axis=-1)
        placed = np.einsum("bij,btvj->btvi", rot_y(yaw), joints)
        world[..., m] = placed + np.einsum("bij,btj->bti", rot_y(facing), offset)[:, :, None, :]
    if cls.persons == 1:
        world[~distractor, ..., 1] = 0.0

    # camera: yaw offset of the view, elevation, distance
    cam_yaw = np.deg2rad(np.asarray(VIEWS_DEG)[view]) + rng.uniform(-0.1, 0.1, size=count)
    cam_pitch = np.deg2rad(rng.uniform(*ELEVATION_DEG, size=count))
    distance = rng.uniform(*DISTANCE_M, size=count)
    xyz = np.einsum("bij,btvjm->btvim", rot_x(cam_pitch) @ rot_y(cam_yaw), world)
    xyz[..., 2, :] += distance[:, None, None, None]
    xyz[..., 1, :] -= 0.9

    # sensor: noise growing with distance, jitter spikes
    sigma = (subjects["noise"][subject] * distance / 3.0)[:, None, None, None, None]
    xyz += rng.standard_normal(xyz.shape) * sigma
    spikes = rng.random(xyz.shape[:3] + (1, 2)) < SPIKE_PROB
    xyz += spikes * rng.normal(0.0, 0.1, size=xyz.shape)

    xyz -= xyz[:, :1, NTU25.centre, :, :1][:, :, None]  # origin: centre joint of person 0, frame 0
    xyz *= np.abs(world).sum(axis=(2, 3), keepdims=True) > 0  # absent persons stay exactly zero
    _drop_joints(xyz, length, rng)
    xyz *= np.arange(max_frames)[None, :, None, None, None] < length[:, None, None, None, None]
    data = xyz.transpose(0, 3, 1, 2, 4).astype(np.float32)  # (B, 3, T, 25, 2)
    names = [f"S{subject[i] + 1:03d}C{view[i] + 1:03d}A{k + 1:03d}R{i + 1:04d}" for i in range(count)]
    return {"data": data, "length": length, "subject": subject, "view": view, "names": names}


def _drop_joints(xyz: np.ndarray, length: np.ndarray, rng: np.random.Generator) -> None:
    """In place: in some clips one joint of person 0 reads zero for 3-10 frames (a tracking loss).

    xyz: (B, T, V, 3, M). Never the centre joint and never frame 0, which define the origin.
    """
    b = xyz.shape[0]
    hit = np.flatnonzero(rng.random(b) < DROP_PROB)
    joints = rng.integers(0, NTU25.num_joints - 1, size=len(hit))
    joints = np.where(joints >= NTU25.centre, joints + 1, joints)
    spans = rng.integers(3, 11, size=len(hit))
    starts = rng.integers(1, np.maximum(2, length[hit] - spans))
    for i, j, s, n in zip(hit, joints, starts, spans):
        xyz[i, s : s + n, j, :, 0] = 0.0


# --------------------------------------------------------------------------- dataset
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
    train, as NTU numbers them from 1), view 0 is the "xview" test view.
    """
    if clips_per_class < 1 or num_subjects < 2 or max_frames < 24:
        raise ValueError("need clips_per_class >= 1, num_subjects >= 2, max_frames >= 24")
    subjects = subject_table(num_subjects, seed)
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
        "generator": GENERATOR,
        "generator_version": VERSION,
        "seed": seed,
        "clips_per_class": clips_per_class,
        "num_subjects": num_subjects,
        "max_frames": max_frames,
        "views_deg": list(VIEWS_DEG),
    }
    root = writer.finish(labels, lengths, names, splits, layout=NTU25.name, class_names=CLASS_NAMES, source=source)
    log.info("wrote %d synthetic clips (%d classes) to %s", total, len(CLASSES), root)
    return root


def check_version(source: dict, root: str | Path) -> None:
    """Refuse a folder written by an older generator: its clips are not what the presets expect."""
    if source.get("generator") != GENERATOR:
        return
    found = source.get("generator_version")
    if found != VERSION:
        raise DataFormatError(
            f"{root}: built-in dataset version {found}, this toolkit reads version {VERSION}; "
            f"regenerate it: {MAKE.format(root=root)}"
        )


def is_current(root: str | Path, **settings) -> bool:
    """True when `root` holds a finished dataset of this version made with these settings."""
    import json

    manifest = Path(root) / "manifest.json"
    if not manifest.exists():
        return False
    source = json.loads(manifest.read_text()).get("source", {})
    wanted = {"generator": GENERATOR, "generator_version": VERSION, **settings}
    return all(source.get(k) == v for k, v in wanted.items())


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
