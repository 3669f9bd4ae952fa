"""Legacy toolkit layouts: UmURL/AimCLR folders and CTR-GCN .npz, opened in place or imported."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.cli import main as cli
from ssl_skel.data.formats import legacy
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError, read_manifest


def _clips(n: int, t: int, v: int = 25, m: int = 2, valid: tuple[int, ...] = ()) -> np.ndarray:
    """(n, 3, t, v, m) with sample i non-zero in its first valid[i] frames (default all)."""
    data = np.zeros((n, 3, t, v, m), np.float32)
    for i in range(n):
        k = valid[i] if valid else t
        data[i, :, :k] = i + 1 + np.arange(k, dtype=np.float32)[None, :, None, None] / 10
    return data


def _folder(tmp_path: Path, with_frames: bool = True) -> Path:
    root = tmp_path / "NTU60" / "xsub"
    root.mkdir(parents=True)
    for prefix, n, labels in (("train", 3, [0, 5, 2]), ("val", 2, [7, 1])):
        np.save(root / f"{prefix}_data_joint.npy", _clips(n, 8, valid=(8, 5, 3)[:n]))
        (root / f"{prefix}_label.pkl").write_bytes(pickle.dumps(([f"{prefix}{i}" for i in range(n)], labels)))
        if with_frames:
            np.save(root / f"{prefix}_num_frame.npy", np.array((8, 5, 3)[:n]))
    return root


def _npz(tmp_path: Path, compressed: bool = False) -> Path:
    path = tmp_path / "NTU60_CV.npz"
    x_train = _clips(3, 6, valid=(6, 4, 2)).transpose(0, 2, 4, 3, 1).reshape(3, 6, 150)  # (N, T, M*V*C)
    x_test = _clips(2, 6).transpose(0, 2, 4, 3, 1).reshape(2, 6, 150)
    y_train, y_test = np.eye(60)[[4, 0, 59]], np.eye(60)[[1, 2]]
    (np.savez_compressed if compressed else np.savez)(
        path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test
    )
    return path


def test_detect():
    assert not legacy.detect(Path(__file__).parent)


def test_umurl_folder_opens_in_place_through_open_arrays(tmp_path):
    root = _folder(tmp_path)
    assert legacy.detect(root) and legacy.benchmark_of(root) == "xsub"
    train = open_arrays(root, "xsub", "train")
    assert isinstance(train.data, np.memmap) and train.data.shape == (3, 3, 8, 25, 2)
    assert train.labels.tolist() == [0, 5, 2] and train.num_frames.tolist() == [8, 5, 3]
    assert train.names == ["train0", "train1", "train2"] and train.layout == "ntu25"
    assert train.num_classes == 8  # the largest label of either part (7) + 1
    clip, label, length = train.clip(1)
    assert (label, length) == (5, 5) and clip[0, 4, 0, 0] == pytest.approx(2.4)
    test = open_arrays(root, "xsub", "test")
    assert test.labels.tolist() == [7, 1]
    with pytest.raises(DataFormatError, match="holds the 'xsub' benchmark, not 'xview'"):
        open_arrays(root, "xview", "train")


def test_missing_num_frame_is_counted_from_the_data(tmp_path):
    root = _folder(tmp_path, with_frames=False)
    assert open_arrays(root, "xsub", "train").num_frames.tolist() == [8, 5, 3]


def test_folder_errors(tmp_path):
    root = _folder(tmp_path)
    (root / "val_label.pkl").write_bytes(pickle.dumps((["a"], [1, 2])))
    with pytest.raises(DataFormatError, match="1 names but 2 labels"):
        open_arrays(root, "xsub", "test")
    (root / "val_label.pkl").write_bytes(pickle.dumps(([f"v{i}" for i in range(4)], [0, 1, 2, 3])))
    with pytest.raises(DataFormatError, match="has 2 samples but val_label.pkl has 4"):
        open_arrays(root, "xsub", "test")
    (root / "val_label.pkl").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="not a readable pickle"):
        open_arrays(root, "xsub", "test")
    (root / "val_data_joint.npy").unlink()
    with pytest.raises(DataFormatError, match="no val_data_joint.npy"):
        open_arrays(root, "xsub", "test")


@pytest.mark.parametrize("compressed", [False, True])
def test_ctrgcn_npz(tmp_path, compressed):
    path = _npz(tmp_path, compressed)
    assert legacy.detect(path) and legacy.benchmark_of(path) == "xview"
    train = open_arrays(path, "xview", "train")
    assert train.data.shape == (3, 3, 6, 25, 2) and train.layout == "ntu25"
    assert isinstance(train.data.base, np.memmap) != compressed  # stored members are memory-mapped
    assert train.labels.tolist() == [4, 0, 59] and train.num_classes == 60
    assert train.num_frames.tolist() == [6, 4, 2]
    np.testing.assert_array_equal(train.data[1], _clips(3, 6, valid=(6, 4, 2))[1])
    assert open_arrays(path, "xview", "test").labels.tolist() == [1, 2]
    with pytest.raises(DataFormatError, match="not 'xsub'"):
        open_arrays(path, "xsub", "test")


def test_npz_errors(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x_train=np.zeros((2, 4, 150)))
    with pytest.raises(DataFormatError, match="no array 'y_train'"):
        open_arrays(path, "xsub", "train")
    np.savez(path, x_train=np.zeros((2, 4, 100)), y_train=np.eye(3)[:2])
    with pytest.raises(DataFormatError, match=r"x_train has shape \(2, 4, 100\)"):
        open_arrays(path, "xsub", "train")
    path.write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="cannot read"):
        open_arrays(path, "xsub", "train")


def test_import_command_writes_native_format(tmp_path, capsys):
    root = _folder(tmp_path)
    assert cli(["gendata", "import", str(root), "--out", str(tmp_path / "native")]) == 0
    assert "wrote 5 clips" in capsys.readouterr().out
    manifest = read_manifest(tmp_path / "native")
    assert manifest["splits"] == {"xsub": {"train": 3, "test": 2}}
    test = open_arrays(tmp_path / "native", "xsub", "test")
    assert test.split_labels.tolist() == [7, 1] and [test.names[i] for i in test.indices] == ["val0", "val1"]
    np.testing.assert_array_equal(test.clip(1)[0], _clips(2, 8, valid=(8, 5))[1])
    path = _npz(tmp_path)
    out = legacy.convert_legacy(path, tmp_path / "from_npz")
    assert read_manifest(out)["shape"] == [5, 3, 6, 25, 2]
    anonymous = tmp_path / "stuff.npz"
    path.rename(anonymous)
    with pytest.raises(DataFormatError, match="pass --benchmark"):
        legacy.convert_legacy(anonymous, tmp_path / "x")
    assert read_manifest(legacy.convert_legacy(anonymous, tmp_path / "x", benchmark="xview"))["splits"]["xview"] == {
        "train": 3,
        "test": 2,
    }
    assert cli(["gendata", "import", str(tmp_path), "--out", str(tmp_path / "y")]) == 2


def test_import_with_layout_and_joint_order(tmp_path):
    root = _folder(tmp_path)
    data = np.load(root / "train_data_joint.npy")
    data[:, 0, :, 4] = 40.0  # left_shoulder's x, stored where the layout has it
    np.save(root / "train_data_joint.npy", data)
    order = list(range(25))
    order[4], order[8] = 8, 4  # the arrays hold right_shoulder at 4 and left_shoulder at 8
    out = legacy.convert_legacy(root, tmp_path / "out", joint_order=order, layout="ntu25")
    clip = open_arrays(out, "xsub", "train").clip(0)[0]
    assert (clip[0, :, 8] == 40.0).all() and read_manifest(out)["layout_def"]["joints"][8] == "right_shoulder"
    with pytest.raises(DataFormatError, match=r"data has 25 joints but layout sbu15 .*declares 15"):
        legacy.convert_legacy(root, tmp_path / "bad", layout="sbu15")
