"""Raw NTU RGB+D 60/120 `.skeleton` files -> the on-disk array format (see storage.py).

Pipeline: list the raw files (skipping the official missing-skeleton samples) -> per file,
in parallel: parse, denoise, cache the actors atomically under `<out>/.cache` -> if every file
was read (or `skip_bad`), write `(N, 3, T_max, 25, 2)` float32 clips centred on actor 1's
spine-mid joint of the first frame (optionally view-aligned), 0-based labels, names, valid
frame counts and the official xsub/xview (NTU-60) or xsub/xset (NTU-120) splits.

Why a per-file cache: conversion of the full set takes a long time on a small machine; a
re-run (after a crash, or after fixing a bad file) only parses what is not cached yet. A
cache entry records the source file's size and mtime and is ignored when they changed.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ssl_skel.data.formats import ntu_meta
from ssl_skel.data.formats.common import parallel_map, publish, report_bad, staged_writer
from ssl_skel.data.formats.denoise import DenoiseParams, denoise
from ssl_skel.data.formats.normalise import align_view, centre
from ssl_skel.data.formats.ntu_skeleton import SkeletonParseError, SampleId, parse_sample_name, read_skeleton
from ssl_skel.data.layouts import NTU25
from ssl_skel.core.io import atomic_file
from ssl_skel.data.storage import DataFormatError

log = logging.getLogger(__name__)

DATASETS = ("ntu60", "ntu120")
MIN_FRAMES = 300  # NTU clips are at most 300 frames; T_max grows only if a file is longer
CACHE_DIR = ".cache"
CACHE_VERSION = 1


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
    for path in sorted(raw.rglob("*.skeleton"), key=lambda p: p.name):
        try:
            sid = parse_sample_name(path.stem)
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
        sid = parse_sample_name(name)
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
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(_cache_path(cache_dir, source.stem)) as fh:
        np.savez(fh, actors=actors, key=_stat_key(source))


def skeleton_to_actors(path: str | Path, params: DenoiseParams = DenoiseParams()) -> np.ndarray:
    """Parse and denoise one file -> actors (2, T, 25, 3) float32, not centred.

    Raises SkeletonParseError when the file is malformed or holds no body at all.
    """
    skeleton = read_skeleton(path)
    result = denoise(skeleton, params)
    if result.num_frames == 0:
        raise SkeletonParseError(path, None, f"no skeleton in any of its {skeleton.num_frames} frames")
    for body_id, reason in result.dropped.items():
        log.debug("%s: dropped body %d: %s", Path(path).name, body_id, reason)
    return result.actors


def _process(job: tuple[str, str]) -> FileResult:
    """Worker: one raw file -> cache entry. Never raises for bad input; the error travels back."""
    source, cache_dir = Path(job[0]), Path(job[1])
    cached = load_cached(cache_dir, source)
    if cached is not None:
        return FileResult(source.stem, int(cached.shape[1]), cached=True)
    try:
        actors = skeleton_to_actors(source)
    except SkeletonParseError as exc:
        return FileResult(source.stem, error=str(exc))
    _save_cached(cache_dir, source, actors)
    return FileResult(source.stem, int(actors.shape[1]))


def prepare_clip(actors: np.ndarray, align: bool) -> np.ndarray:
    """Centre (and optionally view-align) actors (M, T, V, 3) -> clip (3, T, V, M)."""
    actors = centre(actors, NTU25.centre)
    if align:
        actors = align_view(actors)
    return np.ascontiguousarray(actors.transpose(3, 1, 2, 0))


def convert_ntu(
    raw: str | Path,
    out: str | Path,
    dataset: str,
    *,
    missing_file: str | Path | None = None,
    workers: int = 1,
    skip_bad: bool = False,
    align: bool = False,
    progress: bool = True,
) -> NtuReport:
    """Convert a folder of raw `.skeleton` files (see the module docstring).

    missing_file: an official missing-skeleton list; by default the official list built into
    `ntu_meta` is used. Bad files are logged by name and reason; unless `skip_bad`, a
    DataFormatError summarising them is raised after every good file has been cached, and the
    output folder is left as it was.
    """
    started = time.perf_counter()
    out = Path(out)
    missing = read_missing_list(missing_file) if missing_file else set(ntu_meta.MISSING_SAMPLES)
    files, skipped = list_raw_files(raw, dataset, missing)
    log.info("%s: %d files to convert (%d skipped as listed missing)", dataset, len(files), skipped)
    if len(files) + skipped != ntu_meta.NUM_FILES[dataset]:
        log.info("%s: found %d of the %d files of the official release (a partial copy converts as such)",
                 raw, len(files) + skipped, ntu_meta.NUM_FILES[dataset])
    cache_dir = out / CACHE_DIR
    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(str(p), str(cache_dir)) for p in files]
    results = {r.name: r for r in parallel_map(_process, jobs, workers, f"parse {dataset}", progress)}
    bad = {name: r.error for name, r in results.items() if r.error}
    report = NtuReport(None, 0, len(files), skipped, bad,
                       parsed=sum(1 for r in results.values() if not r.cached and not r.error),
                       from_cache=sum(1 for r in results.values() if r.cached))
    report_bad(bad, len(files), skip_bad, "file", f"; good files are cached in {cache_dir}")
    good = [p for p in files if p.stem not in bad]
    if not good:
        raise DataFormatError(f"{raw}: none of the {len(files)} files could be read")
    _write(good, results, out, dataset, raw, align, report, progress)
    report.out, report.num_samples = out, len(good)
    report.seconds = time.perf_counter() - started
    return report


def _write(good: list[Path], results: dict[str, FileResult], out: Path, dataset: str, raw: str | Path,
           align: bool, report: NtuReport, progress: bool) -> None:
    t_max = max(MIN_FRAMES, max(results[p.stem].num_frames for p in good))
    writer = staged_writer(out, len(good), (3, t_max, NTU25.num_joints, 2))
    names, labels, lengths = [], [], []
    cache_dir = out / CACHE_DIR
    for i, path in enumerate(good):
        actors = load_cached(cache_dir, path)
        if actors is None:
            raise DataFormatError(f"{_cache_path(cache_dir, path.stem)}: cache entry vanished or changed during conversion; run again")
        clip = prepare_clip(actors, align)
        writer.data[i, :, : clip.shape[1]] = clip
        names.append(path.stem)
        labels.append(parse_sample_name(path.stem).action - 1)
        lengths.append(clip.shape[1])
    source = {
        "converter": "ssl_skel.data.formats.ntu",
        "dataset": dataset,
        "raw": str(Path(raw).resolve()),
        "files_found": report.num_found,
        "skipped_missing_list": report.skipped_missing,
        "bad_files": dict(sorted(report.bad.items())),
        "denoise": asdict(DenoiseParams()),
        "centre": "actor 1 spine_mid joint of its first frame",
        "align_view": align,
    }
    writer.finish(labels, lengths, names, make_splits(names, dataset), NTU25.name,
                  class_names=list(ntu_meta.CLASS_NAMES[: ntu_meta.NUM_CLASSES[dataset]]), source=source)
    publish(out)
    log.info("wrote %d samples to %s", len(good), out)
