"""Real recordings from ../shared/data (research-only, never shipped): skipped when absent."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.data.formats import ntu_meta
from ssl_skel.data.formats.ntu import convert_ntu, make_splits, read_missing_list
from ssl_skel.data.formats.ntu_skeleton import read_skeleton
from ssl_skel.data.formats.nw_ucla import convert_ucla
from ssl_skel.data.sources import open_arrays


@pytest.fixture(scope="module")
def ntu_dir(shared_data: Path) -> Path:
    return shared_data / "ntu_rgbd"


def test_parse_one_body_file(ntu_dir):
    sk = read_skeleton(ntu_dir / "raw_samples" / "S001C001P001R001A011.skeleton")
    assert sk.num_frames == 82 and all(len(b) == 1 for b in sk.frames)
    assert sk.body_ids == [72057594037931648]
    body = sk.frames[0][0]
    assert body.lean == (-0.1159187, 0.1413209) and body.tracking_state == 2 and body.hand_left_confidence == 1
    # line 5: "0.2058097 0.1920515 3.810989 276.0976 190.0662 1032.328 514.0889 -0.1705678 0.04232755
    #          0.9718983 -0.1566168 2"
    np.testing.assert_array_equal(
        body.joints[0],
        [
            0.2058097,
            0.1920515,
            3.810989,
            276.0976,
            190.0662,
            1032.328,
            514.0889,
            -0.1705678,
            0.04232755,
            0.9718983,
            -0.1566168,
            2,
        ],
    )
    # line 29 (frame 1, joint 25) and the last line of the file (frame 82, joint 25)
    np.testing.assert_array_equal(sk.frames[0][0].joints[24, :3], [0.1113064, 0.3412982, 3.562444])
    np.testing.assert_array_equal(
        sk.frames[81][0].joints[24],
        [0.09518377, 0.473689, 3.450333, 266.4491, 158.2272, 1006.19, 422.2212, 0, 0, 0, 0, 2],
    )


def test_parse_two_body_file(ntu_dir):
    sk = read_skeleton(ntu_dir / "raw_samples" / "S001C003P008R002A058.skeleton")
    assert sk.num_frames == 70 and all(len(b) == 2 for b in sk.frames)
    assert sk.body_ids == [72057594037944738, 72057594037944734]
    first = sk.frames[0]
    assert first[0].lean == (0.01119184, -0.256052) and first[1].lean == (0.2471961, -0.2383252)
    np.testing.assert_array_equal(first[0].joints[0, :3], [0.7201789, 0.1647426, 3.561895])
    np.testing.assert_array_equal(
        first[0].joints[24], [0.901369, 0.03076283, 3.417449, 359.2839, 206.438, 1250.683, 528.6425, 0, 0, 0, 0, 2]
    )
    # line 32: the second body's first joint
    np.testing.assert_array_equal(
        first[1].joints[0],
        [
            -0.387201,
            -0.05403496,
            2.961099,
            214.7408,
            216.41,
            834.7666,
            559.0992,
            0.4557798,
            -0.05701343,
            0.8802808,
            -0.1188276,
            2,
        ],
    )
    np.testing.assert_array_equal(sk.frames[69][1].joints[24, :3], [0.2655148, 0.1555307, 3.263833])


def test_convert_real_ntu_files(ntu_dir, tmp_path):
    report = convert_ntu(
        ntu_dir / "raw_samples",
        tmp_path / "ntu",
        dataset="ntu60",
        missing_file=ntu_dir / "NTU_RGBD_samples_with_missing_skeletons.txt",
        progress=False,
    )
    assert report.num_samples == 2 and not report.bad
    arrays = open_arrays(tmp_path / "ntu", "xview", "train")
    assert arrays.num_frames.tolist() == [82, 70] and arrays.labels.tolist() == [10, 57]
    assert arrays.indices.tolist() == [1]  # camera 3 trains, camera 1 tests
    one, two = np.asarray(arrays.data[0]), np.asarray(arrays.data[1])
    np.testing.assert_allclose(one[:, 0, 1, 0], 0.0, atol=1e-7)  # spine mid of frame 1 is the origin
    np.testing.assert_allclose(
        one[:, 0, 0, 0], np.array([0.2058097, 0.1920515, 3.810989]) - [0.2134301, 0.4422967, 3.726759], atol=1e-6
    )
    assert not one[..., 1].any()  # one actor: second body zeros
    assert np.abs(two[:, :70]).reshape(3, 70, -1, 2).any(axis=(0, 2)).all()  # both actors in all 70 frames


def test_official_lists_and_splits_match_the_statistics(ntu_dir):
    assert read_missing_list(ntu_dir / "NTU_RGBD120_samples_with_missing_skeletons.txt") == set(
        ntu_meta.MISSING_SAMPLES
    )
    assert len(read_missing_list(ntu_dir / "NTU_RGBD_samples_with_missing_skeletons.txt")) == 302
    for dataset, sizes in (
        ("ntu60", {"xsub": (40091, 16487), "xview": (37646, 18932)}),
        ("ntu120", {"xsub": (63026, 50919), "xset": (54468, 59477)}),
    ):
        names = (ntu_dir / "statistics" / dataset / "skes_available_name.txt").read_text().split()
        assert len(names) == {"ntu60": 56578, "ntu120": 113945}[dataset]
        assert not set(names) & ntu_meta.MISSING_SAMPLES
        splits = make_splits(names, dataset)
        assert {b: (len(p["train"]), len(p["test"])) for b, p in splits.items()} == sizes


def _check_ucla(out: Path, raw: Path, names: list[str]) -> None:
    train, test = open_arrays(out, "xview", "train"), open_arrays(out, "xview", "test")
    by_name = {n: i for i, n in enumerate(train.names)}
    for name in names:
        row = by_name[name]
        body = json.loads((raw / "all_sqe" / f"{name}.json").read_text())
        joints = np.asarray(body["skeletons"], dtype=np.float32)
        assert train.num_frames[row] == len(joints) and train.labels[row] == body["label"] - 1
        expected = (joints - joints[0, 1]).transpose(2, 0, 1)
        np.testing.assert_allclose(train.data[row, :, : len(joints), :, 0], expected, atol=1e-6)
        assert not np.asarray(train.data[row, :, len(joints) :]).any()
        assert (row in set(test.indices.tolist())) == name.endswith("_v03")


def test_ucla_subset_fast(shared_data, tmp_path):
    raw = tmp_path / "ucla"
    (raw / "all_sqe").mkdir(parents=True)
    src = shared_data / "nw_ucla"
    lists = {p: json.loads((src / f"{p}_split.json").read_text()) for p in ("train", "val")}
    keep = {
        "train": lists["train"][:20] + [e for e in lists["train"] if e["length"] == 1],
        "val": lists["val"][:10] + [e for e in lists["val"] if e["length"] == 1],
    }
    for part, items in keep.items():
        (raw / f"{part}_split.json").write_text(json.dumps(items))
        for e in items:
            (raw / "all_sqe" / f"{e['file_name']}.json").write_bytes(
                (src / "all_sqe" / f"{e['file_name']}.json").read_bytes()
            )
    report = convert_ucla(raw, tmp_path / "out")
    assert report.split_sizes == {"train": 21, "test": 11}
    _check_ucla(tmp_path / "out", raw, ["a02_s09_e04_v02", "a02_s09_e04_v03", keep["train"][0]["file_name"]])


def test_ucla_full_conversion(shared_data, tmp_path):
    raw = shared_data / "nw_ucla"
    report = convert_ucla(raw, tmp_path / "out")
    assert report.num_samples == 1484 and report.split_sizes == {"train": 1020, "test": 464} and not report.bad
    train, test = open_arrays(tmp_path / "out", "xview", "train"), open_arrays(tmp_path / "out", "xview", "test")
    assert train.data.shape == (1484, 3, 201, 20, 1) and train.layout == "kinect20" and train.num_classes == 10
    assert set(train.split_labels.tolist()) == set(test.split_labels.tolist()) == set(range(10))
    assert all(train.names[i].endswith(("_v01", "_v02")) for i in train.indices)
    assert all(test.names[i].endswith("_v03") for i in test.indices)
    assert sorted(Counter(train.num_frames.tolist()).items())[0] == (1, 2)  # the two 1-frame clips
    action = {a: i for i, a in enumerate(("a01", "a02", "a03", "a04", "a05", "a06", "a08", "a09", "a11", "a12"))}
    assert all(action[n[:3]] == lab for n, lab in zip(train.names, train.labels.tolist()))
    _check_ucla(tmp_path / "out", raw, [train.names[i] for i in (0, 500, 1019, 1020, 1483)])
