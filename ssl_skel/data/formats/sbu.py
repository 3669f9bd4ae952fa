"""SBU Kinect Interaction (clean) -> the on-disk array format, through the generic importer (`arrays`).

Files: `<set>/<class 01..08>/<seq>/skeleton_pos.txt`, one CSV row per frame: frame number, then
person A's 15 joints (x, y, z), then person B's. Layout sbu15 (official README order), M = 2.
Raw values are normalised anisotropically; by default they are turned into metres with the
README's inverse (X = 1280 - 2560 x, Y = 960 - 1920 y, Z = 10000 z / 7.8125, in mm; both x and y
are negated, a 180-degree rotation, so handedness is kept); `metric=False` keeps them as stored.
Default normalisation: origin at person A's torso in the first frame (no view alignment).

Protocol: the official 5-fold cross-validation by actor-pair set, as benchmarks fold1 .. fold5
(test on that fold, train on the other four; report the mean of the five).

Class names: labels are the folder indices 01..08. The names follow the list used by several
public loaders (approaching, departing, kicking, pushing, shaking_hands, hugging, exchanging,
punching); the IRN loader quoted in our SOURCE.md names 04/05/07/08 punching/pushing/shaking_hands/
exchanging instead, but the motion in the folders fits the first list (05: hands within 15 cm in
half the frames; 08: the fastest hand peaks). Accuracy does not depend on the names.
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
    align_view_option,
    centre_option,
    option,
    progress_option,
    skip_bad_option,
    with_overrides,
    workers_option,
)
from ssl_skel.data.storage import DataFormatError

log = logging.getLogger(__name__)

CLASSES = (
    "approaching", "departing", "kicking", "pushing", "shaking_hands", "hugging", "exchanging", "punching",
)  # fmt: skip
FOLDS = (
    ("s01s02", "s03s04", "s05s02", "s06s04"),
    ("s02s03", "s02s07", "s03s05", "s05s03"),
    ("s01s03", "s01s07", "s07s01", "s07s03"),
    ("s02s01", "s02s06", "s03s02", "s03s06"),
    ("s04s02", "s04s03", "s04s06", "s06s02", "s06s03"),
)
FOLD_OF = {s: k + 1 for k, sets in enumerate(FOLDS) for s in sets}
NUM_FILES = 282
LAYOUT = "sbu15"


def read_sbu_file(path: str | Path, metric: bool = True) -> np.ndarray:
    """One skeleton_pos.txt -> (2, T, 15, 3) float32 (persons A, B); DataFormatError naming the file."""
    path = Path(path)
    try:
        a = np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: not a readable SBU skeleton file ({exc})") from None
    if a.shape[1] != 91 or len(a) == 0:
        raise DataFormatError(f"{path}: {a.shape[1]} values per row, expected 91 (frame + 2 x 15 joints x 3)")
    j = a[:, 1:].reshape(len(a), 2, 15, 3).transpose(1, 0, 2, 3)
    if metric:
        j = np.stack([1.28 - 2.56 * j[..., 0], 0.96 - 1.92 * j[..., 1], 1.28 * j[..., 2]], axis=-1)
    return j.astype(np.float32)


@dataclass(frozen=True)
class SbuOptions:
    """What `convert_sbu` is told besides its input and output (each field is also a `gendata sbu` flag)."""

    metric: bool = option(True, "keep the stored normalised values (default: metres)", flag="--raw-units", negate=True)
    centre: str = centre_option("first", "default: first-frame torso")
    align_view: bool = align_view_option("rotate each clip by person A's torso and shoulders")
    workers: int = workers_option(None)
    skip_bad: bool = skip_bad_option()
    progress: bool = progress_option()


@locks_output
def convert_sbu(raw: str | Path, out: str | Path, options: SbuOptions | None = None, **overrides: Any) -> ArraysReport:
    """Convert the SBU folder (`raw` holds the set folders s01s02 ...).

    `options` (default SbuOptions()) with `overrides` replacing its fields by name.
    """
    opts = with_overrides(SbuOptions, options, overrides)
    raw, out = Path(raw), check_out(out)  # before the clip cache goes in
    files = sorted(raw.glob("s??s??/*/*/skeleton_pos.txt"))
    if not files:
        raise DataFormatError(f"{raw}: no SBU files (expected <set>/<class>/<seq>/skeleton_pos.txt)")
    if len(files) != NUM_FILES:
        log.info("%s: %d of the %d files of the clean release", raw, len(files), NUM_FILES)
    spec = ClipTable(
        out / f".sbu_clips_{'metric' if opts.metric else 'raw'}",
        ("label", "fold", "set"),
        functools.partial(_read_clip, metric=opts.metric),
        "read sbu",
    )
    table, unreadable = cache_clips(spec, [_raw_clip(p) for p in files], opts.workers, opts.progress)
    return convert_arrays(
        spec.folder,
        out,
        table=table,
        layout=LAYOUT,
        classes=list(CLASSES),
        split_column=None,
        folds="fold",
        centre=opts.centre,
        align_view=opts.align_view,
        workers=opts.workers,
        skip_bad=opts.skip_bad,
        progress=opts.progress,
        known_bad=unreadable,
        source_info={"dataset": "sbu_kinect_interaction", "raw": str(raw.resolve()), "metric": opts.metric},
    )


def _raw_clip(path: Path) -> RawClip:
    """A file and its table row from its place: <set>/<class>/<seq>/skeleton_pos.txt."""
    seq, cls, pair = path.parent.name, path.parent.parent.name, path.parent.parent.parent.name
    name = f"{pair}_{cls}_{seq}"
    if pair not in FOLD_OF or not cls.isdigit() or not 1 <= int(cls) <= len(CLASSES):
        return RawClip(name, str(path), error=f"{path}: set {pair!r} / class {cls!r} is not part of the SBU protocol")
    return RawClip(name, str(path), {"label": CLASSES[int(cls) - 1], "fold": FOLD_OF[pair], "set": pair})


def _read_clip(path: str, metric: bool) -> tuple[np.ndarray, dict]:
    return read_sbu_file(path, metric), {}
