"""pyskl/mmaction2 annotation pickles, 2D (COCO-17) and 3D (NTU-25), to the native format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.cli import main as cli
from ssl_skel.data.formats.pyskl_pkl import convert_pyskl, split_key
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError


def _ann(name: str, label: int, m: int, t: int, v: int, c: int, score: bool = True) -> dict:
    kp = np.arange(m * t * v * c, dtype=np.float32).reshape(m, t, v, c) / 100
    ann = {"frame_dir": name, "label": label, "keypoint": kp, "total_frames": t, "img_shape": (1080, 1920)}
    if score:
        ann["keypoint_score"] = np.full((m, t, v), 0.5, np.float32) + np.arange(m)[:, None, None] * 0.1
    return ann


def _write(tmp_path: Path, obj: object) -> Path:
    path = tmp_path / "anno.pkl"
    path.write_bytes(pickle.dumps(obj))
    return path


def _ntu3d() -> dict:
    anns = [
        _ann("S001C001P001R001A001", 0, 1, 4, 25, 3, score=False),
        _ann("S001C002P003R001A050", 49, 2, 6, 25, 3, score=False),
    ]
    return {
        "split": {
            "xsub_train": ["S001C001P001R001A001"],
            "xsub_val": ["S001C002P003R001A050"],
            "xview_train": ["S001C002P003R001A050"],
            "xview_val": ["S001C001P001R001A001"],
        },
        "annotations": anns,
    }


def test_split_names():
    assert split_key("xsub_train") == ("xsub", "train")
    assert split_key("xview_val") == ("xview", "test")
    assert split_key("test") == ("default", "test")
    with pytest.raises(DataFormatError, match="expected <benchmark>_train"):
        split_key("xsub_holdout")


def test_3d_pickle(tmp_path):
    report = convert_pyskl(_write(tmp_path, _ntu3d()), tmp_path / "out")
    assert report.layout == "ntu25" and report.shape == (2, 3, 6, 25, 2)
    assert report.splits == {"xsub": {"train": 1, "test": 1}, "xview": {"train": 1, "test": 1}}
    arrays = open_arrays(tmp_path / "out", "xsub", "test")
    clip, label, length = arrays.clip(0)
    assert (label, length) == (49, 6)
    # keypoint[m, t, v, c] = (((m*6 + t)*25 + v)*3 + c) / 100 -> clip[c, t, v, m]
    assert clip[2, 5, 24, 1] == pytest.approx((((1 * 6 + 5) * 25 + 24) * 3 + 2) / 100)
    first = open_arrays(tmp_path / "out", "xsub", "train").clip(0)[0]
    assert first[1, 3, 2, 0] == pytest.approx(((3 * 25 + 2) * 3 + 1) / 100)
    assert not first[:, 4:].any() and not first[..., 1].any()  # padding in time and the absent 2nd person


def test_2d_pickle_with_score_and_person_limit(tmp_path):
    anns = [_ann("clip_a", 3, 3, 5, 17, 2), _ann("clip_b", 1, 1, 2, 17, 2)]
    path = _write(tmp_path, {"split": {"train": ["clip_a"], "val": ["clip_b", "not_annotated"]}, "annotations": anns})
    with pytest.raises(DataFormatError, match=r"17 2D joints fits several layouts \(coco17, h36m17\); pass --layout"):
        convert_pyskl(path, tmp_path / "out", with_score=True, max_persons=2)  # no silent guess
    report = convert_pyskl(path, tmp_path / "out", with_score=True, max_persons=2, layout="coco17")
    assert report.layout == "coco17" and report.shape == (2, 3, 5, 17, 2)
    clip = open_arrays(tmp_path / "out", "default", "train").clip(0)[0]
    # persons 1 and 2 have the higher scores (0.6, 0.7): kept in their original order
    assert clip[2, 0, 0, 0] == pytest.approx(0.6) and clip[2, 0, 0, 1] == pytest.approx(0.7)
    assert clip[0, 1, 4, 0] == pytest.approx((((1 * 5 + 1) * 17 + 4) * 2) / 100)
    assert open_arrays(tmp_path / "out", "default", "test").labels.tolist() == [3, 1]
    plain = convert_pyskl(path, tmp_path / "out2", layout="h36m17")
    assert plain.shape == (2, 2, 5, 17, 3) and plain.layout == "h36m17"


def test_bad_annotations_named_and_skippable(tmp_path):
    obj = _ntu3d()
    obj["annotations"].append({"frame_dir": "broken", "label": 1, "keypoint": np.zeros((1, 4, 25))})
    obj["annotations"].append({"frame_dir": "nolabel", "keypoint": np.zeros((1, 4, 25, 3))})
    path = _write(tmp_path, obj)
    with pytest.raises(
        DataFormatError, match=r"2 of 4 annotations could not be read \(first: .*broken\): keypoint has shape"
    ):
        convert_pyskl(path, tmp_path / "out")
    report = convert_pyskl(path, tmp_path / "out", skip_bad=True)
    assert report.num_samples == 2 and "no 'label'" in report.bad["nolabel"]


@pytest.mark.parametrize(
    "payload, words",
    [
        (b"", "not a readable pickle"),
        (pickle.dumps([1, 2])[:-3], "not a readable pickle"),
        (pickle.dumps({"annotations": []}), "expected a dict with 'split' and 'annotations'"),
        (
            pickle.dumps({"split": {}, "annotations": [_ann("a", 0, 1, 2, 18, 3)]}),
            "18 3D joints matches no built-in layout",
        ),
    ],
)
def test_bad_pickles(tmp_path, payload, words):
    path = tmp_path / "x.pkl"
    path.write_bytes(payload)
    with pytest.raises(DataFormatError, match=words):
        convert_pyskl(path, tmp_path / "out")


def test_with_score_requires_scores_and_cli(tmp_path, capsys):
    path = _write(tmp_path, _ntu3d())
    with pytest.raises(DataFormatError, match="no 'keypoint_score'"):
        convert_pyskl(path, tmp_path / "out", with_score=True)
    assert cli(["gendata", "pyskl", "--pkl", str(path), "--out", str(tmp_path / "o")]) == 0
    assert "wrote 2 clips" in capsys.readouterr().out
    assert cli(["gendata", "pyskl", "--pkl", str(tmp_path / "absent.pkl"), "--out", str(tmp_path / "o")]) == 2
    assert cli(["gendata", "pyskl", "--pkl", str(path), "--out", str(tmp_path / "o"), "--layout", "penn13"]) == 2
    assert "data has 25 joints but layout penn13" in capsys.readouterr().err


def test_pyskl_normalisation_and_joint_order(tmp_path):
    path = _write(tmp_path, _ntu3d())
    convert_pyskl(path, tmp_path / "plain")
    convert_pyskl(path, tmp_path / "centred", centre="first")
    raw = open_arrays(tmp_path / "plain", "xsub", "test").clip(0)[0]
    centred = open_arrays(tmp_path / "centred", "xsub", "test")
    spine_mid = raw[:, 0, 1, 0]  # centre joint of person 1 in frame 0
    present = raw.any(axis=(0, 2))[None, :, None, :]
    np.testing.assert_allclose(
        centred.clip(0)[0], np.where(present, raw - spine_mid[:, None, None, None], 0), atol=1e-6
    )
    assert centred.preprocess["centre"] == "first"
    order = list(range(25))
    order[4], order[8] = 8, 4  # the file stores right_shoulder where the layout has left_shoulder
    convert_pyskl(path, tmp_path / "swapped", joint_order=",".join(map(str, order)))
    swapped = open_arrays(tmp_path / "swapped", "xsub", "test").clip(0)[0]
    np.testing.assert_array_equal(swapped[:, :, [8, 4]], raw[:, :, [4, 8]])
