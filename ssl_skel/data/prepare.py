"""Raw clips -> the clips a dataset stores, and -> the tensor an encoder's evaluation saw.

Why one module: the generic importer (`formats/arrays.py`), the Penn Action and SBU readers
and `FrozenEncoder.prepare` must prepare clips identically, or features of a user's raw clip
would not match the features the probe was trained on. The importer records the options
below in the dataset manifest (`preprocess`), training copies them into the checkpoint's
input spec, and `prepare_batch` replays them followed by the dataset's own eval transform.

Options (`Preprocess`, all explicit, recorded as a dict):
- centre: "first" (origin at the first present person's centre joint in its first present
  frame, as the NTU converter), "frame" (that joint in every frame), or "none";
- align_view: rotate 3D clips so the layout's z bone points up and its x bone along +x;
- scale: "none" or "rms" (divide by the clip's RMS joint distance from the origin after centring);
- score: the last channel is a confidence score (never centred, rotated or scaled);
- missing: "bad" (a NaN joint makes the clip bad) or "fill" (interpolated in time from the
  joint's valid frames; a joint never valid is set to the mean of the person's other joints);
- zero_missing: an all-zero joint counts as missing (OpenPose writes undetected joints as 0, 0, 0).
A person with no valid joint in a frame is absent there (all zero), as everywhere in the toolkit.

Plausibility: a finite coordinate beyond MAX_COORDINATE is refused before any centring (a clip of
constant 1e30 would otherwise centre to all zeros and pass as a clip), and `prepare_batch` refuses
a clip with more persons than the encoder takes unless told to drop the extra ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ssl_skel.data.formats.normalise import view_rotation
from ssl_skel.data.layouts import Layout
from ssl_skel.data.spec import InputSpec
from ssl_skel.data.transforms import build_eval_transform

MAX_COORDINATE = 1e5  # |x| above this is no skeleton coordinate (metres, pixels or millimetres)
CENTRES = ("first", "frame", "none")
SCALES = ("none", "rms")
MISSING = ("bad", "fill")


class ClipError(ValueError):
    """A clip that cannot be prepared; the message says why (the caller adds which clip)."""


@dataclass(frozen=True)
class Preprocess:
    """The preparation options (see the module docstring); `to_dict()` is what a manifest records."""

    centre: str = "first"  # one of CENTRES
    align_view: bool = False
    scale: str = "none"  # one of SCALES
    score: bool = False
    missing: str = "bad"  # one of MISSING
    zero_missing: bool = False

    def __post_init__(self) -> None:
        for key, allowed in (("centre", CENTRES), ("scale", SCALES), ("missing", MISSING)):
            if getattr(self, key) not in allowed:
                raise ValueError(f"preprocessing {key}={getattr(self, key)!r} must be one of {allowed}")

    @classmethod
    def from_dict(cls, options: Mapping[str, Any] | None = None) -> Preprocess:
        """A recorded dict (a manifest's or a checkpoint's `preprocess`) -> Preprocess, defaults filled in."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(options or {}) - set(known))
        if unknown:
            raise ValueError(f"unknown preprocessing option {unknown[0]!r} (known: {', '.join(known)})")
        return cls(**dict(options or {}))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CleanStats:
    filled: int = 0  # joint positions filled in (missing="fill")
    absent_frames: int = 0  # person-frames with no valid joint (left absent)


def as_actors(clip: Any) -> np.ndarray:
    """(T, V, C) or (M, T, V, C) -> (M, T, V, C) float32."""
    a = np.asarray(clip)
    if a.dtype.kind not in "fiub":
        raise ClipError(f"not numeric (dtype {a.dtype})")
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ClipError(f"shape {a.shape} is neither (T, V, C) nor (M, T, V, C)")
    if a.shape[1] == 0:
        raise ClipError("no frames")
    return a.astype(np.float32)


def missing_joints(actors: np.ndarray, opts: Preprocess) -> np.ndarray:
    """(M, T, V) bool: the joint's position is unknown (NaN/inf, or all zero with zero_missing)."""
    coords = actors[..., : coord_channels(actors, opts)]
    bad = ~np.isfinite(coords).all(axis=-1)
    if opts.zero_missing:
        bad |= (coords == 0).all(axis=-1)
    return bad


def coord_channels(actors: np.ndarray, opts: Preprocess) -> int:
    return actors.shape[-1] - 1 if opts.score else actors.shape[-1]


def fill_missing(actors: np.ndarray, missing: np.ndarray, coords: int) -> tuple[np.ndarray, CleanStats]:
    """Interpolate the coordinates of missing joints along time per (person, joint); persons with nothing
    valid in a frame stay absent. A score channel keeps its value (a missing score becomes 0).
    actors: (M, T, V, C), missing: (M, T, V), coords: the coordinate channels (the first ones)."""
    out = np.where(missing[..., None] & (np.arange(actors.shape[-1]) < coords), 0.0, actors)
    out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    stats = CleanStats()
    m_count, t_count, v_count, _ = actors.shape
    t_axis = np.arange(t_count)
    frame_valid = ~missing.all(axis=2)  # (M, T): the person has some valid joint
    for m in range(m_count):
        for v in range(v_count):
            ok = ~missing[m, :, v]
            todo = missing[m, :, v] & frame_valid[m]
            if not todo.any() or not ok.any():
                continue
            for c in range(coords):
                out[m, todo, v, c] = np.interp(t_axis[todo], t_axis[ok], actors[m, ok, v, c])
            stats.filled += int(todo.sum())
        never = missing[m].all(axis=0)  # joints never valid: the mean of the person's other joints
        if never.any() and (~never).any():
            rows = np.flatnonzero(frame_valid[m])
            mean = out[m][:, ~never, :coords].mean(axis=1)  # (T, coords)
            for v in np.flatnonzero(never):
                out[m, rows, v, :coords] = mean[rows]
            stats.filled += len(rows) * int(never.sum())
    stats.absent_frames = int((~frame_valid).sum())
    out[~frame_valid] = 0.0
    return out, stats


def present(actors: np.ndarray) -> np.ndarray:
    """(M, T) bool: the person has some non-zero value in the frame."""
    return actors.reshape(actors.shape[0], actors.shape[1], -1).any(axis=2)


def normalise(actors: np.ndarray, layout: Layout, opts: Preprocess) -> np.ndarray:
    """Centre, align and scale the coordinate channels of present persons (see the module docstring)."""
    d = coord_channels(actors, opts)
    out = actors.astype(np.float64)
    here = present(actors)
    if not here.any():
        return actors.copy()
    if opts.centre == "first":
        first_person = int(np.flatnonzero(here.any(axis=1))[0])
        t0 = int(np.flatnonzero(here[first_person])[0])
        out[..., :d] -= out[first_person, t0, layout.centre, :d]
    elif opts.centre == "frame":
        for t in np.flatnonzero(here.any(axis=0)):
            p = int(np.flatnonzero(here[:, t])[0])
            out[:, t, :, :d] -= out[p, t, layout.centre, :d].copy()
    if opts.align_view:
        if d != 3:
            raise ClipError(f"align_view needs 3D coordinates, the clip has {d}")
        if layout.view_bones is None:
            raise ClipError(f"align_view: layout {layout.name} declares no view_bones")
        first_person = int(np.flatnonzero(here.any(axis=1))[0])
        order = [first_person] + [m for m in range(len(out)) if m != first_person]
        rot = view_rotation(out[order][..., :3], *layout.view_bones)
        if rot is not None:
            out[..., :3] = out[..., :3] @ rot.T
    if opts.scale == "rms":
        pts = out[..., :d][here]
        rms = float(np.sqrt(np.mean(np.sum(pts**2, axis=-1)))) if pts.size else 0.0
        if rms > 1e-9:
            out[..., :d] /= rms
    return np.where(here[..., None, None], out, 0.0).astype(np.float32)


def clean_clip(
    clip: Any, layout: Layout, opts: Preprocess, channels: int | None = None
) -> tuple[np.ndarray, CleanStats]:
    """One raw clip -> (M, T, V, C) prepared as the importer stores it; ClipError says what is wrong."""
    actors = as_actors(clip)
    _, _, v, c = actors.shape
    if v != layout.num_joints:
        raise ClipError(
            f"shape {actors.shape[1:] if actors.shape[0] == 1 else actors.shape}: {v} joints, "
            f"layout {layout.name} has {layout.num_joints}"
        )
    if channels is not None and c != channels:
        raise ClipError(f"{c} channels, expected {channels}")
    d = coord_channels(actors, opts)
    if d not in layout.dims:
        hint = "" if opts.score else " (pass --score / score=True if the last channel is a confidence)"
        raise ClipError(
            f"{c} channels: {d} coordinates, but layout {layout.name} is {'/'.join(map(str, layout.dims))}D{hint}"
        )
    check_magnitudes(actors, layout, opts)
    missing = missing_joints(actors, opts)
    stats = CleanStats()
    if missing.any():
        if opts.missing == "bad":
            m, t, j = (int(i[0]) for i in np.nonzero(missing))
            raise ClipError(
                f"{int(missing.sum())} missing (NaN) joint values, first at person {m} frame {t} joint "
                f"{layout.joint_names[j]!r} (use missing='fill' / --missing fill to interpolate them)"
            )
        actors, stats = fill_missing(actors, missing, coord_channels(actors, opts))
    elif not np.isfinite(actors).all():  # a NaN score alone: confidence 0
        actors = np.nan_to_num(actors, nan=0.0, posinf=0.0, neginf=0.0)
    return normalise(actors, layout, opts), stats


def check_magnitudes(actors: np.ndarray, layout: Layout, opts: Preprocess) -> None:
    """ClipError naming the first finite coordinate beyond MAX_COORDINATE (NaN/inf are the `missing` option's).
    actors: (M, T, V, C) as read, before centring."""
    coords = actors[..., : coord_channels(actors, opts)]
    with np.errstate(invalid="ignore"):
        big = np.isfinite(coords) & (np.abs(coords) > MAX_COORDINATE)
    if big.any():
        m, t, j, c = (int(i[0]) for i in np.nonzero(big))
        raise ClipError(
            f"coordinate {float(coords[m, t, j, c]):.3g} at person {m} frame {t} joint {layout.joint_names[j]!r} is "
            f"not a plausible position (|x| > {MAX_COORDINATE:g}); check the file's units"
        )


def select_persons(actors: np.ndarray, num_persons: int) -> np.ndarray:
    """(M_in, T, V, C) -> (num_persons, T, V, C): the persons present in the most frames (order kept), or
    zero padding."""
    m_in = actors.shape[0]
    if m_in > num_persons:
        counts = present(actors).sum(axis=1)
        keep = np.sort(np.argsort(-counts, kind="stable")[:num_persons])
        return actors[keep]
    if m_in < num_persons:
        pad = np.zeros((num_persons - m_in, *actors.shape[1:]), dtype=actors.dtype)
        return np.concatenate([actors, pad])
    return actors


def to_ctvm(actors: np.ndarray) -> np.ndarray:
    """(M, T, V, C) -> (C, T, V, M), the stored clip layout."""
    return np.ascontiguousarray(actors.transpose(3, 1, 2, 0), dtype=np.float32)


def prepare_batch(
    clips: Sequence[Any], spec: InputSpec, *, resize: str = "endpoints", view: str = "none", drop_persons: bool = False
) -> np.ndarray:
    """Raw clips (each (T, V, C) or (M, T, V, C), any length) -> (N, C, clip_length, V, M) as evaluation saw them.

    Replays the normalisation recorded in `spec.preprocess` (none for datasets that did not record one:
    their clips are taken as already normalised), pads or selects persons to `spec.num_persons`, and
    applies the dataset's own eval transform (`build_eval_transform` with the run's `data.resize` and
    `data.preprocess`, here `resize` and `view`) to all frames of each clip. A clip with more persons present
    than the encoder takes is refused unless drop_persons=True (then the ones present in the most frames are
    kept, as the converters keep them).
    """
    layout = spec.skeleton
    opts = Preprocess.from_dict(spec.preprocess or {"centre": "none"})
    transform = build_eval_transform(spec.clip_length, resize=resize, preprocess=view)
    out = []
    for i, clip in enumerate(clips):
        try:
            actors, _ = clean_clip(clip, layout, opts, channels=spec.in_channels)
            persons = int(present(actors).any(axis=1).sum())
            if persons > spec.num_persons and not drop_persons:
                raise ClipError(
                    f"{persons} persons, the encoder takes {spec.num_persons}; pass drop_persons=True to keep the "
                    f"{spec.num_persons} present in the most frames"
                )
        except ClipError as exc:
            raise ClipError(f"clip {i}: {exc}") from None
        out.append(transform(to_ctvm(select_persons(actors, spec.num_persons)), np.random.default_rng(0)))
    if not out:
        raise ClipError("no clips given")
    return np.stack(out)
