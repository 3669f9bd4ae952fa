"""Centring and optional view alignment of converted clips, as skeleton toolkits do it.

Why here: every converter writes clips in the same frame of reference, so a dataset made from
raw NTU files and one made from NW-UCLA json files look alike to the loaders. Missing bodies are
all-zero and stay zero (loaders use zeros as "absent").
"""

from __future__ import annotations

import numpy as np


def present(actors: np.ndarray) -> np.ndarray:
    """(M, T) bool: the body is present (any non-zero coordinate). actors: (M, T, V, 3)."""
    return actors.reshape(actors.shape[0], actors.shape[1], -1).any(axis=2)


def reference_frame(actors: np.ndarray) -> int | None:
    """First frame where actor 1 is present (SGN/CTR-GCN take the origin there), None if never."""
    idx = np.flatnonzero(present(actors)[0])
    return int(idx[0]) if idx.size else None


def centre(actors: np.ndarray, joint: int) -> np.ndarray:
    """Move the origin to actor 1's `joint` in its first present frame. actors: (M, T, V, 3)."""
    t0 = reference_frame(actors)
    if t0 is None:
        return actors.copy()
    origin = actors[0, t0, joint].copy()
    mask = present(actors)[..., None, None]
    return np.where(mask, actors - origin, 0.0).astype(actors.dtype)


def view_rotation(
    actors: np.ndarray, z_bone: tuple[int, int] = (0, 1), x_bone: tuple[int, int] = (8, 4)
) -> np.ndarray | None:
    """Rotation (3, 3) taking actor 1's first-frame spine (z_bone) to +z and shoulders (x_bone) to +x.

    2s-AGCN's pre-normalisation makes the hip->spine bone parallel to z and the right->left
    shoulder bone parallel to x; here the same two bones give an orthonormal basis directly
    (x is the shoulder line with its z component removed). None when a bone has zero length.
    """
    t0 = reference_frame(actors)
    if t0 is None:
        return None
    body = actors[0, t0].astype(np.float64)
    z = body[z_bone[1]] - body[z_bone[0]]
    x = body[x_bone[1]] - body[x_bone[0]]
    nz = np.linalg.norm(z)
    if nz < 1e-9:
        return None
    z = z / nz
    x = x - x.dot(z) * z
    nx = np.linalg.norm(x)
    if nx < 1e-9:
        return None
    x = x / nx
    return np.stack([x, np.cross(z, x), z])


def align_view(actors: np.ndarray, z_bone: tuple[int, int] = (0, 1), x_bone: tuple[int, int] = (8, 4)) -> np.ndarray:
    """Rotate every present body by `view_rotation` (unchanged when it is undefined). actors: (M, T, V, 3)."""
    rot = view_rotation(actors, z_bone, x_bone)
    if rot is None:
        return actors.copy()
    rotated = actors.astype(np.float64) @ rot.T
    return np.where(present(actors)[..., None, None], rotated, 0.0).astype(actors.dtype)


# --------------------------------------------------------------------------- the UmURL profile
# UmURL's `data_gen/ntu_gendata.py` + `preprocess.py` (2s-AGCN's `pre_normalization` with the
# z-axis step commented out), reproduced number for number (benchmarks/parity.py). Sums of a
# frame's coordinates decide "empty", as in their code.


def body_energy(body: np.ndarray) -> float:
    """2s-AGCN's `get_nonzero_std`: std(x) + std(y) + std(z) over the body's non-empty frames. body: (T, V, 3)."""
    frames = body[body.sum(-1).sum(-1) != 0]
    if len(frames) == 0:
        return 0.0
    return float(frames[:, :, 0].std() + frames[:, :, 1].std() + frames[:, :, 2].std())


def select_energetic(slots: np.ndarray, keep: int = 2) -> np.ndarray:
    """The `keep` body slots of highest energy, most energetic first. slots: (S, T, V, 3) -> (keep, T, V, 3).

    Uses the same `argsort()[::-1]` as the authors, so ties resolve as theirs do.
    """
    energy = np.array([body_energy(b) for b in slots])
    order = energy.argsort()[::-1][:keep]
    out = slots[order]
    if len(out) < keep:  # fewer slots than bodies wanted: pad with absent bodies
        out = np.concatenate([out, np.zeros((keep - len(out),) + slots.shape[1:], slots.dtype)])
    return out


def pad_by_repetition(actors: np.ndarray) -> np.ndarray:
    """Per body: drop leading empty frames (then all empty frames, as the authors), then fill the
    trailing empty frames by repeating the body's frames cyclically. actors: (M, T, V, 3)."""
    out = actors.copy()
    t = out.shape[1]
    for person in out:
        frame_sum = person.sum(-1).sum(-1)
        if person.sum() == 0:
            continue
        if frame_sum[0] == 0:  # their code compacts every non-empty frame to the front
            tmp = person[frame_sum != 0].copy()
            person[:] = 0
            person[: len(tmp)] = tmp
            frame_sum = person.sum(-1).sum(-1)
        tail_empty = np.flip(np.cumsum(np.flip(np.abs(frame_sum) > 0))) == 0  # no non-empty frame from here on
        starts = np.flatnonzero(tail_empty & (frame_sum == 0))
        if len(starts) and starts[0] > 0:
            i_f = int(starts[0])
            reps = int(np.ceil((t - i_f) / i_f))
            person[i_f:] = np.concatenate([person[:i_f]] * reps, axis=0)[: t - i_f]
    return out


def centre_per_frame(actors: np.ndarray, joint: int = 1) -> np.ndarray:
    """Subtract body 1's `joint` (spine-mid) in every frame from every body; zero joints stay 0.

    actors: (M, T, V, 3).
    """
    out = actors.copy()
    if out.sum() == 0:
        return out
    origin = out[0][:, joint : joint + 1, :].copy()  # (T, 1, 3)
    for p in range(len(out)):
        if out[p].sum() == 0:
            continue
        mask = (out[p].sum(-1) != 0)[..., None]
        out[p] = (out[p] - origin) * mask
    return out


def axis_angle_matrix(axis: np.ndarray, theta: float) -> np.ndarray:
    """Rotation by theta about `axis` in 2s-AGCN's quaternion form (`rotation.py`); identity when degenerate."""
    axis = np.asarray(axis, dtype=np.float64)
    if np.abs(axis).sum() < 1e-6 or np.abs(theta) < 1e-6:
        return np.eye(3)
    axis = axis / np.sqrt(np.dot(axis, axis))
    a = np.cos(theta / 2.0)
    b, c, d = -axis * np.sin(theta / 2.0)
    aa, bb, cc, dd = a * a, b * b, c * c, d * d
    bc, ad, ac, ab, bd, cd = b * c, a * d, a * c, a * b, b * d, c * d
    return np.array(
        [
            [aa + bb - cc - dd, 2 * (bc + ad), 2 * (bd - ac)],
            [2 * (bc - ad), aa + cc - bb - dd, 2 * (cd + ab)],
            [2 * (bd + ac), 2 * (cd - ab), aa + dd - bb - cc],
        ]
    )


def shoulder_rotation(actors: np.ndarray, right: int = 8, left: int = 4) -> np.ndarray:
    """(3, 3) rotation taking body 1's frame-0 left->right shoulder vector onto +x.

    The rotation is about the cross product of the two vectors.
    """
    v = actors[0, 0, right] - actors[0, 0, left]
    x_axis = np.array([1.0, 0.0, 0.0])
    if np.abs(v).sum() < 1e-6:
        return np.eye(3)
    unit = v / np.linalg.norm(v)
    angle = float(np.arccos(np.clip(np.dot(unit, x_axis), -1.0, 1.0)))
    return axis_angle_matrix(np.cross(v, x_axis), angle)


def umurl_normalise(actors: np.ndarray) -> np.ndarray:
    """UmURL's `pre_normalization`: pad by repetition, centre on body 1's spine-mid per frame, rotate the
    shoulders onto x (one rotation from frame 0, applied to every non-empty frame). actors: (M, T, V, 3) float32."""
    out = centre_per_frame(pad_by_repetition(actors), joint=1)
    if out.sum() == 0:
        return out
    rot = shoulder_rotation(out)
    nonempty = (out.sum(-1).sum(-1) != 0)[..., None, None]
    rotated = (out.astype(np.float64) @ rot.T).astype(out.dtype)
    return np.where(nonempty, rotated, out)
