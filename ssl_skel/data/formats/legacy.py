"""Arrays prepared by other skeleton toolkits, read in place (no conversion) or imported.

Two layouts are recognised:

* UmURL / CMD / AimCLR / CrosSCLR folders (one folder per benchmark, e.g. `NTU60/xsub/`):
  `{train,val}_data_joint.npy` (N, C, T, V, M) float32, memory-mapped here;
  `{train,val}_num_frame.npy` (N,) valid frames (computed when absent);
  `{train,val}_label.pkl` a pickle of (names, labels).
* CTR-GCN `.npz` files (`NTU60_CS.npz`, ...): `x_train` / `x_test` (N, T, M*V*C) with each frame
  laid out as person, joint, channel; `y_train` / `y_test` one-hot (N, classes). A stored
  (uncompressed) member is memory-mapped straight from the zip; a compressed one is loaded.

`ssl_skel.data.sources.open_arrays` calls `detect` / `open_legacy` when a folder has no manifest. The layout
comes from V (25 ntu25, 20 kinect20, 17 coco17). The benchmark is read from the folder or file
name (xsub/xview/xset, CS/CV/CSub/CSet) when it names one, and a request for another benchmark
is an error rather than a silent mix-up. `convert_legacy` writes the native format (one command:
`ssl-skel gendata import PATH --out DIR`).
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssl_skel.data.formats.common import as_labels, iter_chunks, layout_for_joints, locks_output, publish, staged_writer
from ssl_skel.data.formats.options import joint_order_option, layout_option, option, trust_pickle_option, with_overrides
from ssl_skel.data.formats.pickles import load_pickle
from ssl_skel.data.layouts import Layout, choose_layout, joint_permutation
from ssl_skel.data.storage import PARTS, DataFormatError, SkeletonArrays, check_split

log = logging.getLogger(__name__)

FILE_PART = {"train": "train", "test": "val"}
BENCH_ALIASES = {
    "xsub": "xsub",
    "xview": "xview",
    "xset": "xset",
    "cs": "xsub",
    "cv": "xview",
    "csub": "xsub",
    "cset": "xset",
}


def _is_folder_layout(root: Path) -> bool:
    return root.is_dir() and any((root / f"{p}_data_joint.npy").exists() for p in FILE_PART.values())


def _is_npz(root: Path) -> bool:
    return root.is_file() and root.suffix == ".npz"


def detect(root: Path) -> bool:
    """True when `root` is a UmURL-style folder or a CTR-GCN `.npz` file."""
    root = Path(root)
    return _is_folder_layout(root) or _is_npz(root)


def benchmark_of(root: Path) -> str | None:
    """Benchmark named by a folder (`.../xsub`) or npz file (`NTU60_CS.npz`), else None."""
    root = Path(root)
    token = root.stem.lower().rsplit("_", 1)[-1] if _is_npz(root) else root.name.lower()
    return BENCH_ALIASES.get(token)


def _check_benchmark(root: Path, benchmark: str) -> None:
    named = benchmark_of(root)
    if named is not None and named != benchmark:
        raise DataFormatError(
            f"{root}: holds the {named!r} benchmark, not {benchmark!r}; point the config at the {benchmark} data"
        )


def valid_frames(data: np.ndarray, chunk: int = 256) -> np.ndarray:
    """(N,) number of frames up to the last non-zero one. data: (N, C, T, V, M), read in chunks."""
    out = np.zeros(len(data), dtype=np.int64)
    for sl in iter_chunks(len(data), chunk):
        nonzero = np.asarray(data[sl]).any(axis=(1, 3, 4))  # (n, T)
        last = nonzero.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
        out[sl] = np.where(nonzero.any(axis=1), last, 0)
    return out


def _read_labels(path: Path, trust_pickle: bool | None = None) -> tuple[list[str], np.ndarray]:
    obj = load_pickle(path, trust=trust_pickle)
    try:
        names, labels = obj
        labels = as_labels(labels, str(path))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(f"{path}: expected a pickle of (names, labels)") from None
    if len(names) != len(labels):
        raise DataFormatError(f"{path}: {len(names)} names but {len(labels)} labels")
    return [str(n) for n in names], labels


def _open_folder_part(
    root: Path, part: str, trust_pickle: bool | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    prefix = FILE_PART[part]
    data_path = root / f"{prefix}_data_joint.npy"
    if not data_path.exists():
        raise DataFormatError(f"{root}: no {data_path.name} (the {part} part of a UmURL/AimCLR-style folder)")
    try:
        data = np.load(data_path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{data_path}: cannot read ({exc})") from None
    if data.ndim != 5:
        raise DataFormatError(f"{data_path}: shape {data.shape}, expected (N, C, T, V, M)")
    names, labels = _read_labels(root / f"{prefix}_label.pkl", trust_pickle)
    if len(labels) != len(data):
        raise DataFormatError(
            f"{root}: {data_path.name} has {len(data)} samples but {prefix}_label.pkl has {len(labels)}"
        )
    frames_path = root / f"{prefix}_num_frame.npy"
    if frames_path.exists():
        num_frames = np.load(frames_path).astype(np.int64).reshape(-1)
        if len(num_frames) != len(data):
            raise DataFormatError(f"{frames_path}: {len(num_frames)} entries for {len(data)} samples")
    else:
        log.warning("%s: no %s; counting valid frames from the data", root, frames_path.name)
        num_frames = valid_frames(data)
    return data, labels, num_frames, names


def npz_member(path: Path, key: str) -> np.ndarray:
    """Array `key` of an `.npz`, memory-mapped when stored uncompressed, else loaded."""
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(f"{key}.npy")
            if info.compress_type == zipfile.ZIP_STORED:
                with open(path, "rb") as fh:
                    fh.seek(info.header_offset)
                    local = fh.read(30)
                    name_len = int.from_bytes(local[26:28], "little")
                    extra_len = int.from_bytes(local[28:30], "little")
                    fh.seek(info.header_offset + 30 + name_len + extra_len)
                    version = np.lib.format.read_magic(fh)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, fortran, dtype = read_header(fh)
                    offset = fh.tell()
                if not dtype.hasobject:
                    return np.memmap(
                        path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
                    )
        log.warning("%s: %s is compressed; loading it into memory", path, key)
        with np.load(path) as z:
            return z[key]
    except KeyError:
        raise DataFormatError(
            f"{path}: no array {key!r} (expected CTR-GCN's x_train, y_train, x_test, y_test)"
        ) from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path}: cannot read ({exc})") from None


def _open_npz_part(path: Path, part: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], int]:
    x, y = npz_member(path, f"x_{part}"), npz_member(path, f"y_{part}")
    if x.ndim != 3 or x.shape[2] % 3:
        raise DataFormatError(f"{path}: x_{part} has shape {x.shape}, expected (N, T, M*V*3)")
    if y.ndim != 2 or len(y) != len(x):
        raise DataFormatError(f"{path}: y_{part} has shape {y.shape}, expected one-hot ({len(x)}, classes)")
    persons = 2 if x.shape[2] % 2 == 0 and x.shape[2] // 6 in (25, 20, 17) else 1
    v = x.shape[2] // (3 * persons)
    layout_for_joints(v, f"{path}: ", dims=3)
    n, t = x.shape[:2]
    data = x.reshape(n, t, persons, v, 3).transpose(0, 4, 1, 3, 2)  # (N, C, T, V, M), a view of the memmap
    labels = np.asarray(y).argmax(axis=1).astype(np.int64)
    names = [f"{path.stem}_{part}_{i:06d}" for i in range(n)]
    return data, labels, valid_frames(data), names, int(y.shape[1])


def open_legacy(root: str | Path, benchmark: str, part: str, trust_pickle: bool | None = None) -> SkeletonArrays:
    """Open one split of a legacy layout in place; data stays memory-mapped.

    trust_pickle: unpickle the label files without the plain-data restriction (None: `pickles.trust_pickles()`).
    """
    root = Path(root)
    if part not in PARTS:
        raise DataFormatError(f"{root}: split part {part!r} must be one of {PARTS}")
    _check_benchmark(root, benchmark)
    if _is_npz(root):
        data, labels, num_frames, names, num_classes = _open_npz_part(root, part)
    elif _is_folder_layout(root):
        data, labels, num_frames, names = _open_folder_part(root, part, trust_pickle)
        num_classes = int(labels.max(initial=-1)) + 1
        other = root / f"{FILE_PART['train' if part == 'test' else 'test']}_label.pkl"
        if other.exists():
            num_classes = max(num_classes, int(_read_labels(other, trust_pickle)[1].max(initial=-1)) + 1)
    else:
        raise DataFormatError(f"{root}: neither a UmURL/AimCLR-style folder nor a CTR-GCN .npz")
    arrays = SkeletonArrays(
        data=data,
        labels=labels,
        num_frames=num_frames,
        names=names,
        indices=np.arange(len(data), dtype=np.int64),
        layout=layout_for_joints(data.shape[3], f"{root}: ", dims=int(data.shape[1])),
        num_classes=num_classes,
        class_names=None,
        root=root,
    )
    return check_split(arrays, benchmark, part)


@dataclass(frozen=True)
class LegacyOptions:
    """What `convert_legacy` is told besides its input and output (all but `chunk` are `gendata import` flags)."""

    benchmark: str | None = option(None, "benchmark name when the path does not say it (e.g. xsub)")
    layout: str | Path | Layout | None = layout_option()  # overrides the joint-count guess
    joint_order: str | list | None = joint_order_option()  # maps the arrays' joint order onto the layout
    trust_pickle: bool | None = trust_pickle_option()  # None: pickles.trust_pickles()
    chunk: int = 256  # samples copied at a time


@locks_output
def convert_legacy(path: str | Path, out: str | Path, options: LegacyOptions | None = None, **overrides: Any) -> Path:
    """Write a legacy layout (both parts) as a native dataset folder with one benchmark split.

    `options` (default LegacyOptions()) with `overrides` replacing its fields by name.
    """
    opts = with_overrides(LegacyOptions, options, overrides)
    path, out = Path(path), Path(out)
    if not detect(path):
        raise DataFormatError(
            f"{path}: neither a UmURL/AimCLR-style folder ({{train,val}}_data_joint.npy) nor a CTR-GCN .npz"
        )
    bench = opts.benchmark or benchmark_of(path)
    if bench is None:
        raise DataFormatError(f"{path}: the name does not say which benchmark this is; pass --benchmark (e.g. xsub)")
    parts = {p: open_legacy(path, bench, p, opts.trust_pickle) for p in PARTS}
    shapes = {p: a.data.shape[1:] for p, a in parts.items()}
    c, _, v, m = shapes["train"]
    if any(s[0] != c or s[2] != v or s[3] != m for s in shapes.values()):
        raise DataFormatError(f"{path}: train and test shapes differ ({shapes['train']} vs {shapes['test']})")
    t_max = max(s[1] for s in shapes.values())
    try:
        chosen = choose_layout(v, str(path), opts.layout if opts.layout is not None else parts["train"].layout)
        perm = joint_permutation(opts.joint_order, chosen) if opts.joint_order is not None else slice(None)
    except ValueError as exc:
        raise DataFormatError(str(exc)) from None
    n_train, n = len(parts["train"]), sum(len(a) for a in parts.values())
    writer = staged_writer(out, n, (c, t_max, v, m))
    row = 0
    for arrays in parts.values():
        for sl in iter_chunks(len(arrays), opts.chunk):
            block = np.asarray(arrays.data[sl], dtype=np.float32)[:, :, :, perm]
            writer.data[row + sl.start : row + sl.stop, :, : block.shape[2]] = block
        row += len(arrays)
    labels = np.concatenate([a.labels for a in parts.values()])
    num_frames = np.concatenate([a.num_frames for a in parts.values()])
    names = [name for a in parts.values() for name in a.names]
    splits = {bench: {"train": list(range(n_train)), "test": list(range(n_train, n))}}
    num_classes = max(a.num_classes for a in parts.values())
    writer.finish(
        labels,
        num_frames,
        names,
        splits,
        chosen,
        class_names=None,
        source={"converter": "ssl_skel.data.formats.legacy", "path": str(path.resolve()), "num_classes": num_classes},
    )
    publish(out)
    return out
