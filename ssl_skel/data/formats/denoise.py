"""Multi-body denoising of NTU recordings, by the rules of the SGN / CTR-GCN NTU toolkits.

Kinect v2 often reports extra "bodies" (furniture, reflections, a half-seen passer-by) and
re-assigns body IDs mid-clip. The rules of SGN's `get_raw_data.py` + `get_raw_denoised_data.py`,
reused by CTR-GCN (the "sgn" profile of ntu.py). Not what the skeleton SSL reference code
does: UmURL's `data_gen/ntu_gendata.py` (2s-AGCN's) does no denoising and keeps the two most
energetic of the first four bodies listed per frame (ntu.py's "umurl" profile), and CrosSCLR's
`tools/ntu_gendata.py` keeps the first two bodies in file order.

1. frames that hold no body at all are dropped;
2. length: a body tracked for `length_threshold` (11) frames or fewer is noise;
3. missing joints (added here; SGN only drops all-zero frames): a body whose joints are
   mostly not tracked (fraction >= `missing_threshold`) is noise;
4. spread: a frame is implausible when the body's x extent exceeds `spread_ratio` (0.8) times
   its y extent (a lying or flat shape); a body with at least `spread_frames` (0.69754) of such
   frames is noise, otherwise its motion is recomputed on its plausible frames (the minimum);
5. the remaining bodies are sorted by motion (sum over x, y, z of the variance of all its joint
   positions), the most active becomes actor 1; each further body goes to actor 1 if its frames
   do not overlap actor 1's, else to actor 2 if they do not overlap actor 2's, else it is dropped;
6. frames where both actors are missing are removed. One actor leaves actor 2 all zeros.

Rules 2-4 never remove the last remaining body (a clip keeps its best guess), mirroring SGN,
which stops filtering once one body is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ssl_skel.data.formats.ntu_skeleton import SkeletonBlocks, SkeletonFile


@dataclass(frozen=True)
class DenoiseParams:
    length_threshold: int = 11
    spread_ratio: float = 0.8
    spread_frames: float = 0.69754
    missing_threshold: float = 0.5
    max_actors: int = 2


@dataclass
class BodyTrack:
    """All frames of one body ID. frames: (L,) indices into the non-empty frames; joints: (L, V, 3)."""

    body_id: int
    frames: np.ndarray
    joints: np.ndarray
    missing: np.ndarray  # (L, V) bool: joint not tracked or all-zero
    motion: float = 0.0

    @property
    def span(self) -> tuple[int, int]:
        return int(self.frames[0]), int(self.frames[-1])


@dataclass
class Denoised:
    """Result: actors (M, T, V, 3) float32 with T = frames kept; `dropped` maps body ID -> reason."""

    actors: np.ndarray
    actor_ids: list[list[int]]
    dropped: dict[int, str] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.actors.shape[1])


def body_motion(joints: np.ndarray) -> float:
    """SGN's activity measure: sum over x, y, z of the variance of all joint positions. joints: (L, V, 3)."""
    return float(np.var(joints.reshape(-1, 3), axis=0).sum()) if joints.size else 0.0


def collect_tracks(skeleton: SkeletonFile | SkeletonBlocks) -> tuple[list[BodyTrack], int]:
    """Group body frames by body ID over the frames that hold at least one body.

    Returns the tracks in order of first appearance and the number of non-empty frames.
    """
    frame_of, ids, joints = skeleton.blocks()
    if not ids:
        return [], 0
    busy = np.unique(frame_of)  # the non-empty frames, in order
    t_of = np.searchsorted(busy, frame_of)  # index among them
    xyz = joints[:, :, :3]
    missing = (joints[:, :, 11].astype(np.int64) == 0) | ~xyz.any(axis=2)  # (K, V)
    per_id: dict[int, list[int]] = {}
    t_list = t_of.tolist()
    for k, body_id in enumerate(ids):
        rows = per_id.setdefault(body_id, [])
        if rows and t_list[rows[-1]] == t_list[k]:  # the same ID twice in one frame: keep the first
            continue
        rows.append(k)
    tracks = [BodyTrack(bid, t_of[rows], xyz[rows].astype(np.float32), missing[rows]) for bid, rows in per_id.items()]
    for track in tracks:
        track.motion = body_motion(track.joints)
    return tracks, len(busy)


def _plausible_frames(joints: np.ndarray, ratio: float) -> np.ndarray:
    """(L,) bool: frames whose x extent is at most `ratio` times the y extent. joints: (L, V, 3)."""
    extent = joints.max(axis=1) - joints.min(axis=1)  # (L, 3)
    return extent[:, 0] <= ratio * extent[:, 1]


def _filter(tracks: list[BodyTrack], dropped: dict[int, str], reason_of) -> list[BodyTrack]:
    """Drop tracks whose `reason_of(track)` is a string, but never the last one left."""
    kept = list(tracks)
    for track in tracks:
        if len(kept) == 1:
            break
        reason = reason_of(track)
        if reason:
            kept.remove(track)
            dropped[track.body_id] = reason
    return kept


def denoise(skeleton: SkeletonFile | SkeletonBlocks, params: DenoiseParams = DenoiseParams()) -> Denoised:
    """Apply the rules of the module docstring to a parsed file; actors: (M, T, V, 3) float32."""
    tracks, num_frames = collect_tracks(skeleton)
    if not tracks:
        return Denoised(np.zeros((params.max_actors, 0, 25, 3), np.float32), [[] for _ in range(params.max_actors)])
    dropped: dict[int, str] = {}
    p = params
    tracks = _filter(
        tracks,
        dropped,
        lambda b: (
            f"tracked for {len(b.frames)} frames (<= {p.length_threshold})"
            if len(b.frames) <= p.length_threshold
            else None
        ),
    )
    tracks = _filter(
        tracks,
        dropped,
        lambda b: f"{b.missing.mean():.0%} of joints missing" if b.missing.mean() >= p.missing_threshold else None,
    )

    def spread(track: BodyTrack) -> str | None:
        ok = _plausible_frames(track.joints, p.spread_ratio)
        bad = 1.0 - ok.mean()
        if bad >= p.spread_frames:
            return f"{bad:.0%} of frames with x spread > {p.spread_ratio} y spread"
        if bad > 0:
            track.motion = min(track.motion, body_motion(track.joints[ok]))
        return None

    tracks = _filter(tracks, dropped, spread)
    tracks = sorted(tracks, key=lambda b: b.motion, reverse=True)  # stable: ties keep first appearance
    return _assign_actors(tracks, num_frames, dropped, p.max_actors)


def _assign_actors(tracks: list[BodyTrack], num_frames: int, dropped: dict[int, str], max_actors: int) -> Denoised:
    """Place tracks (most active first) on actor timelines without overlap; remove empty frames."""
    v = tracks[0].joints.shape[1]
    actors = np.zeros((max_actors, num_frames, v, 3), dtype=np.float32)
    occupied = np.zeros((max_actors, num_frames), dtype=bool)
    ids: list[list[int]] = [[] for _ in range(max_actors)]
    for track in tracks:
        start, end = track.span
        for m in range(max_actors):
            if not occupied[m, start : end + 1].any():  # SGN compares first-last frame spans
                actors[m, track.frames] = track.joints
                occupied[m, start : end + 1] = True
                ids[m].append(track.body_id)
                break
        else:
            dropped[track.body_id] = "overlaps both actors"
    keep = actors.reshape(max_actors, num_frames, -1).any(axis=(0, 2))
    return Denoised(actors[:, keep], ids, dropped)
