"""Reading a user's clips for the generic importer (`arrays`): one clip file, an OpenPose frame folder, or one
row of an array file.

Per-clip files: `.npy` / `.npz` (one array, (T, V, C) or (M, T, V, C)), `.csv` (one row per frame, values
person-major then joint then channel, an optional header and an optional leading frame column), `.json` (a
nested list, or {"keypoints": nested list}; null = missing), or a folder of OpenPose per-frame
`*_keypoints.json` files. An array file: `.npy` (N, [M,] T, V, C) or `.npz` with `data` (or `keypoints`/`x`);
frames that are NaN to the end of a clip are its padding. Unreadable clips raise ClipError (the caller names
the clip); unreadable array files DataFormatError.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path

import numpy as np

from ssl_skel.data.prepare import ClipError
from ssl_skel.data.storage import DataFormatError

CLIP_SUFFIXES = (".npy", ".npz", ".csv", ".json")
ARRAY_KEYS = ("data", "keypoints", "x")


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
def open_array(path: str) -> np.ndarray:
    """An array file's clips (N, ...): a `.npy` memory-mapped, an `.npz`'s data array loaded (kept for the next row)."""
    p = Path(path)
    if p.suffix.lower() == ".npz":
        with np.load(p, allow_pickle=False) as z:
            key = next((k for k in ARRAY_KEYS if k in z.files), None)
            if key is None:
                raise DataFormatError(f"{p}: no 'data' array (also looked for {', '.join(ARRAY_KEYS[1:])})")
            return z[key]
    return np.load(p, mmap_mode="r", allow_pickle=False)


def trim_nan_padding(a: np.ndarray) -> np.ndarray:
    """(M, T, V, C) or (T, V, C) from a padded array: drop trailing frames that are all NaN."""
    time_axis = 1 if a.ndim == 4 else 0
    other = tuple(i for i in range(a.ndim) if i != time_axis)
    empty = np.isnan(a).all(axis=other) if a.dtype.kind == "f" else np.zeros(a.shape[time_axis], bool)
    keep = len(empty) - int(np.argmax(~empty[::-1])) if (~empty).any() else 0
    return a[:, :keep] if time_axis == 1 else a[:keep]


def find_clip_file(folder: Path, name: str) -> Path | None:
    """The file (or OpenPose folder) of clip `name` in `folder`: the name as given, or with one of CLIP_SUFFIXES."""
    direct = folder / name
    if (direct.suffix.lower() in CLIP_SUFFIXES and direct.is_file()) or direct.is_dir():
        return direct  # a file, or a folder of OpenPose frames
    for suffix in CLIP_SUFFIXES:
        p = folder / f"{name}{suffix}"
        if p.is_file():
            return p
    return None


def probe(source: Path, index: int) -> tuple[int, int]:
    """(V, C) of the first usable clip, to choose the layout when --layout is not given."""
    if index < 0 and source.suffix.lower() == ".csv":
        raise DataFormatError(f"{source}: .csv clips need --layout (a row does not say how many joints it holds)")
    try:
        raw = np.asarray(open_array(str(source))[index]) if index >= 0 else np.asarray(read_clip_file(source, 0, 0))
    except ClipError as exc:
        raise DataFormatError(f"{source}: {exc}") from None
    if raw.ndim not in (3, 4):
        raise DataFormatError(f"{source}: shape {raw.shape} is neither (T, V, C) nor (M, T, V, C)")
    return int(raw.shape[-2]), int(raw.shape[-1])
