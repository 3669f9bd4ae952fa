"""The on-disk array format that every converter writes and every dataset reads.

A dataset folder holds all samples once, plus index lists per benchmark split:

    manifest.json          format, version, layout, shape, classes, splits, source
    data.npy               (N, C, T_max, V, M) float32, memory-mappable
    labels.npy             (N,) int64, 0-based
    num_frames.npy         (N,) int64, valid frames per sample (the rest is zero padding)
    names.txt              one sample name per line
    splits/<bench>_<part>.npy   int64 sample indices; part is "train" or "test"

Why this shape: one copy of the data serves every benchmark (xsub, xview, ...), readers
memory-map it so memory does not grow with the dataset, and the manifest is written last,
so a folder with a manifest is complete and a half-finished conversion is never mistaken
for a finished one.

A conversion swaps a new dataset in by renames (`formats.output.publish`): the old manifest
moves to `.replaced` first, so a crash at any rename leaves a folder without a manifest and the
previous dataset in `.replaced`. A reader finding that puts the previous dataset back
(`restore_replaced`, under the conversion lock), or says a conversion is running.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssl_skel.core.io import FULL_ERRNOS, atomic_save_npy, atomic_write_bytes, disk_full
from ssl_skel.core.locks import FolderInUse, lock_file
from ssl_skel.data.layouts import Layout, get_layout, stored_layout

log = logging.getLogger(__name__)

FORMAT = "ssl_skel/skeleton-arrays"
VERSION = 1
PARTS = ("train", "test")
OUTPUT_FILES = ("data.npy", "labels.npy", "num_frames.npy", "names.txt")  # with splits/ and manifest.json
STAGING = ".staging"  # a conversion's new dataset before the swap
REPLACED = ".replaced"  # the previous dataset while a new one is swapped in
OWNED_MARK = ".written-by-ssl_skel"  # inside STAGING and REPLACED: the toolkit made the folder, it may remove it
CONVERSION_LOCK = ".ssl_skel.lock"  # held by the conversion writing a dataset folder (core.locks)


class DataFormatError(ValueError):
    """A dataset folder or file that cannot be read; the message names the path."""


class DataWriter:
    """Fill a dataset folder sample by sample without holding it in memory.

    `data.npy` is created as a temporary file and renamed into place by `finish`, which writes
    the manifest last. If the process dies, no manifest exists and readers refuse the folder.

    Two ways to fill it: `data`, a memory map (any order), or, with `sequential=True`, `append`
    (rows in order, written straight to the file and hashed as they go). The sequential way keeps
    memory flat however large the dataset (mapped pages count in a process's resident memory) and
    needs no second read for the manifest's digest; both write the same bytes.
    """

    def __init__(
        self,
        root: str | Path,
        num_samples: int,
        shape: Sequence[int],
        *,
        remove_on_error: bool = False,
        sequential: bool = False,
    ) -> None:
        self.root = Path(root)
        self.remove_on_error = remove_on_error  # a staging folder: nothing of it may outlive a failure
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "manifest.json").unlink(missing_ok=True)
        self.shape = (num_samples, *shape)
        self._tmp = self.root / ".data.npy.tmp"
        self._fh: Any = None
        self._hash: Any = None
        self.rows_written = 0
        with self._aborting_on_error(self._tmp):
            data = np.lib.format.open_memmap(self._tmp, mode="w+", dtype=np.float32, shape=self.shape)
            if sequential:
                header = data.offset
                del data  # only the header was written; the rows go through `append`
                self._fh = open(self._tmp, "r+b", buffering=0)
                self._hash = hashlib.sha256(b"data.npy\0" + os.pread(self._fh.fileno(), header, 0))
                self._fh.seek(header)
            else:
                self.data = data
            _allocate(self._tmp)

    def append(self, rows: np.ndarray) -> None:
        """Write the next rows, (k, *shape) float32, after those already written (sequential mode)."""
        if self._fh is None:
            raise ValueError(f"{self.root}: append needs DataWriter(..., sequential=True)")
        if rows.dtype != np.float32 or rows.shape[1:] != self.shape[1:] or not rows.flags.c_contiguous:
            raise ValueError(f"{self.root}: rows must be C-contiguous float32 (k, {self.shape[1:]}), got {rows.shape}")
        if self.rows_written + len(rows) > self.shape[0]:
            raise ValueError(f"{self.root}: more than {self.shape[0]} rows appended")
        view = memoryview(rows).cast("B")
        with self._aborting_on_error(self._tmp):
            while view:
                view = view[self._fh.write(view) :]
        self._hash.update(memoryview(rows).cast("B"))
        self.rows_written += len(rows)

    def abort(self) -> None:
        """Give up: remove the temporary file (and the folder when it is a staging folder)."""
        self._abort()

    @contextlib.contextmanager
    def _aborting_on_error(self, where: Path):
        """Any failure removes what was written; a full disk becomes a one-line error naming `where`."""
        try:
            yield
        except BaseException as exc:
            self._abort()
            full = disk_full(exc, where)
            if full is not None and full is not exc:
                raise full from None
            raise

    def _abort(self) -> None:
        self.__dict__.pop("data", None)
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._tmp.unlink(missing_ok=True)
        if self.remove_on_error:
            shutil.rmtree(self.root, ignore_errors=True)

    def finish(
        self,
        labels: Sequence[int],
        num_frames: Sequence[int],
        names: Sequence[str],
        splits: Mapping[str, Mapping[str, Sequence[int]]],
        layout: str | Layout,
        class_names: Sequence[str] | None = None,
        source: Mapping[str, Any] | None = None,
        preprocess: Mapping[str, Any] | None = None,
    ) -> Path:
        """Publish the folder: `layout` (a built-in name or a Layout) is stored in full in the manifest,
        `preprocess` (the converter's normalisation, see data.prepare) too, so checkpoints can carry them."""
        with self._aborting_on_error(self.root):
            return self._finish(labels, num_frames, names, splits, layout, class_names, source, preprocess)

    def _finish(self, labels, num_frames, names, splits, layout, class_names, source, preprocess) -> Path:
        layout = get_layout(layout) if isinstance(layout, str) else layout
        n = self.shape[0]
        if not (len(labels) == len(num_frames) == len(names) == n):
            raise ValueError(
                f"{self.root}: {n} samples but {len(labels)} labels, {len(num_frames)} lengths, {len(names)} names"
            )
        if self._fh is not None:
            if self.rows_written != n:
                raise ValueError(f"{self.root}: {n} samples but {self.rows_written} rows appended")
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        else:
            self.data.flush()
            with open(self._tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            del self.data
        os.replace(self._tmp, self.root / "data.npy")
        atomic_save_npy(self.root / "labels.npy", np.asarray(labels, dtype=np.int64))
        atomic_save_npy(self.root / "num_frames.npy", np.asarray(num_frames, dtype=np.int64))
        atomic_write_bytes(self.root / "names.txt", ("\n".join(names) + "\n").encode())
        split_counts: dict[str, dict[str, int]] = {}
        for bench, parts in splits.items():
            split_counts[bench] = {}
            for part, idx in parts.items():
                if part not in PARTS:
                    raise ValueError(f"split part {part!r} must be one of {PARTS}")
                atomic_save_npy(self.root / "splits" / f"{bench}_{part}.npy", np.asarray(idx, dtype=np.int64))
                split_counts[bench][part] = len(idx)
        labels_arr = np.asarray(labels)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "layout": layout.name,
            "layout_def": layout.to_dict(),
            "preprocess": dict(preprocess) if preprocess is not None else None,
            "shape": list(self.shape),
            "num_samples": n,
            "num_classes": int(len(class_names)) if class_names else int(labels_arr.max()) + 1 if n else 0,
            "class_names": list(class_names) if class_names else None,
            "splits": split_counts,
            "source": dict(source or {}),
            "content_sha256": content_digest(self.root, self._hash),
        }
        atomic_write_bytes(self.root / "manifest.json", json.dumps(manifest, indent=2).encode())
        return self.root


def _allocate(path: Path) -> None:
    """Reserve the memory map's blocks now: a full disk is then an OSError here, not a SIGBUS mid-write."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno in FULL_ERRNOS:
            raise
        # the filesystem cannot reserve space (EOPNOTSUPP, EINVAL): write as before
    finally:
        os.close(fd)


def content_digest(root: str | Path, data_hash: Any = None) -> str:
    """sha256 over a dataset's arrays, names and splits (not the manifest): changes whenever the data does.

    Written into the manifest, so a feature cache keyed on the manifest notices a re-conversion
    that changed the clips under the same names. data_hash: a hashlib.sha256 already fed with
    b"data.npy\\0" and the bytes of data.npy (a sequential DataWriter hashes them as it writes),
    so data.npy is not read again.
    """
    root = Path(root)
    h = hashlib.sha256() if data_hash is None else data_hash.copy()
    files = [root / name for name in ("data.npy", "labels.npy", "num_frames.npy", "names.txt")]
    files += sorted((root / "splits").glob("*.npy"))
    for path in files[1:] if data_hash is not None else files:
        h.update(f"{path.relative_to(root)}\0".encode())
        with open(path, "rb") as fh:
            while block := fh.read(16 << 20):
                h.update(block)
    return h.hexdigest()


def write_arrays(root: str | Path, data: np.ndarray, **kwargs: Any) -> Path:
    """Write an in-memory `(N, C, T, V, M)` array set; keyword arguments as `DataWriter.finish`."""
    writer = DataWriter(root, data.shape[0], data.shape[1:])
    writer.data[:] = data
    return writer.finish(**kwargs)


@dataclass
class SkeletonArrays:
    """One split of a dataset: memory-mapped clips plus their labels and lengths."""

    data: np.ndarray  # (N_all, C, T, V, M), usually a read-only memmap
    labels: np.ndarray  # (N_all,)
    num_frames: np.ndarray  # (N_all,)
    names: list[str]  # (N_all,)
    indices: np.ndarray  # the split's rows of the arrays above
    layout: str
    num_classes: int
    class_names: list[str] | None
    root: Path
    layout_def: dict | None = None  # the full declaration (manifests since issue 11); None: built-in by name
    preprocess: dict | None = None  # the converter's normalisation, when it recorded one
    content_sha256: str | None = None  # the manifest's digest of the data (None: a folder without one)

    @property
    def skeleton(self) -> Layout:
        return stored_layout(self.layout, self.layout_def, f"{self.root}/manifest.json layout")

    def __len__(self) -> int:
        return len(self.indices)

    def clip(self, i: int) -> tuple[np.ndarray, int, int]:
        """(C, T, V, M) float32 clip, its label and its valid length, for split position i."""
        row = int(self.indices[i])
        return np.asarray(self.data[row], dtype=np.float32), int(self.labels[row]), int(self.num_frames[row])

    @property
    def split_labels(self) -> np.ndarray:
        return self.labels[self.indices]

    def checked(self, row: int, clip: np.ndarray) -> np.ndarray:
        """`clip` (read from row `row`) if all its coordinates are finite, else DataFormatError naming it."""
        if not np.isfinite(clip).all():
            name = self.names[row] if row < len(self.names) else str(row)
            raise DataFormatError(f"{self.root}: sample {row} ({name}) holds NaN/inf coordinates; reconvert the data")
        return clip


def check_split(arrays: SkeletonArrays, benchmark: str, part: str) -> SkeletonArrays:
    """Refuse an empty split, indices outside the arrays and labels outside 0..num_classes-1 (one line each)."""
    where = f"{arrays.root}: split {benchmark} {part}"
    if len(arrays.indices) == 0:
        raise DataFormatError(f"{where} is empty (no samples to {'train on' if part == 'train' else 'evaluate'})")
    n = len(arrays.data)
    if not (len(arrays.labels) == len(arrays.num_frames) == n):
        raise DataFormatError(
            f"{arrays.root}: {n} samples but {len(arrays.labels)} labels, {len(arrays.num_frames)} lengths"
        )
    if arrays.indices.min() < 0 or arrays.indices.max() >= n:
        raise DataFormatError(f"{where}: sample index {int(arrays.indices.max())} outside 0..{n - 1}")
    labels = arrays.split_labels
    if labels.min() < 0 or labels.max() >= arrays.num_classes:
        bad = int(labels.min()) if labels.min() < 0 else int(labels.max())
        raise DataFormatError(f"{where}: label {bad} outside 0..{arrays.num_classes - 1}")
    return arrays


def check_part(root: Path, part: str) -> None:
    if part not in PARTS:
        raise DataFormatError(f"{root}: split part {part!r} must be one of {PARTS}")
    if not root.exists():
        raise DataFormatError(f"{root}: dataset not found")


def read_manifest(root: str | Path) -> dict:
    root = Path(root)
    path = root / "manifest.json"
    if not path.exists():
        _recover(root)  # a swap interrupted by a crash: the previous dataset goes back, or an explanation
    if not path.exists():
        raise DataFormatError(f"{root}: no manifest.json (not a converted dataset, or the conversion did not finish)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: not valid JSON ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise DataFormatError(f"{path}: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


# --------------------------------------------------------------------------- an interrupted swap
def is_owned(folder: Path) -> bool:
    """`folder` is a real folder the toolkit made (its OWNED_MARK is inside)."""
    return folder.is_dir() and not folder.is_symlink() and (folder / OWNED_MARK).is_file()


def remove_owned(folder: Path) -> None:
    """Remove `folder` if the toolkit made it; anything else stays."""
    if is_owned(folder):
        shutil.rmtree(folder, ignore_errors=True)


def restore_replaced(out: Path) -> bool:
    """Put a dataset that an interrupted swap moved aside to `out/.replaced` back into `out` (manifest last);
    True when there was one. The caller holds the conversion lock."""
    replaced = out / REPLACED
    if (out / "manifest.json").exists() or not is_owned(replaced) or not (replaced / "manifest.json").is_file():
        return False
    for name in (*OUTPUT_FILES, "splits"):
        if (replaced / name).exists():
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(replaced / name, target)
    os.replace(replaced / "manifest.json", out / "manifest.json")
    remove_owned(replaced)
    return True


def _recover(root: Path) -> None:
    """`root` has no manifest: restore the dataset an interrupted swap moved aside, or raise DataFormatError saying
    that a conversion is running now, or what to do. Returns quietly when nothing of a swap is there."""
    replaced = root / REPLACED
    if not (is_owned(replaced) and (replaced / "manifest.json").is_file()):
        if is_owned(root / STAGING):
            raise DataFormatError(
                f"{root}: a conversion into this folder did not finish (it left {STAGING}, no manifest.json "
                "yet); run it again"
            )
        return
    try:
        held = lock_file(root / CONVERSION_LOCK)
    except FolderInUse as exc:
        raise DataFormatError(
            f"{root}: a conversion (pid {exc.holder}) is replacing this dataset right now; wait for it to end"
        ) from None
    except OSError as exc:
        raise DataFormatError(
            f"{root}: an interrupted conversion left the previous dataset in {replaced} and this folder cannot be "
            f"written here ({exc.strerror or exc}); run gendata again with --out {root} to restore it"
        ) from None
    try:
        if restore_replaced(root):
            log.warning("%s: restored the previous dataset that an interrupted conversion had moved aside", root)
    except OSError as exc:
        raise DataFormatError(
            f"{root}: an interrupted conversion left the previous dataset in {replaced}, and putting it back failed "
            f"({exc.strerror or exc}); run gendata again with --out {root}"
        ) from None
    finally:
        held.release()


def open_native(root: str | Path, benchmark: str, part: str) -> SkeletonArrays:
    """Open one split of a native dataset folder (`ssl_skel.data.sources.open_arrays` also reads legacy ones)."""
    root = Path(root)
    check_part(root, part)
    manifest = read_manifest(root)
    if benchmark not in manifest["splits"]:
        known = ", ".join(sorted(manifest["splits"]))
        raise DataFormatError(f"{root}: no benchmark split {benchmark!r} (available: {known})")
    try:
        data = np.load(root / "data.npy", mmap_mode="r")
        labels = np.load(root / "labels.npy")
        num_frames = np.load(root / "num_frames.npy")
        names = (root / "names.txt").read_text().splitlines()
        indices = np.load(root / "splits" / f"{benchmark}_{part}.npy")
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{root}: cannot read dataset files ({exc})") from None
    if tuple(data.shape) != tuple(manifest["shape"]):
        raise DataFormatError(f"{root}/data.npy: shape {data.shape} differs from manifest {manifest['shape']}")
    if indices.dtype.kind not in "iu" or labels.dtype.kind not in "iu":
        raise DataFormatError(f"{root}: labels and split indices must be integers")
    arrays = SkeletonArrays(
        data=data,
        labels=labels,
        num_frames=num_frames,
        names=names,
        indices=indices,
        layout=manifest["layout"],
        num_classes=int(manifest["num_classes"]),
        class_names=manifest.get("class_names"),
        root=root,
        layout_def=manifest.get("layout_def"),
        preprocess=manifest.get("preprocess"),
        content_sha256=manifest.get("content_sha256"),
    )
    return check_split(arrays, benchmark, part)
