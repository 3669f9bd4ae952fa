"""NW-UCLA (Northwestern-UCLA Multiview Action 3D) skeleton json -> the on-disk array format.

Input as CTR-GCN-family code uses it: `all_sqe/<aAA_sSS_eEE_vVV>.json` holding
`{"file_name", "skeletons": (T, 20, 3) nested lists in metres, "label": 1..10}` plus the two
split lists `train_split.json` (views 1 and 2) and `val_split.json` (view 3) of
`{file_name, length, label}`. Output: kinect20 layout, one person (M = 1), T_max = the
longest clip, labels 0-based, benchmark "xview" (train = train list, test = val list).
Clips are centred on the spine joint of frame 0 (CTR-GCN subtracts joint 2 of frame 0).
`align_view` also rotates each clip once so its frame-0 hip->spine bone points along +z and its
shoulders along +x (2s-AGCN's pre-normalisation, `ssl_skel.data.prepare`), which takes the
camera's azimuth, the main difference between the cross-view protocol's views, out of the data
(configs/nwucla_cpu.yaml records what it did on the validation split).

Bad files follow the NTU converter's rules: each is reported by name and problem, the rest is
still read, and unless `skip_bad` nothing is written and a summary error is raised.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ssl_skel.data.formats.common import (
    as_label,
    check_coordinates,
    check_regular,
    locks_output,
    publish,
    report_bad,
    staged_writer,
)
from ssl_skel.data.formats.normalise import centre
from ssl_skel.data.formats.options import align_view_option, option, skip_bad_option, with_overrides
from ssl_skel.data.layouts import KINECT_V1_20
from ssl_skel.data.prepare import Preprocess, normalise
from ssl_skel.data.storage import DataFormatError

log = logging.getLogger(__name__)

CLASS_NAMES = (
    "pick up with one hand",
    "pick up with two hands",
    "drop trash",
    "walk around",
    "sit down",
    "stand up",
    "donning",
    "doffing",
    "throw",
    "carry",
)  # labels 1..10 = actions a01..a06, a08, a09, a11, a12
SPLIT_FILES = {"train": "train_split.json", "test": "val_split.json"}


class UclaFormatError(DataFormatError):
    """An NW-UCLA json or split file that cannot be used; the message names the file and problem."""


@dataclass
class UclaReport:
    out: Path | None
    num_samples: int
    split_sizes: dict[str, int]
    bad: dict[str, str] = field(default_factory=dict)


def _load_json(path: Path) -> object:
    try:
        check_regular(path)
        text = path.read_text(encoding="utf-8-sig")
    except DataFormatError as exc:
        raise UclaFormatError(str(exc)) from None
    except UnicodeDecodeError:
        raise UclaFormatError(f"{path}: not a text file (not UTF-8)") from None
    except OSError as exc:
        raise UclaFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not text.strip():
        raise UclaFormatError(f"{path}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problem = "truncated" if exc.pos >= len(text.rstrip()) else "not valid JSON"
        raise UclaFormatError(f"{path}:{exc.lineno}: {problem} ({exc.msg} at column {exc.colno})") from None


def read_split_list(path: str | Path) -> list[tuple[str, int, int]]:
    """[(file_name, length, label 1..10)] from a split list json."""
    path = Path(path)
    items = _load_json(path)
    if not isinstance(items, list):
        raise UclaFormatError(f"{path}: expected a list of {{file_name, length, label}}")
    out = []
    for i, item in enumerate(items):
        try:
            name, length, label = str(item["file_name"]), int(item["length"]), item["label"]
        except (TypeError, KeyError, ValueError):
            raise UclaFormatError(f"{path}: entry {i} is not {{file_name, length, label}}: {item!r:.80}") from None
        try:
            label = as_label(label, f"{path}: entry {i} ({name})")
        except DataFormatError as exc:
            raise UclaFormatError(str(exc)) from None
        if not 1 <= label <= len(CLASS_NAMES):
            raise UclaFormatError(f"{path}: entry {i} ({name}) has label {label}, expected 1..{len(CLASS_NAMES)}")
        out.append((name, length, label))
    return out


def read_clip(path: str | Path) -> tuple[np.ndarray, int]:
    """One clip json -> (joints (T, 20, 3) float32, label 1..10). Errors name the file and problem."""
    path = Path(path)
    obj = _load_json(path)
    if not isinstance(obj, dict) or "skeletons" not in obj:
        raise UclaFormatError(f"{path}: no 'skeletons' key (expected {{file_name, skeletons, label}})")
    frames = obj["skeletons"]
    if not isinstance(frames, list) or not frames:
        raise UclaFormatError(f"{path}: 'skeletons' holds no frames")
    v = KINECT_V1_20.num_joints
    try:
        fast = np.asarray(frames)  # no dtype: strings or booleans would not be silently converted
    except ValueError:  # ragged
        fast = None
    if fast is not None and fast.dtype.kind in "fi" and fast.shape[1:] == (v, 3):
        return _checked(path, fast.astype(np.float32), obj)
    for t, frame in enumerate(frames):
        if not isinstance(frame, list) or len(frame) != v:
            count = len(frame) if isinstance(frame, list) else type(frame).__name__
            raise UclaFormatError(f"{path}: frame {t} has {count} joints, expected {v}")
        for j, joint in enumerate(frame):
            if not isinstance(joint, list) or len(joint) != 3:
                raise UclaFormatError(f"{path}: frame {t}, joint {j} is not 3 coordinates: {joint!r:.60}")
            if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in joint):
                raise UclaFormatError(f"{path}: frame {t}, joint {j} has a non-numeric coordinate: {joint!r:.60}")
    return _checked(path, np.asarray(frames, dtype=np.float32), obj)


def _checked(path: Path, joints: np.ndarray, obj: dict) -> tuple[np.ndarray, int]:
    try:
        check_coordinates(joints, str(path))
        label = as_label(obj.get("label"), str(path))
    except DataFormatError as exc:
        raise UclaFormatError(str(exc)) from None
    return joints, label


@dataclass(frozen=True)
class UclaOptions:
    """What `convert_ucla` is told besides its input and output (each field is also a `gendata ucla` flag)."""

    skip_bad: bool = skip_bad_option("convert the readable clips even if some are bad")
    centre_clips: bool = option(
        True, "keep raw camera coordinates (default: spine of frame 0 at the origin)", flag="--no-centre", negate=True
    )
    align_view: bool = align_view_option("rotate each clip: frame-0 spine onto +z, shoulders onto +x")


@locks_output
def convert_ucla(raw: str | Path, out: str | Path, options: UclaOptions | None = None, **overrides: Any) -> UclaReport:
    """Convert `raw` (all_sqe/ + train_split.json + val_split.json) into `out` (see module docstring).

    `options` (default UclaOptions()) with `overrides` replacing its fields by name.
    """
    opts = with_overrides(UclaOptions, options, overrides)
    raw, out = Path(raw), Path(out)
    clip_dir = raw / "all_sqe"
    if not clip_dir.is_dir():
        raise UclaFormatError(f"{raw}: no all_sqe/ folder (expected NW-UCLA all_sqe/*.json and the split lists)")
    lists = {part: read_split_list(raw / fname) for part, fname in SPLIT_FILES.items()}
    seen: dict[str, str] = {}
    for part, items in lists.items():
        for name, _, _ in items:
            if name in seen:
                raise UclaFormatError(f"{raw / SPLIT_FILES[part]}: {name} is listed twice (also in {seen[name]} list)")
            seen[name] = part
    clips: dict[str, np.ndarray] = {}
    bad: dict[str, str] = {}
    for part, items in lists.items():
        for name, length, label in items:
            try:
                joints, file_label = read_clip(clip_dir / f"{name}.json")
                if file_label != label:
                    raise UclaFormatError(
                        f"{clip_dir / name}.json: label {file_label} but {SPLIT_FILES[part]} says {label}"
                    )
                if len(joints) != length:
                    log.warning("%s: %d frames, split list says %d", name, len(joints), length)
                clips[name] = joints
            except UclaFormatError as exc:
                bad[name] = str(exc)
    unlisted = sorted(set(p.stem for p in clip_dir.glob("*.json")) - set(seen))
    if unlisted:
        log.warning(
            "%d clip(s) in %s are in no split list and are ignored (first: %s)", len(unlisted), clip_dir, unlisted[0]
        )
    total = sum(len(items) for items in lists.values())
    report_bad(bad, total, opts.skip_bad, "clip")
    return _write(lists, clips, out, raw, bad, opts)


def _write(
    lists: dict[str, list[tuple[str, int, int]]],
    clips: dict[str, np.ndarray],
    out: Path,
    raw: Path,
    bad: dict[str, str],
    opts: UclaOptions,
) -> UclaReport:
    order = [(part, name, label) for part, items in lists.items() for name, _, label in items if name in clips]
    if not order:
        raise UclaFormatError(f"{raw}: no readable clips")
    t_max = max(len(clips[name]) for _, name, _ in order)
    writer = staged_writer(out, len(order), (3, t_max, KINECT_V1_20.num_joints, 1))
    names, labels, lengths = [], [], []
    splits: dict[str, list[int]] = {"train": [], "test": []}
    aligned = Preprocess(centre="none", align_view=True)  # centred above (or not at all)
    for i, (part, name, label) in enumerate(order):
        actors = clips[name][None]  # (1, T, V, 3)
        if opts.centre_clips:
            actors = centre(actors, KINECT_V1_20.centre)
        if opts.align_view:
            actors = normalise(actors, KINECT_V1_20, aligned)
        writer.data[i, :, : actors.shape[1]] = actors.transpose(3, 1, 2, 0)
        names.append(name)
        labels.append(label - 1)
        lengths.append(actors.shape[1])
        splits[part].append(i)
    source = {
        "converter": "ssl_skel.data.formats.nw_ucla",
        "dataset": "nw_ucla",
        "raw": str(raw.resolve()),
        "bad_files": dict(sorted(bad.items())),
        "centre": "spine joint of frame 0" if opts.centre_clips else None,
        "align_view": "frame-0 hip->spine onto +z, shoulders onto +x (one rotation per clip)"
        if opts.align_view
        else None,
        "protocol": "cross-view: train views 1+2 (train_split.json), test view 3 (val_split.json)",
    }
    preprocess = {"centre": "first" if opts.centre_clips else "none"}  # replayed on raw clips by FrozenEncoder.prepare
    if opts.align_view:
        preprocess["align_view"] = True
    writer.finish(
        labels,
        lengths,
        names,
        {"xview": splits},
        KINECT_V1_20.name,
        class_names=list(CLASS_NAMES),
        source=source,
        preprocess=preprocess,
    )
    publish(out)
    log.info("wrote %d NW-UCLA clips to %s", len(order), out)
    return UclaReport(out, len(order), {k: len(v) for k, v in splits.items()}, bad)
