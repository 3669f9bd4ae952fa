"""Raw NTU RGB+D 60/120 `.skeleton` files -> the on-disk array format (see storage.py).

Pipeline: list the raw files (skipping the official missing-skeleton samples) -> per file,
in parallel: parse, pick the two actors, cache them atomically under `<out>/.cache` -> if every
file was read (or `skip_bad`), write `(N, 3, T_max, 25, 2)` float32 clips, 0-based labels,
names, valid frame counts and the official xsub/xview (NTU-60) or xsub/xset (NTU-120) splits.

Two profiles (`profile=`):
- "sgn" (default; SGN / CTR-GCN): multi-body denoising (denoise.py), empty frames removed,
  clips centred on actor 1's spine-mid joint of the first frame, optionally view-aligned.
- "umurl" (UmURL's `data_gen/ntu_gendata.py`, i.e. 2s-AGCN's): of the first four bodies
  listed in each frame (by position in the frame, not by ID) the two of highest energy are
  kept, no denoising, no frame removed; each body padded to T_max frames by repeating it, body
  1's spine-mid subtracted in every frame, one rotation (from frame 0) taking body 1's
  shoulders onto x (normalise.umurl_normalise). The valid frame count is the file's frame count,
  as theirs, so the frames after it hold the repetition padding, not zeros.

Why a per-file cache: conversion of the full set takes a long time on a small machine; a
re-run (after a crash, or after fixing a bad file) only parses what is not cached yet. A
cache entry records the source file's size and mtime and is ignored when they changed.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ssl_skel.core.io import atomic_file
from ssl_skel.data.formats import ntu_meta
from ssl_skel.data.formats.common import (
    check_coordinates,
    check_out,
    check_rows,
    find_files,
    locks_output,
    parallel_map,
    publish,
    report_bad,
    staged_writer,
)
from ssl_skel.data.formats.denoise import DenoiseParams, denoise
from ssl_skel.data.formats.normalise import align_view, centre, select_energetic, umurl_normalise
from ssl_skel.data.formats.ntu_skeleton import SampleId, SkeletonParseError, parse_sample_name, read_skeleton_blocks
from ssl_skel.data.formats.options import option, progress_option, skip_bad_option, with_overrides, workers_option
from ssl_skel.data.layouts import NTU25
from ssl_skel.data.storage import DataFormatError, DataWriter

log = logging.getLogger(__name__)

DATASETS = ("ntu60", "ntu120")
MIN_FRAMES = 300  # NTU clips are at most 300 frames; T_max grows only if a file is longer
CACHE_DIR = ".cache"
CACHE_VERSION = 1
PROFILES = ("sgn", "umurl")
UMURL_BODY_SLOTS = 4  # their max_body_kinect: bodies read per frame before the energy selection


@dataclass(frozen=True)
class FileResult:
    name: str
    num_frames: int = 0
    error: str | None = None
    cached: bool = False  # True when the cache answered (nothing parsed)


@dataclass
class NtuReport:
    """What a conversion did; `out` is None when nothing was written."""

    out: Path | None
    num_samples: int
    num_found: int
    skipped_missing: int
    bad: dict[str, str] = field(default_factory=dict)
    parsed: int = 0
    from_cache: int = 0
    seconds: float = 0.0


def read_missing_list(path: str | Path) -> set[str]:
    """Sample names from an official missing-skeleton list (text header, blank line, one name per line)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read the missing-sample list ({exc.strerror or exc})") from None
    names = set()
    for line in text.splitlines():
        token = line.strip()
        try:
            parse_sample_name(token)
        except DataFormatError:
            continue  # header text
        names.add(token)
    if not names:
        raise DataFormatError(f"{path}: no sample names (SsssCcccPpppRrrrAaaa) found in the missing-sample list")
    return names


def list_raw_files(raw: str | Path, dataset: str, missing: set[str]) -> tuple[list[Path], int]:
    """The dataset's `.skeleton` files under `raw` (recursively), sorted by name, minus `missing`.

    NTU-60 takes setups 1-17 only, so one folder with all 120-class files serves both.
    Returns the files and how many were skipped as listed missing.
    """
    raw = Path(raw)
    if not raw.is_dir():
        raise DataFormatError(f"{raw}: raw NTU folder not found (expected the nturgb+d_skeletons/*.skeleton files)")
    if dataset not in DATASETS:
        raise DataFormatError(f"unknown NTU dataset {dataset!r} (use one of {', '.join(DATASETS)})")
    files, skipped = [], 0
    for path in sorted(find_files(raw, "*.skeleton"), key=lambda p: p.name):
        try:
            sid = _sample_id(path.stem)
        except DataFormatError:
            log.warning("ignoring %s: not an NTU sample name", path)
            continue
        if sid.setup > ntu_meta.MAX_SETUP[dataset] or sid.action > ntu_meta.NUM_CLASSES[dataset]:
            continue
        if path.stem in missing:
            skipped += 1
            continue
        files.append(path)
    if not files:
        raise DataFormatError(f"{raw}: no {dataset} .skeleton files found")
    names = [p.stem for p in files]
    if len(set(names)) != len(names):
        raise DataFormatError(f"{raw}: the same sample name appears in several folders")
    return files, skipped


@functools.lru_cache(maxsize=1 << 18)  # more than the 114,480 names of NTU-120
def _sample_id(name: str) -> SampleId:
    """parse_sample_name, remembered: a conversion asks for each of its tens of thousands of names three times."""
    return parse_sample_name(name)


def benchmark_part(sid: SampleId, benchmark: str) -> str:
    """'train' or 'test' for one sample under an official NTU benchmark."""
    if benchmark == "xsub":
        train = sid.performer in ntu_meta.XSUB_TRAIN_SUBJECTS
    elif benchmark == "xview":
        train = sid.camera in ntu_meta.XVIEW_TRAIN_CAMERAS
    elif benchmark == "xset":
        train = sid.setup in ntu_meta.XSET_TRAIN_SETUPS
    else:
        raise ValueError(f"unknown NTU benchmark {benchmark!r}")
    return "train" if train else "test"


def make_splits(names: Iterable[str], dataset: str) -> dict[str, dict[str, list[int]]]:
    """Official splits by sample name: xsub/xview for ntu60, xsub/xset for ntu120."""
    benches = ("xsub", "xview") if dataset == "ntu60" else ("xsub", "xset")
    splits = {b: {"train": [], "test": []} for b in benches}
    for i, name in enumerate(names):
        sid = _sample_id(name)
        for b in benches:
            splits[b][benchmark_part(sid, b)].append(i)
    return splits


def _cache_path(cache_dir: Path, name: str) -> Path:
    return cache_dir / f"{name}.npz"


def _stat_key(path: Path) -> np.ndarray:
    st = path.stat()
    return np.array([CACHE_VERSION, st.st_size, st.st_mtime_ns], dtype=np.int64)


def load_cached(cache_dir: Path, source: Path) -> np.ndarray | None:
    """Cached actors (2, T, 25, 3) of `source`, or None when absent, stale or unreadable."""
    path = _cache_path(cache_dir, source.stem)
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            if not np.array_equal(z["key"], _stat_key(source)):
                return None
            return z["actors"]
    except Exception:  # a damaged cache entry is simply recomputed
        return None


def _save_cached(cache_dir: Path, source: Path, actors: np.ndarray) -> None:
    """Atomic (temporary file, rename) but not fsynced: an entry that a power cut truncates or garbles fails
    its zip CRC or its key when read back and is simply recomputed, so durability buys nothing here, and
    one fsync per file was a tenth of the conversion time."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(_cache_path(cache_dir, source.stem), sync=False) as fh:
        np.savez(fh, actors=actors, key=_stat_key(source))


def skeleton_to_actors(path: str | Path, params: DenoiseParams | None = None) -> np.ndarray:
    """Parse and denoise one file -> actors (2, T, 25, 3) float32, not centred.

    Raises SkeletonParseError when the file is malformed or holds no body at all.
    """
    skeleton = read_skeleton_blocks(path)
    try:
        check_coordinates(skeleton.blocks()[2][:, :, :3], "joints")
    except DataFormatError as exc:
        raise SkeletonParseError(path, None, str(exc)) from None
    result = denoise(skeleton, params or DenoiseParams())
    if result.num_frames == 0:
        raise SkeletonParseError(path, None, f"no skeleton in any of its {skeleton.num_frames} frames")
    for body_id, reason in result.dropped.items():
        log.debug("%s: dropped body %d: %s", Path(path).name, body_id, reason)
    return result.actors


def skeleton_to_umurl_bodies(path: str | Path) -> np.ndarray:
    """UmURL profile: the two most energetic of the first four body slots -> (2, T, 25, 3) float32, T = file frames.

    Slot m of frame t is the m-th body listed in that frame (their `read_xyz`), so a body ID
    that moves to another position changes slot; frames without a body stay all zero.
    """
    skeleton = read_skeleton_blocks(path)
    slots = np.zeros((UMURL_BODY_SLOTS, skeleton.num_frames, NTU25.num_joints, 3), np.float64)
    frame_of, _, joints = skeleton.blocks()
    slot = np.arange(len(frame_of)) - np.searchsorted(frame_of, frame_of)  # position of the body in its frame
    keep = slot < UMURL_BODY_SLOTS
    slots[slot[keep], frame_of[keep]] = joints[keep, :, :3]
    if not slots.any():
        raise SkeletonParseError(path, None, f"no skeleton in any of its {skeleton.num_frames} frames")
    return select_energetic(slots, 2).astype(np.float32)


def _process(job: tuple[str, str, str]) -> tuple[FileResult, np.ndarray | None]:
    """Worker: one raw file -> cache entry, and its actors for the writer. Never raises for bad input;
    the error travels back."""
    source, cache_dir, profile = Path(job[0]), Path(job[1]), job[2]
    cached = load_cached(cache_dir, source)
    if cached is not None:
        return FileResult(source.stem, int(cached.shape[1]), cached=True), cached
    try:
        actors = skeleton_to_umurl_bodies(source) if profile == "umurl" else skeleton_to_actors(source)
    except SkeletonParseError as exc:
        return FileResult(source.stem, error=str(exc)), None
    _save_cached(cache_dir, source, actors)
    return FileResult(source.stem, int(actors.shape[1])), actors


def prepare_clip(actors: np.ndarray, align: bool, profile: str = "sgn", frames: int = MIN_FRAMES) -> np.ndarray:
    """Centre (and optionally view-align) actors (M, T, V, 3) -> clip (3, T, V, M).

    profile "umurl": the actors are first zero-padded to `frames` frames, which the UmURL
    normalisation then fills by repetition (their fixed 300-frame arrays); `align` is ignored.
    """
    if profile == "umurl":
        padded = np.zeros((actors.shape[0], max(frames, actors.shape[1])) + actors.shape[2:], actors.dtype)
        padded[:, : actors.shape[1]] = actors
        return np.ascontiguousarray(umurl_normalise(padded).transpose(3, 1, 2, 0))
    actors = centre(actors, NTU25.centre)
    if align:
        actors = align_view(actors)
    return np.ascontiguousarray(actors.transpose(3, 1, 2, 0))


@dataclass(frozen=True)
class NtuOptions:
    """What `convert_ntu` is told besides its input and output (each field is also a `gendata ntu` flag)."""

    dataset: str = option(help=None, choices=DATASETS)  # required: ntu60 or ntu120
    missing_file: Path | None = option(
        None, "official missing-skeleton list (default: the official list built in)", flag="--missing"
    )
    workers: int = workers_option()
    skip_bad: bool = skip_bad_option("convert the readable files even if some are bad")
    align: bool = option(False, "rotate each clip to a canonical view (2s-AGCN style)", flag="--align-view")
    profile: Literal["sgn", "umurl"] = option(
        "sgn",
        "sgn: SGN/CTR-GCN denoising and first-frame centring (default); umurl: UmURL's ntu_gendata + "
        "pre_normalization (two most energetic bodies, per-frame spine-mid centring, shoulders onto x)",
        choices=PROFILES,
    )
    progress: bool = progress_option()


@locks_output
def convert_ntu(raw: str | Path, out: str | Path, options: NtuOptions | None = None, **overrides: Any) -> NtuReport:
    """Convert a folder of raw `.skeleton` files (see the module docstring).

    `options` with `overrides` replacing its fields by name: `convert_ntu(raw, out, dataset="ntu60", workers=2)`.
    missing_file: an official missing-skeleton list; by default the official list built into
    `ntu_meta` is used. Bad files are logged by name and reason; unless `skip_bad`, a
    DataFormatError summarising them is raised after every good file has been cached, and the
    output folder is left as it was.

    Memory stays flat in the number of files: clips are written to the staged `data.npy` in file
    order while the workers parse (`_ClipRows`), assuming every file is good and at most
    MIN_FRAMES long; when a file breaks that (a bad file, a longer clip), the dataset is written
    again from the per-file cache once all files are read. Either way the bytes are the same.
    """
    started = time.perf_counter()
    opts = with_overrides(NtuOptions, options, overrides)
    if opts.profile not in PROFILES:
        raise DataFormatError(f"unknown NTU profile {opts.profile!r} (use one of {', '.join(PROFILES)})")
    if opts.profile == "umurl" and opts.align:
        raise DataFormatError("--align-view belongs to the sgn profile; the umurl profile aligns the shoulders itself")
    out = check_out(out)
    files, skipped = _files(raw, opts)
    cache_dir = _profile_cache(out, opts.profile)
    cache_dir.mkdir(parents=True, exist_ok=True)
    rows, results = _parse(files, out, cache_dir, opts)
    bad = {name: r.error for name, r in results.items() if r.error}
    parsed = sum(1 for r in results.values() if not r.cached and not r.error)
    from_cache = sum(1 for r in results.values() if r.cached)
    report = NtuReport(None, 0, len(files), skipped, bad, parsed=parsed, from_cache=from_cache)
    if bad:
        rows.abort()
    report_bad(bad, len(files), opts.skip_bad, "file", f"; good files are cached in {cache_dir}")
    good = [p for p in files if p.stem not in bad]
    if not good:
        raise DataFormatError(f"{raw}: none of the {len(files)} files could be read")
    if not rows.open:
        log.info("writing %d clips again from the cache (a bad file or a clip over %d frames)", len(good), MIN_FRAMES)
        rows = _rows_from_cache(good, results, out, cache_dir, opts.align, opts.profile)
    _finish(rows, out, raw, opts, report)
    report.out, report.num_samples = out, len(good)
    report.seconds = time.perf_counter() - started
    return report


def _files(raw: str | Path, opts: NtuOptions) -> tuple[list[Path], int]:
    """The files to convert and how many were skipped as listed missing."""
    missing = read_missing_list(opts.missing_file) if opts.missing_file else set(ntu_meta.MISSING_SAMPLES)
    files, skipped = list_raw_files(raw, opts.dataset, missing)
    log.info("%s: %d files to convert (%d skipped as listed missing)", opts.dataset, len(files), skipped)
    if len(files) + skipped != ntu_meta.NUM_FILES[opts.dataset]:
        log.info(
            "%s: found %d of the %d files of the official release (a partial copy converts as such)",
            raw,
            len(files) + skipped,
            ntu_meta.NUM_FILES[opts.dataset],
        )
    return files, skipped


def _parse(files: list[Path], out: Path, cache_dir: Path, opts: NtuOptions) -> tuple[_ClipRows, dict[str, FileResult]]:
    """Parse every file in parallel (through the cache), streaming clips into the staged rows while that works."""
    jobs = [(str(p), str(cache_dir), opts.profile) for p in files]
    writer = staged_writer(out, len(files), _clip_shape(MIN_FRAMES), sequential=True)
    rows = _ClipRows(writer, opts.align, opts.profile)
    results: dict[str, FileResult] = {}
    desc = f"parse {opts.dataset}"
    try:
        for result, actors in parallel_map(_process, jobs, opts.workers, desc, opts.progress, ordered=True):
            results[result.name] = result
            if rows.open and (actors is None or actors.shape[1] > MIN_FRAMES):
                rows.abort()  # the assumption broke: finish reading, then write from the cache
            if rows.open:
                rows.put(actors, result.name)
    except BaseException:
        rows.abort()
        raise
    return rows, results


def _profile_cache(out: Path, profile: str) -> Path:
    """The per-file cache of a profile (the two profiles keep different actors)."""
    return out / CACHE_DIR if profile == "sgn" else out / CACHE_DIR / profile


def _clip_shape(frames: int) -> tuple[int, int, int, int]:
    return (3, frames, NTU25.num_joints, 2)


class _ClipRows:
    """Clips -> rows of a sequential DataWriter, in order: each row zero-padded to T_max frames.

    Rows are gathered in a small reused buffer and written a batch at a time; names, labels and
    valid lengths are kept for the manifest. `open` turns False after `abort`.
    """

    BATCH = 32

    def __init__(self, writer: DataWriter, align: bool, profile: str) -> None:
        self.writer = writer
        self.align, self.profile = align, profile
        self.frames = writer.shape[2]
        self.buffer = np.zeros((self.BATCH, *writer.shape[1:]), np.float32)
        self.filled = 0
        self.names: list[str] = []
        self.labels: list[int] = []
        self.lengths: list[int] = []
        self.open = True

    def put(self, actors: np.ndarray, name: str) -> None:
        clip = prepare_clip(actors, self.align, self.profile, self.frames)
        row = self.buffer[self.filled]
        row[:, clip.shape[1] :] = 0
        row[:, : clip.shape[1]] = clip
        self.filled += 1
        self.names.append(name)
        self.labels.append(_sample_id(name).action - 1)
        self.lengths.append(int(actors.shape[1]))
        if self.filled == self.BATCH:
            self.flush()

    def flush(self) -> None:
        """Check the gathered rows' coordinates (publish then need not read them back), write them."""
        if self.filled:
            block = self.buffer[: self.filled]
            check_rows(self.writer.root, block, self.writer.rows_written, self.names)
            self.writer.append(block)
            self.filled = 0

    def abort(self) -> None:
        if self.open:
            self.writer.abort()
            self.open = False


def _rows_from_cache(
    good: list[Path], results: dict[str, FileResult], out: Path, cache_dir: Path, align: bool, profile: str
) -> _ClipRows:
    """Write every good file's clip from its cache entry (when streaming during the parse was not possible)."""
    t_max = max(MIN_FRAMES, max(results[p.stem].num_frames for p in good))
    rows = _ClipRows(staged_writer(out, len(good), _clip_shape(t_max), sequential=True), align, profile)
    try:
        for path in good:
            actors = load_cached(cache_dir, path)
            if actors is None:
                raise DataFormatError(
                    f"{_cache_path(cache_dir, path.stem)}: cache entry vanished or changed during conversion; run again"
                )
            rows.put(actors, path.stem)
    except BaseException:
        rows.abort()
        raise
    return rows


def _finish(rows: _ClipRows, out: Path, raw: str | Path, opts: NtuOptions, report: NtuReport) -> None:
    """Manifest and the other arrays, then the checked swap into `out` (common.publish)."""
    try:
        rows.flush()
    except BaseException:
        rows.abort()
        raise
    names = rows.names
    source = {
        "converter": "ssl_skel.data.formats.ntu",
        "dataset": opts.dataset,
        "raw": str(Path(raw).resolve()),
        "files_found": report.num_found,
        "skipped_missing_list": report.skipped_missing,
        "bad_files": dict(sorted(report.bad.items())),
        "profile": opts.profile,
    }
    if opts.profile == "umurl":
        source.update(
            {
                "bodies": "two of highest energy among the first 4 listed per frame (UmURL/2s-AGCN read_xyz)",
                "centre": "body 1 spine_mid joint, every frame",
                "align_view": "body 1 frame-0 shoulders onto x (one rotation per clip)",
                "padding": "each body repeated cyclically to T_max frames; num_frames = the file's frame count",
            }
        )
    else:
        source.update(
            {
                "denoise": asdict(DenoiseParams()),
                "centre": "actor 1 spine_mid joint of its first frame",
                "align_view": opts.align,
            }
        )
    rows.writer.finish(
        rows.labels,
        rows.lengths,
        names,
        make_splits(names, opts.dataset),
        NTU25.name,
        class_names=list(ntu_meta.CLASS_NAMES[: ntu_meta.NUM_CLASSES[opts.dataset]]),
        source=source,
    )
    publish(out, rows_checked=True)
    log.info("wrote %d samples to %s", len(names), out)
