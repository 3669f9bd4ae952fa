"""Penn Action `labels/*.mat` -> the on-disk array format, through the generic importer (`arrays`).

Each `.mat` (scipy.io.loadmat, `mat_dtype=True`: some files store x/y as uint8/uint16, where
arithmetic would wrap) holds `x`, `y` (T, 13) pixels (origin top-left, y down), `visibility`
(T, 13), `action`, `pose` (view), `train` (1 train, -1 test), `bbox`, `dimensions`. Layout
penn13 (official README order), 15 classes in alphabetical order, the official single split as
benchmark "official" (1258 train / 1068 test).

Invisible joints: 22% of the points; many carry a sentinel near the top-left corner (x = y ~ 1 px),
so by default they are missing and filled by interpolation in time ("fill"); `visibility=
"channel"` also keeps the flag as a third channel (a score); "keep" uses the annotated values as
they are. The default normalisation is the first-frame head as the origin and the clip's RMS
radius as the unit (pixel sizes differ between clips: 71 frame sizes occur).

The reader writes one `.npy` per clip plus a table into `<out>/.penn_clips_<visibility>` (`clip_cache`)
and calls `convert_arrays`, so it is parallel, resumable and reports bad files the same way.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssl_skel.data.formats.arrays import ArraysReport, convert_arrays
from ssl_skel.data.formats.clip_cache import ClipTable, RawClip, cache_clips
from ssl_skel.data.formats.common import check_out, locks_output
from ssl_skel.data.formats.options import (
    centre_option,
    option,
    progress_option,
    scale_option,
    skip_bad_option,
    with_overrides,
    workers_option,
)
from ssl_skel.data.storage import DataFormatError

log = logging.getLogger(__name__)

CLASSES = (
    "baseball_pitch", "baseball_swing", "bench_press", "bowl", "clean_and_jerk", "golf_swing", "jump_rope",
    "jumping_jacks", "pullup", "pushup", "situp", "squat", "strum_guitar", "tennis_forehand", "tennis_serve",
)  # fmt: skip
NUM_FILES = 2326
VISIBILITY = ("fill", "channel", "keep")
BENCHMARK = "official"
LAYOUT = "penn13"


def read_penn_mat(path: str | Path, visibility: str = "fill") -> tuple[np.ndarray, dict[str, str]]:
    """One `.mat` -> (clip (T, 13, 2 or 3) float32, table row {label, split, view}); DataFormatError if unreadable."""
    import scipy.io  # lazy: only this reader needs scipy.io

    path = Path(path)
    try:
        m = scipy.io.loadmat(path, mat_dtype=True)
        xy = np.stack([m["x"], m["y"]], axis=-1).astype(np.float32)
        vis = np.asarray(m["visibility"]).astype(bool)
        action, view = str(m["action"][0]), str(m["pose"][0])
        train = int(np.asarray(m["train"]).ravel()[0])
    except Exception as exc:  # noqa: BLE001 - scipy.io fails in many ways on damaged files (MatReadError, ...)
        raise DataFormatError(f"{path}: not a readable Penn Action .mat ({type(exc).__name__}: {exc})") from None
    if xy.ndim != 3 or xy.shape[1:] != (13, 2) or vis.shape != xy.shape[:2]:
        raise DataFormatError(f"{path}: x/y/visibility of shapes {xy.shape[:2]}/{vis.shape}, expected (T, 13)")
    if train not in (1, -1):
        raise DataFormatError(f"{path}: train flag {train}, expected 1 or -1")
    if visibility in ("fill", "channel"):
        xy[~vis] = np.nan  # missing: filled by the importer
    if visibility == "channel":
        xy = np.concatenate([xy, vis[..., None].astype(np.float32)], axis=-1)
    return xy, {"label": action, "split": "train" if train == 1 else "test", "view": view}


@dataclass(frozen=True)
class PennOptions:
    """What `convert_penn` is told besides its input and output (each field is also a `gendata penn` flag)."""

    visibility: str = option(
        "fill",
        "invisible joints: interpolate them (default), also keep the flag as a 3rd channel, "
        "or keep the annotated values",
        choices=VISIBILITY,
    )
    centre: str = centre_option("first", "default: first-frame head")
    scale: str = scale_option("rms", "default: the clip's RMS radius is 1")
    workers: int = workers_option(None)
    skip_bad: bool = skip_bad_option()
    progress: bool = progress_option()


@locks_output
def convert_penn(
    raw: str | Path, out: str | Path, options: PennOptions | None = None, **overrides: Any
) -> ArraysReport:
    """Convert the `labels/` folder of Penn Action (`raw` is the dataset folder or `labels/` itself).

    `options` (default PennOptions()) with `overrides` replacing its fields by name.
    """
    opts = with_overrides(PennOptions, options, overrides)
    raw, out = Path(raw), check_out(out)  # before the clip cache goes in
    labels = raw / "labels" if (raw / "labels").is_dir() else raw
    mats = sorted(labels.glob("*.mat"))
    if not mats:
        raise DataFormatError(f"{labels}: no Penn Action .mat files (expected labels/0001.mat ... 2326.mat)")
    if len(mats) != NUM_FILES:
        log.info("%s: %d of the %d .mat files of the release", labels, len(mats), NUM_FILES)
    if opts.visibility not in VISIBILITY:
        raise DataFormatError(f"visibility {opts.visibility!r} must be one of {VISIBILITY}")
    spec = ClipTable(
        out / f".penn_clips_{opts.visibility}",
        ("label", "split", "view"),
        functools.partial(read_penn_mat, visibility=opts.visibility),
        "read penn .mat",
    )
    clips = [RawClip(p.stem, str(p)) for p in mats]
    table, unreadable = cache_clips(spec, clips, opts.workers, opts.progress)
    info = {"dataset": "penn_action", "raw": str(labels.resolve()), "visibility": opts.visibility,
            "unreadable": dict(sorted(unreadable.items()))}  # fmt: skip
    return convert_arrays(
        spec.folder,
        out,
        table=table,
        layout=LAYOUT,
        classes=list(CLASSES),
        split_column="split",
        benchmark=BENCHMARK,
        centre=opts.centre,
        scale=opts.scale,
        score=opts.visibility == "channel",
        missing="fill" if opts.visibility != "keep" else "bad",
        workers=opts.workers,
        skip_bad=opts.skip_bad,
        progress=opts.progress,
        known_bad=unreadable,
        source_info=info,
    )
