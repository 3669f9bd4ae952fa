"""NW-UCLA json -> arrays on a 3-clip fixture in the real layout, and every bad-input path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.cli import main as cli
from ssl_skel.data.formats.nw_ucla import UclaFormatError, convert_ucla, read_clip, read_split_list
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError

FIXTURE = Path(__file__).parent / "fixtures" / "ucla"


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "ucla"))


def test_read_clip_values():
    joints, label = read_clip(FIXTURE / "all_sqe" / "a12_s02_e01_v02.json")
    assert joints.shape == (5, 20, 3) and joints.dtype == np.float32 and label == 10
    np.testing.assert_allclose(joints[4, 3], [0.5 + 0.3 + 0.04, 1.15, 3.004], atol=1e-6)
    assert read_split_list(FIXTURE / "val_split.json") == [("a02_s09_e04_v03", 1, 2)]


def test_convert_shapes_labels_split_and_centring(raw, tmp_path):
    report = convert_ucla(raw, tmp_path / "out")
    assert report.num_samples == 3 and report.split_sizes == {"train": 2, "test": 1}
    train = open_arrays(tmp_path / "out", "xview", "train")
    test = open_arrays(tmp_path / "out", "xview", "test")
    assert train.data.shape == (3, 3, 5, 20, 1)  # T_max = longest clip (5 frames), one person
    assert train.layout == "kinect20" and train.num_classes == 10
    assert train.names == ["a01_s01_e00_v01", "a12_s02_e01_v02", "a02_s09_e04_v03"]
    assert train.labels.tolist() == [0, 9, 1] and train.num_frames.tolist() == [3, 5, 1]
    assert train.indices.tolist() == [0, 1] and test.indices.tolist() == [2]
    assert test.class_names[1] == "pick up with two hands"
    clip, label, length = test.clip(0)  # the 1-frame clip, centred on its spine (joint 1)
    assert (label, length) == (1, 1)
    np.testing.assert_allclose(clip[:, 0, 0, 0], [-0.1, -0.05, 0.0], atol=1e-6)
    np.testing.assert_allclose(clip[:, 0, 1, 0], 0.0, atol=1e-7)
    assert not clip[:, 1:].any()
    clip, _, _ = train.clip(1)
    np.testing.assert_allclose(clip[:, 4, 1, 0], [0.04, 0.0, 0.004], atol=1e-6)  # frame 4 moved by t * (0.01, 0, 0.001)


def test_no_centre_keeps_camera_coordinates(raw, tmp_path):
    convert_ucla(raw, tmp_path / "out", centre_clips=False)
    arrays = open_arrays(tmp_path / "out", "xview", "test")
    np.testing.assert_allclose(arrays.clip(0)[0][:, 0, 0, 0], [-0.5, 1.0, 3.0], atol=1e-6)


def test_align_view_turns_each_clip_to_a_canonical_view(raw, tmp_path):
    from ssl_skel.data.layouts import KINECT_V1_20
    from ssl_skel.data.prepare import prepare_batch
    from ssl_skel.data.spec import InputSpec

    convert_ucla(raw, tmp_path / "plain")
    report = convert_ucla(raw, tmp_path / "aligned", align_view=True)
    plain = open_arrays(tmp_path / "plain", "xview", "train")
    aligned = open_arrays(tmp_path / "aligned", "xview", "train")
    assert aligned.preprocess == {"centre": "first", "align_view": True} and report.num_samples == 3
    (hip, spine), (right, left) = KINECT_V1_20.view_bones
    for i in range(2):
        clip, _, frames = aligned.clip(i)
        before = plain.clip(i)[0]
        up = clip[:, 0, spine, 0] - clip[:, 0, hip, 0]
        across = clip[:, 0, left, 0] - clip[:, 0, right, 0]
        np.testing.assert_allclose(up[:2], 0.0, atol=1e-6)  # the frame-0 spine points along +z ...
        assert up[2] > 0 and across[0] > 0 and abs(across[1]) < 1e-6  # ... the shoulders along +x
        # one rotation of the whole clip: distances between joints in every frame are kept
        d_after = np.linalg.norm(clip[:, :frames, :, None, 0] - clip[:, :frames, None, :, 0], axis=0)
        d_before = np.linalg.norm(before[:, :frames, :, None, 0] - before[:, :frames, None, :, 0], axis=0)
        np.testing.assert_allclose(d_after, d_before, atol=1e-5)
    # an encoder's prepare() replays it on a raw clip: the same tensor as on the stored clip (already
    # centred and aligned, so replaying the steps there changes nothing)
    raw_clip, _ = read_clip(raw / "all_sqe" / "a12_s02_e01_v02.json")
    spec = InputSpec.for_layout(aligned.skeleton, 3, 1, 5, aligned.preprocess)
    replayed = prepare_batch([raw_clip], spec, resize="endpoints")[0]
    stored = prepare_batch([aligned.clip(1)[0][:, : aligned.num_frames[1]].transpose(3, 1, 2, 0)], spec)[0]
    np.testing.assert_allclose(replayed, stored, atol=1e-5)


def _write(raw: Path, name: str, text: str) -> None:
    (raw / "all_sqe" / f"{name}.json").write_text(text)


GOOD = "a01_s01_e00_v01"


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty file"),
        ('{"file_name": "a", "skeletons": [[[0.1, 0.2', "truncated"),
        ('{"file_name": "a", "skeletons": [[[0.1, nope]]]}', "not valid JSON"),
        (
            '{"file_name": "a", "skeletons": [' + json.dumps([[0.1, 0.2, 0.3]] * 19) + '], "label": 1}',
            "has 19 joints, expected 20",
        ),
        (
            '{"file_name": "a", "skeletons": [' + json.dumps([[0.1, "x", 0.3]] * 20) + '], "label": 1}',
            "non-numeric coordinate",
        ),
        (
            '{"file_name": "a", "skeletons": [' + json.dumps([[0.1, 0.3]] * 20) + '], "label": 1}',
            "is not 3 coordinates",
        ),
        ('{"file_name": "a", "skeletons": [], "label": 1}', "holds no frames"),
        ('{"file_name": "a", "label": 1}', "no 'skeletons' key"),
        (
            '{"file_name": "a", "skeletons": [' + json.dumps([[0.1, 0.2, 0.3]] * 20) + '], "label": 3}',
            "label 3 but train_split.json says 1",
        ),
    ],
)
def test_bad_clip_is_named_and_blocks_output_unless_skip_bad(raw, tmp_path, text, words):
    _write(raw, GOOD, text)
    with pytest.raises(DataFormatError, match="1 of 3 clips could not be read") as info:
        convert_ucla(raw, tmp_path / "out")
    assert words in str(info.value) and GOOD in str(info.value)
    assert not (tmp_path / "out" / "manifest.json").exists()
    report = convert_ucla(raw, tmp_path / "out", skip_bad=True)
    assert report.num_samples == 2 and words in report.bad[GOOD]


def test_missing_clip_file_and_bad_split_lists(raw, tmp_path):
    (raw / "all_sqe" / f"{GOOD}.json").unlink()
    report = convert_ucla(raw, tmp_path / "out", skip_bad=True)
    assert "cannot read" in report.bad[GOOD]
    (raw / "val_split.json").write_text('[{"file_name": "a02_s09_e04_v03", "length": 1, "label": 11}]')
    with pytest.raises(UclaFormatError, match=r"val_split.json: entry 0 .* label 11"):
        convert_ucla(raw, tmp_path / "out")
    (raw / "val_split.json").write_text('[{"file_name": "a12_s02_e01_v02", "length": 5, "label": 10}]')
    with pytest.raises(UclaFormatError, match="listed twice"):
        convert_ucla(raw, tmp_path / "out")
    with pytest.raises(UclaFormatError, match="no all_sqe"):
        convert_ucla(tmp_path, tmp_path / "out")


def test_cli_exit_codes(raw, tmp_path, capsys):
    args = ["gendata", "ucla", "--raw", str(raw), "--out", str(tmp_path / "out")]
    assert cli(args) == 0
    assert "wrote 3 clips" in capsys.readouterr().out
    _write(raw, GOOD, "")
    assert cli(args) == 2
    assert "empty file" in capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["num_samples"] == 3  # old output intact
    assert cli(args + ["--skip-bad"]) == 0
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["num_samples"] == 2
