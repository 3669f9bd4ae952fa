"""Penn Action and SBU Kinect Interaction readers on a few real files (skipped when the data is absent)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import SHARED_DATA as SHARED  # $SSL_SKEL_SHARED_DATA, else ../shared/data next to the checkout

from ssl_skel.data.formats.penn_action import CLASSES as PENN_CLASSES
from ssl_skel.data.formats.penn_action import convert_penn, read_penn_mat
from ssl_skel.data.formats.sbu import CLASSES as SBU_CLASSES
from ssl_skel.data.formats.sbu import FOLD_OF, convert_sbu, read_sbu_file
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError

PENN = SHARED / "penn_action"
SBU = SHARED / "sbu_kinect_interaction"

needs_penn = pytest.mark.skipif(not (PENN / "labels" / "0001.mat").exists(), reason=f"Penn Action not found at {PENN}")
needs_sbu = pytest.mark.skipif(not (SBU / "s01s02").is_dir(), reason=f"SBU Kinect Interaction not found at {SBU}")


@needs_penn
def test_penn_reader_on_a_few_files(tmp_path):
    labels = tmp_path / "penn" / "labels"
    labels.mkdir(parents=True)
    names = ["0001", "0002", "0168", "0169", "1154"]  # 1154: bbox has one row fewer than frames
    for n in names:
        shutil.copy(PENN / "labels" / f"{n}.mat", labels)
    report = convert_penn(tmp_path / "penn", tmp_path / "out", progress=False)
    assert report.layout == "penn13" and report.num_samples == 5 and not report.bad
    rows = {n: read_penn_mat(labels / f"{n}.mat", "keep")[1] for n in names}
    want = {
        "train": sum(r["split"] == "train" for r in rows.values()),
        "test": sum(r["split"] == "test" for r in rows.values()),
    }
    assert report.splits == {"official": want}
    arrays = open_arrays(tmp_path / "out", "official", "train")
    assert arrays.class_names == list(PENN_CLASSES)
    everything = np.load(tmp_path / "out" / "data.npy")
    lab = np.load(tmp_path / "out" / "labels.npy")
    assert [PENN_CLASSES[i] for i in lab] == [rows[n]["label"] for n in names]
    assert np.isfinite(everything).all() and report.filled > 0
    np.testing.assert_allclose(everything[:, :, 0, 0, 0], 0, atol=1e-6)  # the head is the first-frame origin
    xy, _ = read_penn_mat(labels / "0001.mat", "fill")
    assert xy.shape[1:] == (13, 2) and np.isnan(xy).any()  # invisible joints are missing, then filled


@needs_penn
def test_penn_visibility_channel(tmp_path):
    labels = tmp_path / "penn" / "labels"
    labels.mkdir(parents=True)
    shutil.copy(PENN / "labels" / "0001.mat", labels)
    shutil.copy(PENN / "labels" / "0002.mat", labels)
    (labels / "0003.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataFormatError, match=r"1 of 3 clips could not be read .*0003.mat: not a readable Penn"):
        convert_penn(tmp_path / "penn", tmp_path / "out", visibility="channel", progress=False)
    r = convert_penn(tmp_path / "penn", tmp_path / "out", visibility="channel", skip_bad=True, progress=False)
    assert r.shape[1] == 3
    vis = np.load(tmp_path / "out" / "data.npy")[:, 2]
    assert set(np.unique(vis)) <= {0.0, 1.0}  # the visibility flag, never centred or scaled


@needs_sbu
def test_sbu_reader_folds_and_metres(tmp_path):
    raw = tmp_path / "sbu"
    for pair in ("s01s02", "s02s03"):  # folds 1 and 2
        shutil.copytree(SBU / pair, raw / pair)
    report = convert_sbu(raw, tmp_path / "out", progress=False)
    n1 = len(list((raw / "s01s02").glob("*/*/skeleton_pos.txt")))
    n2 = len(list((raw / "s02s03").glob("*/*/skeleton_pos.txt")))
    assert report.layout == "sbu15" and report.shape[-1] == 2 and report.shape[1] == 3
    assert report.splits == {"fold1": {"train": n2, "test": n1}, "fold2": {"train": n1, "test": n2}}
    test = open_arrays(tmp_path / "out", "fold1", "test")
    assert all(test.names[i].startswith("s01s02_") for i in test.indices)
    assert test.class_names == list(SBU_CLASSES) and FOLD_OF["s06s03"] == 5
    clip, label, _ = test.clip(0)
    assert label == int(test.names[test.indices[0]].split("_")[1]) - 1
    np.testing.assert_allclose(clip[:, 0, 2, 0], 0, atol=1e-6)  # person A's torso, first frame
    metres = read_sbu_file(next(raw.glob("s01s02/*/*/skeleton_pos.txt")))
    shoulders = np.linalg.norm(metres[:, :, 3] - metres[:, :, 6], axis=-1)
    assert 0.2 < float(np.median(shoulders)) < 0.45  # the README's inverse gives metres
