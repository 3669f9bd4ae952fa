"""pyskl / mmaction2 skeleton annotation pickles -> the on-disk array format.

The pickle is a dict `{"split": {name: [frame_dir, ...]}, "annotations": [ann, ...]}` with
`ann = {"frame_dir", "label" (0-based), "keypoint": (M, T, V, C), "keypoint_score": (M, T, V)
optional, "total_frames"}`. 3D NTU annotations (V = 25, C = 3) become ntu25 clips; 2D ones
(V = 17 COCO keypoints, C = 2) become coco17 clips with the two pixel coordinates, plus the
keypoint score as a third channel when `with_score` is set (as pyskl's 2D GCN inputs do).
Split names `<bench>_train` / `<bench>_val` (or `_test`) become benchmark `<bench>` with parts
train / test; plain `train` / `val` / `test` become benchmark "default". Coordinates are kept
as the toolkit prepared them (pyskl already normalised its 3D data) unless `centre`, `align_view`
or `scale` ask for centring / view alignment / scaling (`ssl_skel.data.prepare`, recorded in the
manifest). The layout is `layout` (a name or a file) or the only built-in one with that joint
count and dimension; `joint_order` maps another joint order onto it.

The pickle is read with a restricted unpickler (plain containers, numbers, strings, numpy arrays
only), so a file cannot run code; `trust_pickle=True` (--trust-pickle) lifts that for files from a
source you trust that hold other objects (None: `pickles.trust_pickles()`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ssl_skel.data.formats.common import as_label, check_coordinates, locks_output, publish, report_bad, staged_writer
from ssl_skel.data.formats.options import (
    align_view_option,
    centre_option,
    joint_order_option,
    layout_option,
    option,
    scale_option,
    skip_bad_option,
    trust_pickle_option,
    with_overrides,
)
from ssl_skel.data.formats.pickles import load_pickle
from ssl_skel.data.layouts import Layout, choose_layout, joint_permutation
from ssl_skel.data.prepare import ClipError, Preprocess, clean_clip, to_ctvm
from ssl_skel.data.storage import DataFormatError

log = logging.getLogger(__name__)

PART_NAMES = {"train": "train", "val": "test", "test": "test"}


@dataclass
class PysklReport:
    out: Path
    num_samples: int
    layout: str
    shape: tuple[int, ...]
    splits: dict[str, dict[str, int]]
    bad: dict[str, str] = field(default_factory=dict)


def split_key(name: str) -> tuple[str, str]:
    """'xsub_train' -> ('xsub', 'train'); 'xview_val' -> ('xview', 'test'); 'val' -> ('default', 'test')."""
    bench, _, part = name.rpartition("_")
    if part not in PART_NAMES:
        raise DataFormatError(f"split {name!r}: expected <benchmark>_train, <benchmark>_val or <benchmark>_test")
    return bench or "default", PART_NAMES[part]


def _check_annotation(ann: Any, i: int, with_score: bool) -> tuple[str, np.ndarray, np.ndarray | None, int]:
    """Validate one annotation -> (frame_dir, keypoint (M, T, V, C), score (M, T, V) or None, label)."""
    if not isinstance(ann, dict):
        raise DataFormatError(f"annotation {i}: not a dict")
    name = str(ann.get("frame_dir", f"#{i}"))
    where = f"annotation {i} ({name})"
    for key in ("frame_dir", "label", "keypoint"):
        if key not in ann:
            raise DataFormatError(f"{where}: no {key!r}")
    try:
        kp = np.asarray(ann["keypoint"])
    except ValueError:  # ragged nested lists
        raise DataFormatError(f"{where}: keypoint is not an (M, T, V, C) array") from None
    if kp.ndim != 4 or kp.shape[-1] not in (2, 3) or kp.dtype.kind not in "fiu":
        raise DataFormatError(
            f"{where}: keypoint has shape {kp.shape} ({kp.dtype}), expected numeric (M, T, V, 2 or 3)"
        )
    if kp.shape[1] == 0 or kp.shape[0] == 0:
        raise DataFormatError(f"{where}: keypoint has no frames or no persons")
    check_coordinates(kp, where, allow_missing=True)  # NaN joints: the `missing` option decides (data.prepare)
    total = ann.get("total_frames", kp.shape[1])
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)):
        raise DataFormatError(f"{where}: total_frames {total!r} is not an integer")
    if int(total) != kp.shape[1]:
        log.warning(
            "%s: total_frames %s but keypoint has %d frames; using the keypoint frames", where, total, kp.shape[1]
        )
    score = None
    if with_score:
        if "keypoint_score" not in ann:
            raise DataFormatError(f"{where}: no 'keypoint_score' (needed for with_score)")
        score = np.asarray(ann["keypoint_score"])
        if score.shape != kp.shape[:3]:
            raise DataFormatError(f"{where}: keypoint_score shape {score.shape} differs from keypoint {kp.shape[:3]}")
    return name, kp, score, as_label(ann["label"], where)


def _select_persons(kp: np.ndarray, score: np.ndarray | None, raw_score: np.ndarray | None, m: int) -> tuple:
    """Keep at most m persons: the highest mean keypoint score first when scores exist, else the first m."""
    if kp.shape[0] <= m:
        return kp, score
    order = np.argsort(-raw_score.mean(axis=(1, 2)), kind="stable")[:m] if raw_score is not None else np.arange(m)
    order = np.sort(order)
    return kp[order], None if score is None else score[order]


@dataclass(frozen=True)
class PysklOptions:
    """What `convert_pyskl` is told besides its input and output (each field is also a `gendata pyskl` flag)."""

    with_score: bool = option(False, "2D only: keypoint score as a third channel")
    max_persons: int | None = option(None, "keep at most this many persons (highest score)", minimum=1)
    skip_bad: bool = skip_bad_option("convert the readable annotations even if some are bad")
    layout: str | Path | Layout | None = layout_option()
    joint_order: str | Sequence | None = joint_order_option()
    centre: str = centre_option("none")  # pyskl already normalised its 3D data
    align_view: bool = align_view_option()
    scale: str = scale_option()
    trust_pickle: bool | None = trust_pickle_option()  # None: pickles.trust_pickles()

    def preprocess(self) -> Preprocess:
        return Preprocess(centre=self.centre, align_view=self.align_view, scale=self.scale, score=self.with_score)


@locks_output
def convert_pyskl(
    path: str | Path, out: str | Path, options: PysklOptions | None = None, **overrides: Any
) -> PysklReport:
    """Convert an annotation pickle into `out` (see the module docstring).

    `options` (default PysklOptions()) with `overrides` replacing its fields by name.
    """
    opts = with_overrides(PysklOptions, options, overrides)
    path, out = Path(path), Path(out)
    obj = load_pickle(path, trust=opts.trust_pickle)
    if not isinstance(obj, dict) or "annotations" not in obj or "split" not in obj:
        raise DataFormatError(f"{path}: expected a dict with 'split' and 'annotations' (pyskl/mmaction2 format)")
    if not isinstance(obj["annotations"], (list, tuple)):
        raise DataFormatError(f"{path}: 'annotations' is a {type(obj['annotations']).__name__}, expected a list")
    total = len(obj["annotations"])
    good, bad = _read_annotations(path, obj["annotations"], opts.with_score)
    shapes = {(kp.shape[2], kp.shape[3]) for _, kp, _, _, _ in good}
    if len(shapes) > 1:
        raise DataFormatError(f"{path}: annotations mix joint/channel counts {sorted(shapes)}")
    report_bad(bad, total, opts.skip_bad, "annotation")
    if not good:
        raise DataFormatError(f"{path}: no annotations")
    ((v, c),) = shapes
    chosen = _layout(path, v, c, opts.layout)
    perm = joint_permutation(opts.joint_order, chosen) if opts.joint_order is not None else None
    prep = opts.preprocess()
    channels = c + 1 if opts.with_score else c
    if opts.with_score and c != 2:
        raise DataFormatError(f"{path}: with_score needs 2D keypoints, these have {c} channels")
    m = max(kp.shape[0] for _, kp, _, _, _ in good)
    m = min(m, opts.max_persons) if opts.max_persons else m
    clips = _prepare(path, good, chosen, prep, perm, m, bad)
    report_bad(bad, total, opts.skip_bad, "annotation")
    kept = [(g, clip) for g, clip in zip(good, clips) if g[0] not in bad]
    t_max = max(kp.shape[1] for _, kp, _, _, _ in good)
    return _write(path, out, kept, obj["split"], (channels, t_max, v, m), chosen, opts, bad)


def _read_annotations(path: Path, annotations: Sequence, with_score: bool) -> tuple[list[tuple], dict[str, str]]:
    """The annotations that pass `_check_annotation` as (name, keypoint, score, label, raw score), and the bad ones."""
    good: list[tuple[str, np.ndarray, np.ndarray | None, int, np.ndarray | None]] = []
    bad: dict[str, str] = {}
    for i, ann in enumerate(annotations):
        try:
            name, kp, score, label = _check_annotation(ann, i, with_score)
        except DataFormatError as exc:
            bad[str(ann.get("frame_dir", f"#{i}")) if isinstance(ann, dict) else f"#{i}"] = f"{path}: {exc}"
            continue
        raw_score = np.asarray(ann["keypoint_score"]) if "keypoint_score" in ann else None
        if raw_score is not None and (raw_score.shape != kp.shape[:3] or raw_score.dtype.kind not in "fiu"):
            raw_score = None  # only used to rank persons; a malformed one is ignored
        good.append((name, kp, score, label, raw_score))
    return good, bad


def _prepare(
    path: Path, good: list[tuple], layout: Layout, prep: Preprocess, perm: Any, m: int, bad: dict[str, str]
) -> list[np.ndarray]:
    """Each good annotation -> its clip (M, T, V, C) prepared as `prep` says; one that fails goes to `bad`."""
    clips = []
    for name, kp, score, _, raw_score in good:
        kp, score = _select_persons(kp, score, raw_score, m)
        clip = kp.astype(np.float32)
        if score is not None:
            clip = np.concatenate([clip, score[..., None].astype(np.float32)], axis=-1)
        if perm is not None:
            clip = clip[:, :, perm]
        try:
            clips.append(clean_clip(clip, layout, prep)[0])
        except ClipError as exc:
            bad[name] = f"{path}: annotation {name}: {exc}"
    return clips


def _write(
    path: Path,
    out: Path,
    kept: list[tuple],
    split: Any,
    shape: tuple[int, int, int, int],
    layout: Layout,
    opts: PysklOptions,
    bad: dict[str, str],
) -> PysklReport:
    """The kept (annotation, clip) pairs into the staged folder (`shape`: C, T_max, V, M); publish and report."""
    names = [g[0] for g, _ in kept]
    splits = _splits(split, names, path)
    writer = staged_writer(out, len(kept), shape)
    for i, (_, clip) in enumerate(kept):
        writer.data[i, :, : clip.shape[1], :, : clip.shape[0]] = to_ctvm(clip)
    joint_order = opts.joint_order
    source = {
        "converter": "ssl_skel.data.formats.pyskl_pkl",
        "pickle": str(path.resolve()),
        "with_score": opts.with_score,
        "max_persons": opts.max_persons,
        "joint_order": joint_order if joint_order is None or isinstance(joint_order, str) else list(joint_order),
        "bad_annotations": dict(sorted(bad.items())),
    }
    labels, lengths = [g[3] for g, _ in kept], [g[1].shape[1] for g, _ in kept]
    prep = opts.preprocess().to_dict()
    writer.finish(labels, lengths, names, splits, layout, source=source, preprocess=prep)
    publish(out)
    counts = {b: {p: len(idx) for p, idx in parts.items()} for b, parts in splits.items()}
    return PysklReport(out, len(kept), layout.name, (len(kept), *shape), counts, bad)


def _layout(path: Path, v: int, c: int, requested: str | Path | Layout | None) -> Layout:
    try:
        return choose_layout(v, str(path), requested, dims=c)
    except ValueError as exc:
        raise DataFormatError(str(exc)) from None


def _splits(split: Any, names: list[str], path: Path) -> dict[str, dict[str, list[int]]]:
    if not isinstance(split, dict):
        raise DataFormatError(f"{path}: 'split' must be a dict of split name -> list of frame_dir")
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        raise DataFormatError(f"{path}: duplicate frame_dir names among the annotations")
    out: dict[str, dict[str, list[int]]] = {}
    for key, members in split.items():
        bench, part = split_key(str(key))
        if not isinstance(members, (list, tuple)):
            raise DataFormatError(f"{path}: split {key!r} is a {type(members).__name__}, expected a list of frame_dir")
        rows = [index[str(n)] for n in members if str(n) in index]
        if len(rows) < len(members):
            log.warning(
                "%s: split %s names %d frame_dir(s) without a usable annotation", path, key, len(members) - len(rows)
            )
        out.setdefault(bench, {"train": [], "test": []})[part] = rows
    return out
