"""Generic importer: a user's own skeleton clips -> the on-disk array format (`ssl-skel gendata arrays`).

Inputs, (a) a folder of per-clip files plus a CSV table, or (b) one array file:

- per-clip files: `.npy` / `.npz` (one array, (T, V, C) or (M, T, V, C)), `.csv` (one row per frame,
  values person-major then joint then channel, an optional header and an optional leading frame
  column), `.json` (a nested list, or {"keypoints": nested list}; null = missing), or a folder of
  OpenPose per-frame `*_keypoints.json` files (x, y, confidence; use `score` and `zero_missing`);
- the table: one row per clip with a clip column (file name, with or without extension), a label
  column and either a split column (train/test/val) or group columns (subject, view, fold, ...);
- one array: `.npy` (N, [M,] T, V, C) with the table's rows in array order, or `.npz` with `data`
  (or `keypoints`/`x`) and 1-D arrays of length N as columns (`label`/`labels`, `split`, `subject`,
  ...); frames that are NaN to the end of a clip are its padding.

Splits (benchmark `--benchmark`, default "default"): per clip from a column; "train on subjects
...": `train_on=("subject", ("1", "2"))`, the rest is test; or folds: one benchmark per value of a
fold column (fold1, ...) testing on that fold. The layout comes from `--layout` (a name or a file)
or, when only one built-in layout fits the joint count, is assumed and logged; `joint_order` maps
the files' joint order onto the layout. Normalisation: `ssl_skel.data.prepare` (recorded in the
manifest, so checkpoints replay it on raw clips).

Guarantees as the NTU converter: parallel with a progress bar, resumable (each prepared clip is
cached in `<out>/.arrays_cache`, keyed by the source file and the options), every bad clip named
with its reason, a DataFormatError unless `skip_bad`, and staged output (nothing half-written).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssl_skel.data.formats.common import check_out, parallel_map, publish, report_bad, staged_writer
from ssl_skel.data.layouts import Layout, LayoutError, choose_layout, joint_permutation, resolve_layout
from ssl_skel.data.prepare import ClipError, clean_clip, preprocess_options, select_persons, to_ctvm
from ssl_skel.data.storage import DataFormatError

log = logging.getLogger(__name__)

CLIP_SUFFIXES = (".npy", ".npz", ".csv", ".json")
CACHE_DIR = ".arrays_cache"
CACHE_VERSION = 1
PART_NAMES = {"train": "train", "test": "test", "val": "test"}
ARRAY_KEYS = ("data", "keypoints", "x")


@dataclass(frozen=True)
class SplitRule:
    """How clips become benchmark splits: a split column, a train-on rule, or folds."""

    column: str | None = "split"  # values train / test / val
    train_on: tuple[str, tuple[str, ...]] | None = None  # (group column, values trained on)
    fold_column: str | None = None  # one benchmark per fold value
    benchmark: str = "default"


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


def parse_train_on(text: str) -> tuple[str, tuple[str, ...]]:
    """'subject=1,2,4' -> ('subject', ('1', '2', '4'))."""
    column, sep, values = text.partition("=")
    if not sep or not column.strip() or not values.strip():
        raise DataFormatError(f"--train-on {text!r}: expected COLUMN=VALUE,VALUE,... (e.g. subject=1,2,4)")
    return column.strip(), tuple(v.strip() for v in values.split(",") if v.strip())


# --------------------------------------------------------------------------- reading one clip
def _read_csv_clip(path: Path, v: int, c: int) -> np.ndarray:
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and any(x.strip() for x in r)]
    if rows and not _numeric(rows[0][0]):
        rows = rows[1:]  # a header
    if not rows:
        raise ClipError("no frames")
    width = {len(r) for r in rows}
    if len(width) != 1:
        raise ClipError(f"rows have different numbers of values {sorted(width)}")
    (n,) = width
    if n % (v * c) == 1:
        rows = [r[1:] for r in rows]  # a leading frame-number column
        n -= 1
    if n == 0 or n % (v * c):
        raise ClipError(f"{n} values per row is not a multiple of {v} joints x {c} channels")
    try:
        a = np.array([[float(x) if x.strip() else np.nan for x in r] for r in rows], dtype=np.float64)
    except ValueError as exc:
        raise ClipError(f"non-numeric value ({exc})") from None
    return a.reshape(len(rows), n // (v * c), v, c).transpose(1, 0, 2, 3)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text.strip() == ""
    return True


def _read_json_clip(path: Path) -> np.ndarray:
    try:
        obj = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ClipError(f"not readable JSON ({exc})") from None
    if isinstance(obj, dict):
        key = next((k for k in ("keypoints", *ARRAY_KEYS) if k in obj), None)
        if key is None:
            raise ClipError("JSON object without a 'keypoints' entry")
        obj = obj[key]
    try:
        return np.array(obj, dtype=np.float64)  # null -> nan
    except (TypeError, ValueError) as exc:
        raise ClipError(f"keypoints are not a regular nested list of numbers ({exc})") from None


def read_openpose_folder(path: Path) -> np.ndarray:
    """A folder of OpenPose per-frame JSON files (`*_keypoints.json`, sorted by name) -> (M, T, V, 3).

    Each frame's `people[k]["pose_keypoints_2d"]` is x0, y0, c0, x1, ...; people are ordered by mean
    confidence in each frame (OpenPose does not track them; ST-GCN's Kinetics reader does the same),
    a person missing from a frame is absent there (zeros), and undetected joints stay 0, 0, 0 (pass
    --zero-missing to treat them as missing).
    """
    frames = sorted(path.glob("*.json"))
    if not frames:
        raise ClipError("folder holds no OpenPose .json frames")
    people: list[list[np.ndarray]] = []
    for f in frames:
        try:
            obj = json.loads(f.read_text())
            flat = [np.asarray(p["pose_keypoints_2d"], dtype=np.float64) for p in obj.get("people", [])]
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ClipError(f"{f.name}: not an OpenPose keypoints file ({exc})") from None
        if any(k.size % 3 or k.size != flat[0].size for k in flat):
            raise ClipError(f"{f.name}: pose_keypoints_2d lengths {[k.size for k in flat]} are not one multiple of 3")
        people.append(sorted((k.reshape(-1, 3) for k in flat), key=lambda k: -float(k[:, 2].mean())))
    sizes = {k.shape[0] for ps in people for k in ps}
    if len(sizes) > 1:
        raise ClipError(f"frames hold different joint counts {sorted(sizes)}")
    if not sizes:
        raise ClipError("no person in any frame")
    (v,) = sizes
    out = np.zeros((max(len(ps) for ps in people), len(frames), v, 3))
    for t, ps in enumerate(people):
        for m, k in enumerate(ps):
            out[m, t] = k
    return out


def read_clip_file(path: Path, v: int, c: int) -> np.ndarray:
    """A per-clip file (or OpenPose frame folder) -> its raw array ((T, V, C) or (M, T, V, C))."""
    if path.is_dir():
        return read_openpose_folder(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = [k for k in ARRAY_KEYS if k in z.files] or list(z.files)
                if len(keys) != 1 and not any(k in z.files for k in ARRAY_KEYS):
                    raise ClipError(f"npz holds {len(z.files)} arrays ({', '.join(z.files)}); name the clip 'data'")
                return z[keys[0]]
    except (OSError, ValueError, EOFError) as exc:
        raise ClipError(f"not a readable numpy file ({exc})") from None
    if suffix == ".csv":
        return _read_csv_clip(path, v, c)
    if suffix == ".json":
        return _read_json_clip(path)
    raise ClipError(f"unknown file type {suffix!r} (expected one of {', '.join(CLIP_SUFFIXES)})")


@functools.lru_cache(maxsize=2)
def _open_array(path: str) -> np.ndarray:
    p = Path(path)
    if p.suffix.lower() == ".npz":
        with np.load(p, allow_pickle=False) as z:
            key = next((k for k in ARRAY_KEYS if k in z.files), None)
            if key is None:
                raise DataFormatError(f"{p}: no 'data' array (also looked for {', '.join(ARRAY_KEYS[1:])})")
            return z[key]
    return np.load(p, mmap_mode="r", allow_pickle=False)


def _trim_nan_padding(a: np.ndarray) -> np.ndarray:
    """(M, T, V, C) or (T, V, C) from a padded array: drop trailing frames that are all NaN."""
    time_axis = 1 if a.ndim == 4 else 0
    other = tuple(i for i in range(a.ndim) if i != time_axis)
    empty = np.isnan(a).all(axis=other) if a.dtype.kind == "f" else np.zeros(a.shape[time_axis], bool)
    keep = len(empty) - int(np.argmax(~empty[::-1])) if (~empty).any() else 0
    return a[:, :keep] if time_axis == 1 else a[:keep]


# --------------------------------------------------------------------------- one job
@dataclass(frozen=True)
class _Job:
    name: str
    source: str  # a clip file, or the array file
    index: int  # row in the array file; -1 for clip files
    cache: str  # cache file for the prepared clip
    layout: dict
    options: dict
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
    src = Path(job.source)
    stats = [p.stat() for p in sorted(src.glob("*.json"))] if src.is_dir() else [src.stat()]  # OpenPose folders
    meta = [
        CACHE_VERSION,
        str(src.resolve()),
        sum(st.st_size for st in stats),
        max((st.st_mtime_ns for st in stats), default=0),
        job.index,
        job.layout,
        job.options,
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
            raw = _trim_nan_padding(np.asarray(_open_array(job.source)[job.index]))
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


# --------------------------------------------------------------------------- table, labels, splits
def read_table(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read the table ({exc.strerror or exc})") from None
    if not rows:
        raise DataFormatError(f"{path}: the table has no rows")
    return [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in rows]


def _columns_from_npz(path: Path) -> list[dict[str, str]] | None:
    if path.suffix.lower() != ".npz":
        return None
    with np.load(path, allow_pickle=False) as z:
        key = next((k for k in ARRAY_KEYS if k in z.files), None)
        n = len(z[key]) if key else 0
        cols = {k: z[k] for k in z.files if k != key and z[k].ndim == 1 and len(z[k]) == n}
    if not cols:
        return None
    if "labels" in cols and "label" not in cols:
        cols["label"] = cols.pop("labels")
    return [{k: str(v[i]) for k, v in cols.items()} for i in range(n)]


def _label_of(row: dict[str, str], column: str, classes: list[str] | None) -> str:
    if column not in row or row[column] == "":
        raise ClipError(f"no label (column {column!r} is empty)")
    label = row[column]
    if classes is not None and label not in classes:
        raise ClipError(f"unknown label {label!r} (classes: {', '.join(classes)})")
    return label


def _part_of(row: dict[str, str], rule: SplitRule) -> dict[str, str]:
    """{benchmark: part} for one row, or {} for folds (computed over all rows)."""
    if rule.fold_column is not None:
        if not row.get(rule.fold_column):
            raise ClipError(f"missing split (fold column {rule.fold_column!r} is empty)")
        return {}
    if rule.train_on is not None:
        column, values = rule.train_on
        if not row.get(column):
            raise ClipError(f"missing split (group column {column!r} is empty)")
        return {rule.benchmark: "train" if row[column] in values else "test"}
    value = row.get(rule.column or "", "").lower()
    if not value:
        raise ClipError(f"missing split (column {rule.column!r} is empty)")
    if value not in PART_NAMES:
        raise ClipError(f"split {value!r} is not train, test or val")
    return {rule.benchmark: PART_NAMES[value]}


def _fold_name(value: str) -> str:
    return f"fold{value}" if value.isdigit() else value


def _splits(rows: list[dict[str, str]], parts: list[dict[str, str]], rule: SplitRule) -> dict:
    out: dict[str, dict[str, list[int]]] = {}
    if rule.fold_column is not None:
        values = [r[rule.fold_column] for r in rows]
        for f in sorted(set(values), key=lambda f: (not f.isdigit(), int(f) if f.isdigit() else 0, f)):
            out[_fold_name(f)] = {
                "train": [i for i, x in enumerate(values) if x != f],
                "test": [i for i, x in enumerate(values) if x == f],
            }
        return out
    for i, p in enumerate(parts):
        for bench, part in p.items():
            out.setdefault(bench, {"train": [], "test": []})[part].append(i)
    return out


def _label_ids(labels: list[str], classes: list[str] | None) -> tuple[list[int], list[str] | None]:
    if classes is not None:
        return [classes.index(x) for x in labels], list(classes)
    if all(x.lstrip("-").isdigit() for x in labels):
        ids = [int(x) for x in labels]
        if min(ids) < 0:
            raise DataFormatError(f"label {min(ids)} is negative (integer labels are 0-based class indices)")
        return ids, None
    names = sorted(set(labels))
    return [names.index(x) for x in labels], names


def read_classes(spec: str | Sequence[str] | None) -> list[str] | None:
    """--classes: comma-separated names, or a file with one name per line."""
    if spec is None:
        return None
    if not isinstance(spec, str):
        return [str(s) for s in spec]
    if Path(spec).is_file():
        return [line.strip() for line in Path(spec).read_text().splitlines() if line.strip()]
    return [s.strip() for s in spec.split(",") if s.strip()]


# --------------------------------------------------------------------------- the converter
def _find_clip_file(folder: Path, name: str) -> Path | None:
    direct = folder / name
    if (direct.suffix.lower() in CLIP_SUFFIXES and direct.is_file()) or direct.is_dir():
        return direct  # a file, or a folder of OpenPose frames
    for suffix in CLIP_SUFFIXES:
        p = folder / f"{name}{suffix}"
        if p.is_file():
            return p
    return None


def _probe(source: Path, index: int) -> tuple[int, int]:
    """(V, C) of the first usable clip, to choose the layout when --layout is not given."""
    if index < 0 and source.suffix.lower() == ".csv":
        raise DataFormatError(f"{source}: .csv clips need --layout (a row does not say how many joints it holds)")
    try:
        raw = np.asarray(_open_array(str(source))[index]) if index >= 0 else np.asarray(read_clip_file(source, 0, 0))
    except ClipError as exc:
        raise DataFormatError(f"{source}: {exc}") from None
    if raw.ndim not in (3, 4):
        raise DataFormatError(f"{source}: shape {raw.shape} is neither (T, V, C) nor (M, T, V, C)")
    return int(raw.shape[-2]), int(raw.shape[-1])


def convert_arrays(
    out: str | Path,
    *,
    folder: str | Path | None = None,
    table: str | Path | None = None,
    array: str | Path | None = None,
    layout: str | Path | Layout | None = None,
    joint_order: str | Sequence | None = None,
    clip_column: str | None = None,
    label_column: str = "label",
    classes: str | Sequence[str] | None = None,
    split: SplitRule = SplitRule(),
    options: dict | None = None,
    channels: int | None = None,
    max_persons: int | None = None,
    workers: int = 1,
    skip_bad: bool = False,
    progress: bool = True,
    source_info: dict | None = None,
    known_bad: dict[str, str] | None = None,
) -> ArraysReport:
    """Import clips into `out` (see the module docstring); returns what was written.

    `known_bad`: clips a format reader on top of this one could not read (name -> reason), reported with the rest.
    """
    started = time.perf_counter()
    out = check_out(out)  # before the cache goes in: never into a folder of the user's files
    opts = preprocess_options(options)
    if (folder is None) == (array is None):
        raise DataFormatError("give either a folder of clip files (with a table) or one array file")
    if folder is not None and table is None:
        raise DataFormatError(f"{folder}: a folder of clips needs --table (clip name, label, split or groups)")
    rows, sources = _rows_and_sources(
        Path(folder) if folder else None, Path(table) if table else None, Path(array) if array else None, clip_column
    )
    class_list = read_classes(classes)
    names = [name for name, _, _ in sources]
    if len(set(names)) != len(names):
        dup = next(n for n, c in Counter(names).items() if c > 1)
        raise DataFormatError(f"{table or array}: clip {dup!r} is listed twice")
    bad: dict[str, str] = dict(known_bad or {})
    total = len(sources) + len(bad)
    where_table = str(table or array)
    # per-row checks first: a missing file, label or split is a bad clip, named with the reason
    labels: dict[str, str] = {}
    parts: dict[str, dict[str, str]] = {}
    for (name, src, _), row in zip(sources, rows):
        try:
            if src is None:
                raise ClipError(f"no clip file {name}{{{','.join(CLIP_SUFFIXES)}}} in {folder}")
            labels[name] = _label_of(row, label_column, class_list)
            parts[name] = _part_of(row, split)
        except ClipError as exc:
            bad[name] = f"{where_table}: clip {name!r}: {exc}"
    if split.train_on is not None and split.train_on[0] not in rows[0]:
        raise DataFormatError(f"{where_table}: no column {split.train_on[0]!r} for --train-on")
    if split.fold_column is not None and split.fold_column not in rows[0]:
        raise DataFormatError(f"{where_table}: no column {split.fold_column!r} for --folds")
    if split.fold_column is None and split.train_on is None and split.column not in rows[0]:
        raise DataFormatError(
            f"{where_table}: no split column {split.column!r}; name one with --split-column, "
            "or declare --train-on COLUMN=VALUES or --folds COLUMN"
        )
    candidates = [(n, s, i) for n, s, i in sources if n not in bad]
    if not candidates:
        report_bad(bad, total, skip_bad, "clip")
        raise DataFormatError(f"{where_table}: no usable clips")
    try:
        chosen = _choose(layout, candidates, channels, opts)
        perm = tuple(int(p) for p in joint_permutation(joint_order, chosen)) if joint_order is not None else None
    except LayoutError as exc:
        raise DataFormatError(str(exc)) from None
    csv_channels = channels or (max(chosen.dims) + (1 if opts["score"] else 0))
    cache_dir = out / CACHE_DIR
    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        _Job(
            n,
            str(s),
            i,
            str(cache_dir / f"{hashlib.sha1(n.encode()).hexdigest()[:20]}.npz"),
            chosen.to_dict(),
            opts,
            perm,
            channels,
            csv_channels,
        )
        for n, s, i in candidates
    ]
    results = {r.name: r for r in parallel_map(_process, jobs, workers, "import clips", progress)}
    bad.update({n: r.error for n, r in results.items() if r.error})
    good_shapes = [r.shape for r in results.values() if not r.error]
    if good_shapes and channels is None:  # clips must agree on C
        common_c = Counter(s[-1] for s in good_shapes).most_common(1)[0][0]
        src = {j.name: j.source for j in jobs}
        for n, r in results.items():
            if not r.error and r.shape[-1] != common_c:
                bad[n] = f"{src[n]}: {r.shape[-1]} channels, the other clips have {common_c}"
    report_bad(bad, total, skip_bad, "clip", f"; good clips are cached in {cache_dir}")
    good = [j for j in jobs if j.name not in bad]
    if not good:
        raise DataFormatError(f"{where_table}: none of the {total} clips could be read")
    return _write(
        out,
        good=good,
        results=results,
        rows=rows,
        sources=sources,
        labels=labels,
        parts=parts,
        class_list=class_list,
        layout=chosen,
        opts=opts,
        split=split,
        bad=bad,
        max_persons=max_persons,
        started=started,
        source_info=source_info,
        where=where_table,
    )


def _rows_and_sources(folder: Path | None, table: Path | None, array: Path | None, clip_column: str | None):
    if array is not None:
        if not array.is_file():
            raise DataFormatError(f"{array}: array file not found")
        rows = read_table(table) if table is not None else _columns_from_npz(array)
        if rows is None:
            raise DataFormatError(f"{array}: no labels: give --table (rows in array order) or store 'label' in the npz")
        n = len(_open_array(str(array)))
        if len(rows) != n:
            raise DataFormatError(f"{table or array}: {len(rows)} table rows for {n} clips in {array}")
        column = clip_column or next((c for c in ("clip", "name", "names") if c in rows[0]), None)
        names = [rows[i][column] if column else f"{array.stem}_{i:06d}" for i in range(n)]
        return rows, [(names[i], array, i) for i in range(n)]
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
        sources.append((stem, _find_clip_file(folder, name), -1))
    return rows, sources


def _choose(layout, candidates, channels, opts) -> Layout:
    if layout is not None:
        return resolve_layout(layout)
    _, src, index = candidates[0]
    v, c = _probe(Path(src), index)
    dims = (channels or c) - (1 if opts["score"] else 0)
    return choose_layout(v, f"{src}", dims=dims if dims in (2, 3) else None)


def _write(
    out: Path,
    *,
    good: list[_Job],
    results: dict,
    rows: list[dict],
    sources: list[tuple],
    labels: dict[str, str],
    parts: dict[str, dict[str, str]],
    class_list: list[str] | None,
    layout: Layout,
    opts: dict,
    split: SplitRule,
    bad: dict[str, str],
    max_persons: int | None,
    started: float,
    source_info: dict | None,
    where: str,
) -> ArraysReport:
    """The good clips, in table order, into the staged array folder; then publish it and report."""
    order = {n: i for i, (n, _, _) in enumerate(sources)}
    good = sorted(good, key=lambda j: order[j.name])
    shapes = [results[j.name].shape for j in good]
    m = max(s[0] for s in shapes)
    m = min(m, max_persons) if max_persons else m
    t_max = max(s[1] for s in shapes)
    c = shapes[0][-1]
    row_of = {n: rows[order[n]] for n in order}
    good_rows = [row_of[j.name] for j in good]
    ids, class_names = _label_ids([labels[j.name] for j in good], class_list)
    splits = _splits(good_rows, [parts[j.name] for j in good], split)
    writer = staged_writer(out, len(good), (c, t_max, layout.num_joints, m))
    for i, job in enumerate(good):
        with np.load(job.cache, allow_pickle=False) as z:
            clip = z["clip"]
        writer.data[i, :, : clip.shape[1]] = to_ctvm(select_persons(clip, m))
    filled = sum(results[j.name].filled for j in good)
    absent = sum(results[j.name].absent_frames for j in good)
    source = {
        "converter": "ssl_skel.data.formats.arrays",
        "input": where,
        "bad_clips": dict(sorted(bad.items())),
        "filled_joints": filled,
        "absent_person_frames": absent,
        **(source_info or {}),
    }
    writer.finish(
        ids,
        [s[1] for s in shapes],
        [j.name for j in good],
        splits,
        layout,
        class_names=class_names,
        source=source,
        preprocess=opts,
    )
    publish(out)
    if filled or absent:
        log.info(
            "%s: filled %d missing joint positions; %d person-frames had no valid joint (left absent)",
            out,
            filled,
            absent,
        )
    counts = {b: {p: len(idx) for p, idx in ps.items()} for b, ps in splits.items()}
    return ArraysReport(
        out,
        len(good),
        layout.name,
        (len(good), c, t_max, layout.num_joints, m),
        counts,
        dict(bad),
        filled,
        absent,
        sum(1 for j in good if results[j.name].cached),
        time.perf_counter() - started,
    )


__all__ = ["ArraysReport", "SplitRule", "convert_arrays", "parse_train_on", "read_clip_file"]
