"""Generic importer: a user's own skeleton clips -> the on-disk array format (`ssl-skel gendata arrays`).

Input `raw`: (a) a folder of per-clip files plus a CSV table (`table`), or (b) one array file: `.npy`
with the table's rows in array order, or `.npz` carrying its own 1-D columns. The clip formats are read
by `clip_files`; the table (one row per clip: a clip column, a label column and either a split column
or group columns) becomes labels and splits in `tables`.

Splits (benchmark `benchmark`, default "default"): per clip from a column (`split_column`); "train on
subjects ...": `train_on="subject=1,2"` (or `("subject", ("1", "2"))`), the rest is test; or folds:
one benchmark per value of a fold column (`folds`) testing on that fold. The layout is `layout` (a name
or a file) or, when only one built-in layout fits the joint count, is assumed and logged; `joint_order`
maps the files' joint order onto the layout. Normalisation: `ssl_skel.data.prepare` (recorded in the
manifest, so checkpoints replay it on raw clips).

Guarantees as the NTU converter: parallel with a progress bar, resumable (each prepared clip is
cached in `<out>/.arrays_cache`, keyed by the source file and the options), every bad clip named
with its reason, a DataFormatError unless `skip_bad`, and staged output (nothing half-written).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ssl_skel.data.formats.clip_files import (
    CLIP_SUFFIXES,
    find_clip_file,
    open_array,
    probe,
    read_clip_file,
    trim_nan_padding,
)
from ssl_skel.data.formats.common import check_out, locks_output, parallel_map, publish, report_bad, staged_writer
from ssl_skel.data.formats.options import (
    align_view_option,
    centre_option,
    joint_order_option,
    layout_option,
    missing_option,
    option,
    progress_option,
    scale_option,
    score_option,
    skip_bad_option,
    with_overrides,
    workers_option,
    zero_missing_option,
)
from ssl_skel.data.formats.tables import (
    SplitRule,
    columns_from_npz,
    label_ids,
    label_of,
    make_splits,
    parse_train_on,
    part_of,
    read_classes,
    read_table,
)
from ssl_skel.data.layouts import Layout, LayoutError, choose_layout, joint_permutation, resolve_layout
from ssl_skel.data.prepare import ClipError, Preprocess, clean_clip, select_persons, to_ctvm
from ssl_skel.data.storage import DataFormatError

log = logging.getLogger(__name__)

CACHE_DIR = ".arrays_cache"
MAX_PERSONS_UNASKED = 10  # more persons in a clip (every clip gets that many slots) only with max_persons
CACHE_VERSION = 1


@dataclass(frozen=True)
class ArraysOptions:
    """What `convert_arrays` is told besides its input and output (each field is also a `gendata arrays` flag)."""

    table: Path | None = option(None, "CSV: one row per clip (clip, label, split or group columns)")
    clip_column: str | None = option(None, "table column with the clip name (default: clip, name or file)")
    label_column: str = option("label")
    classes: str | Sequence[str] | None = option(
        None,
        "class names, comma-separated or a file (one per line); "
        "labels outside it are bad clips (default: the sorted labels, or integer labels as they are)",
    )
    split_column: str | None = option("split", "per-clip train/test/val column (default: split)", group="split")
    train_on: str | tuple[str, tuple[str, ...]] | None = option(
        None, "COLUMN=V1,V2,...: train on these groups, test on the rest", group="split"
    )
    folds: str | None = option(None, "one benchmark per value: fold<k> tests on it", group="split", metavar="COLUMN")
    benchmark: str = option("default", "benchmark name (not with --folds; default: default)")
    layout: str | Path | Layout | None = layout_option()
    joint_order: str | Sequence | None = joint_order_option()
    centre: str = centre_option("first", required=True)  # an explicit choice on the command line
    align_view: bool = align_view_option()
    scale: str = scale_option()
    score: bool = score_option()
    missing: str = missing_option()
    zero_missing: bool = zero_missing_option()
    channels: int | None = option(
        None,
        "channels per joint (required for .csv/.json when not the layout's dims (+1 with --score))",
        minimum=1,
    )
    max_persons: int | None = option(
        None, f"keep at most this many persons per clip (needed above {MAX_PERSONS_UNASKED})", minimum=1
    )
    min_frames: int = option(2, "a clip with fewer frames is bad (default 2: one pose is no action)", minimum=1)
    max_frames: int = option(
        10_000, "a clip with more frames is bad (default 10000: every clip is padded to the longest)", minimum=1
    )
    workers: int = workers_option()
    skip_bad: bool = skip_bad_option("convert the good clips even if some are bad")
    progress: bool = progress_option()
    # from a reader on top of this one (penn_action, sbu): not on the command line
    known_bad: Mapping[str, str] = field(default_factory=dict)  # clips it could not read: name -> reason
    source_info: Mapping[str, Any] = field(default_factory=dict)  # added to the manifest's `source`

    def preprocess(self) -> Preprocess:
        return Preprocess(self.centre, self.align_view, self.scale, self.score, self.missing, self.zero_missing)

    def split_rule(self) -> SplitRule:
        train_on = parse_train_on(self.train_on) if isinstance(self.train_on, str) else self.train_on
        return SplitRule(self.split_column, train_on, self.folds, self.benchmark)


@dataclass
class ArraysReport:
    out: Path
    num_samples: int
    layout: str
    shape: tuple[int, ...]
    splits: dict[str, dict[str, int]]
    bad: dict[str, str] = field(default_factory=dict)
    filled: int = 0
    absent_frames: int = 0
    from_cache: int = 0
    seconds: float = 0.0


# --------------------------------------------------------------------------- one job
@dataclass(frozen=True)
class _Job:
    name: str
    source: str  # a clip file, or the array file
    index: int  # row in the array file; -1 for clip files
    cache: str  # cache file for the prepared clip
    layout: dict
    options: Preprocess
    perm: tuple[int, ...] | None
    channels: int | None
    csv_channels: int


@dataclass(frozen=True)
class _Result:
    name: str
    shape: tuple[int, ...] = ()  # prepared (M, T, V, C)
    filled: int = 0
    absent_frames: int = 0
    error: str | None = None
    cached: bool = False


def _cache_key(job: _Job) -> str:
    """What the prepared clip depends on: the source file (size, mtime), its row, and every option."""
    src = Path(job.source)
    stats = [p.stat() for p in sorted(src.glob("*.json"))] if src.is_dir() else [src.stat()]  # OpenPose folders
    meta = [
        CACHE_VERSION,
        str(src.resolve()),
        sum(st.st_size for st in stats),
        max((st.st_mtime_ns for st in stats), default=0),
        job.index,
        job.layout,
        job.options.to_dict(),
        job.perm,
        job.channels,
        job.csv_channels,
    ]
    return hashlib.sha1(json.dumps(meta, sort_keys=True).encode()).hexdigest()


def _process(job: _Job) -> _Result:
    """Read, check, fill and normalise one clip; the prepared clip goes to the cache."""
    where = job.source if job.index < 0 else f"{job.source}[{job.index}]"
    try:
        key = _cache_key(job)
        cache = Path(job.cache)
        if cache.exists():
            with np.load(cache, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    return _Result(job.name, tuple(z["clip"].shape), int(z["filled"]), int(z["absent"]), cached=True)
        layout = Layout.from_dict(job.layout)
        if job.index < 0:
            raw = read_clip_file(Path(job.source), layout.num_joints, job.csv_channels)
        else:
            raw = trim_nan_padding(np.asarray(open_array(job.source)[job.index]))
        raw = np.asarray(raw)
        if raw.ndim in (3, 4) and job.perm is not None:
            if raw.shape[-2] != len(job.perm):
                raise ClipError(f"shape {raw.shape}: {raw.shape[-2]} joints, --joint-order lists {len(job.perm)}")
            raw = raw[..., list(job.perm), :]
        clip, stats = clean_clip(raw, layout, job.options, job.channels)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, clip=clip, key=np.array(key), filled=stats.filled, absent=stats.absent_frames)
        tmp.replace(cache)
        return _Result(job.name, tuple(clip.shape), stats.filled, stats.absent_frames)
    except ClipError as exc:
        return _Result(job.name, error=f"{where}: {exc}")
    except (OSError, ValueError) as exc:
        return _Result(job.name, error=f"{where}: cannot read ({exc})")


# --------------------------------------------------------------------------- the converter
@dataclass
class _Plan:
    """What the table said and the checks found, before any clip is read."""

    raw: Path
    rows: list[dict[str, str]]
    sources: list[tuple[str, Path | None, int]]  # (clip name, file or array, row in the array or -1)
    where: str  # the table (or array) the rows come from, for messages
    classes: list[str] | None
    bad: dict[str, str]  # clip name -> reason
    total: int
    labels: dict[str, str] = field(default_factory=dict)
    parts: dict[str, dict[str, str]] = field(default_factory=dict)
    layout: Layout | None = None


@locks_output
def convert_arrays(
    raw: str | Path, out: str | Path, options: ArraysOptions | None = None, **overrides: Any
) -> ArraysReport:
    """Import the clips of `raw` (a folder of clip files, or one array file) into `out` (see the module docstring).

    `options` (default ArraysOptions()) with `overrides` replacing its fields by name, e.g.
    `convert_arrays("clips", "data/mine", table="clips.csv", centre="first", missing="fill")`.
    """
    started = time.perf_counter()
    out = check_out(out)  # before the cache goes in: never into a folder of the user's files
    opts = with_overrides(ArraysOptions, options, overrides)
    prep, rule = opts.preprocess(), opts.split_rule()
    plan = _read_table(Path(raw), opts)
    _check_rows(plan, opts.label_column, rule)
    candidates = [(n, s, i) for n, s, i in plan.sources if n not in plan.bad]
    if not candidates:
        report_bad(plan.bad, plan.total, opts.skip_bad, "clip")
        raise DataFormatError(f"{plan.where}: no usable clips")
    try:
        plan.layout = _choose(opts.layout, candidates, opts.channels, prep)
        perm = joint_permutation(opts.joint_order, plan.layout) if opts.joint_order is not None else None
    except LayoutError as exc:
        raise DataFormatError(str(exc)) from None
    cache_dir = out / CACHE_DIR
    cache_dir.mkdir(parents=True, exist_ok=True)
    csv_channels = opts.channels or (max(plan.layout.dims) + (1 if prep.score else 0))
    common = (plan.layout.to_dict(), prep, None if perm is None else tuple(int(p) for p in perm))
    jobs = [
        _Job(n, str(s), i, _cache_file(cache_dir, n), *common, opts.channels, csv_channels) for n, s, i in candidates
    ]
    results = {r.name: r for r in parallel_map(_process, jobs, opts.workers, "import clips", opts.progress)}
    plan.bad.update({n: r.error for n, r in results.items() if r.error})
    sources = {j.name: j.source for j in jobs}
    if opts.channels is None:
        _check_channels(plan.bad, results, sources)
    _check_frames(plan.bad, results, sources, opts)
    report_bad(plan.bad, plan.total, opts.skip_bad, "clip", f"; good clips are cached in {cache_dir}")
    good = [j for j in jobs if j.name not in plan.bad]
    if not good:
        raise DataFormatError(f"{plan.where}: none of the {plan.total} clips could be read")
    _check_persons([j.name for j in good], results, sources, opts)
    return _write(out, plan, good, results, opts, started)


def _cache_file(cache_dir: Path, name: str) -> str:
    return str(cache_dir / f"{hashlib.sha1(name.encode()).hexdigest()[:20]}.npz")


def _read_table(raw: Path, opts: ArraysOptions) -> _Plan:
    """The rows and each clip's source; DataFormatError for problems of the table itself."""
    table = Path(opts.table) if opts.table is not None else None
    if _is_folder(raw):
        if table is None:
            raise DataFormatError(f"{raw}: a folder of clips needs --table (clip name, label, split or groups)")
        rows, sources = _folder_sources(raw, table, opts.clip_column)
    else:
        rows, sources = _array_sources(raw, table, opts.clip_column)
    names = [name for name, _, _ in sources]
    if len(set(names)) != len(names):
        dup = next(n for n, c in Counter(names).items() if c > 1)
        raise DataFormatError(f"{table or raw}: clip {dup!r} is listed twice")
    bad = dict(opts.known_bad)
    return _Plan(raw, rows, sources, str(table or raw), read_classes(opts.classes), bad, len(sources) + len(bad))


def _is_folder(raw: Path) -> bool:
    """A folder of clips (or what is meant to be one: a missing path without an array file's suffix)."""
    return raw.is_dir() or (not raw.exists() and raw.suffix.lower() not in (".npy", ".npz"))


def _check_rows(plan: _Plan, label_column: str, rule: SplitRule) -> None:
    """Per-row checks first: a missing file, label or split makes the clip bad, named with the reason; then the
    columns the split rule needs must exist."""
    for (name, src, _), row in zip(plan.sources, plan.rows):
        try:
            if src is None:
                raise ClipError(f"no clip file {name}{{{','.join(CLIP_SUFFIXES)}}} in {plan.raw}")
            plan.labels[name] = label_of(row, label_column, plan.classes)
            plan.parts[name] = part_of(row, rule)
        except ClipError as exc:
            plan.bad[name] = f"{plan.where}: clip {name!r}: {exc}"
    first = plan.rows[0]
    if rule.train_on is not None and rule.train_on[0] not in first:
        raise DataFormatError(f"{plan.where}: no column {rule.train_on[0]!r} for --train-on")
    if rule.fold_column is not None and rule.fold_column not in first:
        raise DataFormatError(f"{plan.where}: no column {rule.fold_column!r} for --folds")
    if rule.fold_column is None and rule.train_on is None and rule.column not in first:
        raise DataFormatError(
            f"{plan.where}: no split column {rule.column!r}; name one with --split-column, "
            "or declare --train-on COLUMN=VALUES or --folds COLUMN"
        )


def _check_channels(bad: dict[str, str], results: dict[str, _Result], sources: dict[str, str]) -> None:
    """Clips must agree on C: those that differ from the most common count are bad."""
    shapes = [r.shape for r in results.values() if not r.error]
    if not shapes:
        return
    common_c = Counter(s[-1] for s in shapes).most_common(1)[0][0]
    for n, r in results.items():
        if not r.error and r.shape[-1] != common_c:
            bad[n] = f"{sources[n]}: {r.shape[-1]} channels, the other clips have {common_c}"


def _check_frames(
    bad: dict[str, str], results: dict[str, _Result], sources: dict[str, str], opts: ArraysOptions
) -> None:
    """Clips shorter than min_frames or longer than max_frames are bad, with the flag that accepts them."""
    for n, r in results.items():
        if r.error or n in bad:
            continue
        t = r.shape[1]
        if t < opts.min_frames:
            bad[n] = (
                f"{sources[n]}: {t} frame{'s' if t != 1 else ''}, fewer than --min-frames {opts.min_frames}; "
                f"pass --min-frames {t} to accept it"
            )
        elif t > opts.max_frames:
            bad[n] = (
                f"{sources[n]}: {t} frames, more than --max-frames {opts.max_frames} (every clip is padded to the "
                f"longest); pass --max-frames {t} to accept it, or cut it"
            )


def _check_persons(good: list[str], results: dict[str, _Result], sources: dict[str, str], opts: ArraysOptions) -> None:
    """More than MAX_PERSONS_UNASKED persons in a clip only with max_persons (each clip gets that many slots)."""
    crowded = max(good, key=lambda n: results[n].shape[0])
    m = results[crowded].shape[0]
    if opts.max_persons is None and m > MAX_PERSONS_UNASKED:
        raise DataFormatError(
            f"{sources[crowded]}: {m} persons in one clip, more than {MAX_PERSONS_UNASKED} (every clip would get "
            f"{m} person slots); pass --max-persons N to keep the N present in the most frames "
            f"(--max-persons {m} keeps them all)"
        )


def _array_sources(array: Path, table: Path | None, clip_column: str | None) -> tuple[list, list]:
    if not array.is_file():
        raise DataFormatError(f"{array}: array file not found")
    rows = read_table(table) if table is not None else columns_from_npz(array)
    if rows is None:
        raise DataFormatError(f"{array}: no labels: give --table (rows in array order) or store 'label' in the npz")
    n = len(open_array(str(array)))
    if len(rows) != n:
        raise DataFormatError(f"{table or array}: {len(rows)} table rows for {n} clips in {array}")
    column = clip_column or next((c for c in ("clip", "name", "names") if c in rows[0]), None)
    names = [rows[i][column] if column else f"{array.stem}_{i:06d}" for i in range(n)]
    return rows, [(names[i], array, i) for i in range(n)]


def _folder_sources(folder: Path, table: Path, clip_column: str | None) -> tuple[list, list]:
    rows = read_table(table)
    column = clip_column or next((c for c in ("clip", "name", "file") if c in rows[0]), None)
    if column is None or column not in rows[0]:
        raise DataFormatError(f"{table}: no clip column (expected 'clip', 'name' or 'file'; or pass --clip-column)")
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: folder of clips not found")
    sources = []
    for i, r in enumerate(rows):
        name = r[column]
        if not name:
            raise DataFormatError(f"{table}: row {i + 2} has no clip name")
        stem = Path(name).stem if Path(name).suffix.lower() in CLIP_SUFFIXES else name
        sources.append((stem, find_clip_file(folder, name), -1))
    return rows, sources


def _choose(layout, candidates, channels: int | None, prep: Preprocess) -> Layout:
    if layout is not None:
        return resolve_layout(layout)
    _, src, index = candidates[0]
    v, c = probe(Path(src), index)
    dims = (channels or c) - (1 if prep.score else 0)
    return choose_layout(v, f"{src}", dims=dims if dims in (2, 3) else None)


# --------------------------------------------------------------------------- writing
def _write(
    out: Path, plan: _Plan, good: list[_Job], results: dict[str, _Result], opts: ArraysOptions, started: float
) -> ArraysReport:
    """The good clips, in table order, into the staged array folder; then publish it and report."""
    order = {n: i for i, (n, _, _) in enumerate(plan.sources)}
    good = sorted(good, key=lambda j: order[j.name])
    shapes = [results[j.name].shape for j in good]
    m = max(s[0] for s in shapes)
    m = min(m, opts.max_persons) if opts.max_persons else m
    t_max, c, v = max(s[1] for s in shapes), shapes[0][-1], plan.layout.num_joints
    ids, class_names = label_ids([plan.labels[j.name] for j in good], plan.classes)
    splits = make_splits(
        [plan.rows[order[j.name]] for j in good], [plan.parts[j.name] for j in good], opts.split_rule()
    )
    writer = staged_writer(out, len(good), (c, t_max, v, m))
    for i, job in enumerate(good):
        with np.load(job.cache, allow_pickle=False) as z:
            clip = z["clip"]
        writer.data[i, :, : clip.shape[1]] = to_ctvm(select_persons(clip, m))
    filled = sum(results[j.name].filled for j in good)
    absent = sum(results[j.name].absent_frames for j in good)
    source = {
        "converter": "ssl_skel.data.formats.arrays",
        "input": plan.where,
        "bad_clips": dict(sorted(plan.bad.items())),
        "filled_joints": filled,
        "absent_person_frames": absent,
        **opts.source_info,
    }
    lengths, names = [s[1] for s in shapes], [j.name for j in good]
    prep = opts.preprocess().to_dict()
    writer.finish(ids, lengths, names, splits, plan.layout, class_names=class_names, source=source, preprocess=prep)
    publish(out)
    if filled or absent:
        log.info("%s: filled %d missing joint positions; %d person-frames had no valid joint (left absent)",
                 out, filled, absent)  # fmt: skip
    counts = {b: {p: len(idx) for p, idx in ps.items()} for b, ps in splits.items()}
    cached = sum(1 for j in good if results[j.name].cached)
    shape = (len(good), c, t_max, v, m)
    seconds = time.perf_counter() - started
    return ArraysReport(
        out, len(good), plan.layout.name, shape, counts, dict(plan.bad), filled, absent, cached, seconds
    )


__all__ = ["ArraysOptions", "ArraysReport", "SplitRule", "convert_arrays", "parse_train_on", "read_clip_file"]
