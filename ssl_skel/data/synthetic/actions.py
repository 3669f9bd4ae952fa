"""The action library of the built-in dataset: 17 classes as joint-angle trajectories.

Why as angles: a class is a function of normalised time u in [0, 1] (one row per clip)
returning one `Pose` per person, a dict of joint angles; the body model
(`synthetic.body`) turns angles into joints, so one class works for every subject's
proportions, handedness and camera.

The classes come in groups that visit the same poses and differ only in *order* (raise
vs. lower a hand, squat down vs. stand up, approach vs. depart) or *timing* (punch: three
quick extensions vs. reach: one slow one; clap vs. spread arms), so one frame is
ambiguous while the whole clip is not. All actions are written for a right-handed actor;
`mirror` swaps the sides for a left-handed one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

POSE_KEYS = (
    "l_flex",
    "l_abd",
    "l_elbow",
    "r_flex",
    "r_abd",
    "r_elbow",
    "l_hip",
    "l_knee",
    "r_hip",
    "r_knee",
    "lean",
    "lift",
    "pos",
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


def rest_pose(shape: tuple[int, int]) -> Pose:
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
    p = rest_pose(u.shape)
    t0 = rng.uniform(0.05, 0.25, size=(u.shape[0], 1))
    p["r_flex"] = 2.9 * _amp(rng, u) * _ramp(u, t0, t0 + 0.45)
    return [p]


def _lower_right(u, rng):
    return _raise_right(1.0 - u, rng)


def _swing_right(u, rng):
    p = rest_pose(u.shape)
    p["r_flex"] = 2.9 * _amp(rng, u) * _cycle(u, _cycles(rng, u, 2.0))
    return [p]


def _punch_like(u, rng, n):
    p = rest_pose(u.shape)
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
    p = rest_pose(u.shape)
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
    return [_squat_pose(rest_pose(u.shape), _amp(rng, u, 0.8, 1.0) * _ramp(u, t0, t0 + 0.5))]


def _stand_up(u, rng):
    return _squat_down(1.0 - u, rng)


def _jump(u, rng):
    phase = np.mod(_cycles(rng, u, 2.0) * u, 1.0)
    crouch = _bump(phase, 0.17, 0.34) + 0.8 * _bump(phase, 0.87, 0.26)
    air = _bump(phase, 0.55, 0.4)
    p = _squat_pose(rest_pose(u.shape), 0.55 * _amp(rng, u) * crouch)
    p["lift"] = 0.3 * air
    p["l_flex"] = p["r_flex"] = p["l_flex"] + 1.8 * air
    return [p]


def walk_legs(p: Pose, u: np.ndarray, n: np.ndarray, a: np.ndarray) -> Pose:
    s = np.sin(2.0 * np.pi * n * u)
    p["l_hip"], p["r_hip"] = 0.55 * a * np.maximum(s, 0), 0.55 * a * np.maximum(-s, 0)
    p["l_knee"], p["r_knee"] = 0.05 + 2.0 * p["l_hip"], 0.05 + 2.0 * p["r_hip"]
    p["l_flex"], p["r_flex"] = -0.45 * a * s, 0.45 * a * s
    return p


def _walk(u, rng):
    return [walk_legs(rest_pose(u.shape), u, _cycles(rng, u, 2.0), _amp(rng, u))]


def _kick(u, rng):
    p = rest_pose(u.shape)
    c = rng.uniform(0.4, 0.6, size=(u.shape[0], 1))
    a = _amp(rng, u)
    p["r_hip"] = 1.4 * a * _bump(u, c, 0.3)
    p["r_knee"] = 0.05 + 1.6 * _bump(u, c - 0.06, 0.16)
    p["l_flex"] = p["r_flex"] = 0.5 * _bump(u, c, 0.3)
    return [p]


def _pair(u: np.ndarray, gap: np.ndarray) -> list[Pose]:
    """Two rest poses; `pos` holds each person's place along the line between them."""
    a, b = rest_pose(u.shape), rest_pose(u.shape)
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
        walk_legs(p, u, n, a)
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


def mirror(pose: Pose) -> Pose:
    """The same motion performed with the other hand and leg (left-handed subjects)."""
    out = {}
    for key, value in pose.items():
        if key[:2] in ("l_", "r_"):
            key = ("r_" if key[0] == "l" else "l_") + key[2:]
        out[key] = value
    return out
