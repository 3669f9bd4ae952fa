"""On-disk arrays: round trip, refusal of unfinished or foreign folders, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.data import storage
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError, DataWriter, write_arrays


def sample_arrays() -> dict:
    data = np.arange(4 * 3 * 5 * 25 * 2, dtype=np.float32).reshape(4, 3, 5, 25, 2)
    return dict(
        data=data,
        labels=[0, 1, 1, 2],
        num_frames=[5, 3, 4, 5],
        names=["a", "b", "c", "d"],
        splits={"xsub": {"train": [0, 2], "test": [1, 3]}},
        layout="ntu25",
        class_names=["x", "y", "z"],
        source={"tool": "test"},
    )


def test_round_trip(tmp_path: Path) -> None:
    kw = sample_arrays()
    root = write_arrays(tmp_path / "d", **kw)
    train = open_arrays(root, "xsub", "train")
    test = open_arrays(root, "xsub", "test")
    assert isinstance(train.data, np.memmap) and train.data.dtype == np.float32
    assert len(train) == 2 and list(test.indices) == [1, 3]
    clip, label, frames = test.clip(1)
    np.testing.assert_array_equal(clip, kw["data"][3])
    assert (label, frames) == (2, 5)
    np.testing.assert_array_equal(train.split_labels, [0, 1])
    assert train.names == kw["names"] and train.class_names == ["x", "y", "z"] and train.num_classes == 3
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["splits"] == {"xsub": {"train": 2, "test": 2}} and manifest["shape"] == [4, 3, 5, 25, 2]
    assert manifest["source"] == {"tool": "test"} and manifest["format"] == storage.FORMAT


def test_num_classes_without_names(tmp_path: Path) -> None:
    kw = sample_arrays() | {"class_names": None}
    assert open_arrays(write_arrays(tmp_path / "d", **kw), "xsub", "train").num_classes == 3


def test_unfinished_writer_leaves_no_readable_folder(tmp_path: Path) -> None:
    root = write_arrays(tmp_path / "d", **sample_arrays())
    writer = DataWriter(root, 2, (3, 5, 25, 2))  # a re-run starts: the old manifest goes first
    writer.data[0] = 1.0
    assert not (root / "manifest.json").exists()
    with pytest.raises(DataFormatError, match="no manifest.json"):
        open_arrays(root, "xsub", "train")
    del writer


def test_finish_checks_lengths_and_parts(tmp_path: Path) -> None:
    writer = DataWriter(tmp_path / "d", 2, (3, 5, 25, 2))
    with pytest.raises(ValueError, match="2 samples but 1 labels"):
        writer.finish([0], [5, 5], ["a", "b"], {}, "ntu25")
    writer = DataWriter(tmp_path / "e", 1, (3, 5, 25, 2))
    with pytest.raises(ValueError, match="split part 'val'"):
        writer.finish([0], [5], ["a"], {"xsub": {"val": [0]}}, "ntu25")
    assert not (tmp_path / "e" / "manifest.json").exists()


def test_refusals_name_the_problem(tmp_path: Path) -> None:
    root = write_arrays(tmp_path / "d", **sample_arrays())
    with pytest.raises(DataFormatError, match="dataset not found"):
        open_arrays(tmp_path / "nothing", "xsub", "train")
    with pytest.raises(DataFormatError, match=r"split part 'val' must be one of"):
        open_arrays(root, "xsub", "val")
    with pytest.raises(DataFormatError, match=r"no benchmark split 'xview' \(available: xsub\)"):
        open_arrays(root, "xview", "train")
    manifest = json.loads((root / "manifest.json").read_text())
    (root / "manifest.json").write_text(json.dumps(manifest | {"shape": [9, 3, 5, 25, 2]}))
    with pytest.raises(DataFormatError, match=r"data.npy: shape \(4, 3, 5, 25, 2\) differs from manifest"):
        open_arrays(root, "xsub", "train")
    (root / "manifest.json").write_text(json.dumps(manifest | {"format": "other"}))
    with pytest.raises(DataFormatError, match="format is 'other'"):
        open_arrays(root, "xsub", "train")
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="manifest.json: not valid JSON"):
        open_arrays(root, "xsub", "train")
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "labels.npy").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="cannot read dataset files"):
        open_arrays(root, "xsub", "train")


def test_atomic_writes_leave_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    storage.atomic_write_bytes(target, b"old")
    with pytest.raises(TypeError):
        storage.atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    npy = tmp_path / "a.npy"
    storage.atomic_save_npy(npy, np.arange(3))
    with pytest.raises(RuntimeError, match="cannot convert"):
        storage.atomic_save_npy(npy, _Unsaveable())
    np.testing.assert_array_equal(np.load(npy), [0, 1, 2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "f.bin"]


class _Unsaveable:
    """np.save fails on it half way (after opening the file)."""

    def __array__(self, *args, **kwargs):
        raise RuntimeError("cannot convert")


def test_sequential_writer_writes_the_same_bytes_and_digest_as_the_memory_map(tmp_path: Path) -> None:
    kw = sample_arrays()
    data = kw.pop("data")
    data[1, 0, 2, 3, 1] = -0.0  # the sign of zero is part of the bytes
    mapped = write_arrays(tmp_path / "mapped", data, **kw)
    writer = DataWriter(tmp_path / "seq", len(data), data.shape[1:], sequential=True)
    writer.append(data[:3])
    writer.append(data[3:])
    seq = writer.finish(**kw)
    assert (seq / "data.npy").read_bytes() == (mapped / "data.npy").read_bytes()
    digest = json.loads((seq / "manifest.json").read_text())["content_sha256"]
    assert digest == json.loads((mapped / "manifest.json").read_text())["content_sha256"]
    assert digest == storage.content_digest(seq)  # hashed while writing == hashed from the files


def test_sequential_writer_refuses_wrong_rows_and_a_short_count(tmp_path: Path) -> None:
    kw = sample_arrays()
    data = kw.pop("data")
    writer = DataWriter(tmp_path / "seq", len(data), data.shape[1:], sequential=True)
    with pytest.raises(ValueError, match="C-contiguous float32"):
        writer.append(data[:1].astype(np.float64))
    with pytest.raises(ValueError, match="append needs"):
        DataWriter(tmp_path / "map", 1, data.shape[1:]).append(data[:1])
    writer.append(data[:3])
    with pytest.raises(ValueError, match="more than 4 rows"):
        writer.append(data[:2])
    with pytest.raises(ValueError, match="4 samples but 3 rows appended"):
        writer.finish(**kw)
    assert not (tmp_path / "seq" / "manifest.json").exists() and not (tmp_path / "seq" / ".data.npy.tmp").exists()
