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


def view_rotation(actors: np.ndarray, z_bone: tuple[int, int] = (0, 1), x_bone: tuple[int, int] = (8, 4)) -> np.ndarray | None:
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
