"""Denoising, splits, centring/alignment and the NTU converter end to end (CLI included)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.cli import main as cli
from ssl_skel.data.formats import ntu_meta
from ssl_skel.data.formats.denoise import body_motion, denoise
from ssl_skel.data.formats.normalise import align_view, centre, view_rotation
from ssl_skel.data.formats.ntu import (
    benchmark_part,
    convert_ntu,
    list_raw_files,
    make_splits,
    read_missing_list,
)
from ssl_skel.data.formats.ntu_skeleton import BodyFrame, SkeletonFile, parse_sample_name
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError

FIXTURES = Path(__file__).parent / "fixtures" / "ntu"


def _upright(offset: float = 0.0, sway: float = 0.0) -> np.ndarray:
    """(25, 3) body 1.7 m tall, 0.4 m wide: x spread well below 0.8 * y spread."""
    xyz = np.zeros((25, 3))
    xyz[:, 1] = np.linspace(0.0, 1.7, 25)
    xyz[:, 0] = offset + sway + np.tile([-0.2, 0.2], 13)[:25]
    xyz[:, 2] = 3.0
    return xyz


def _lying(offset: float = 0.0) -> np.ndarray:
    """(25, 3) a flat wide shape: x spread 2 m, y spread 0.2 m."""
    xyz = _upright(offset)
    xyz[:, 0], xyz[:, 1] = offset + np.linspace(0, 2.0, 25), np.linspace(0, 0.2, 25)
    return xyz


def _frame(body_id: int, xyz: np.ndarray, tracked: bool = True) -> BodyFrame:
    joints = np.zeros((25, 12))
    joints[:, :3] = xyz
    joints[:, 11] = 2 if tracked else 0
    return BodyFrame(body_id, 0, 0, 0, 0, 0, 0, (0.0, 0.0), 2, joints)


def _file(frames: list[list[BodyFrame]]) -> SkeletonFile:
    return SkeletonFile(Path("S001C001P001R001A050.skeleton"), frames)


def test_motion_is_summed_variance_of_all_joint_positions():
    joints = np.zeros((2, 25, 3))
    joints[1, :, 0] = 2.0  # x: half the values 0, half 2 -> variance 1
    assert body_motion(joints) == pytest.approx(1.0)


def test_short_body_is_dropped_and_single_actor_leaves_second_zero():
    frames = [
        [_frame(1, _upright(0, 0.01 * t))] + ([_frame(2, _upright(1, 0.3 * t))] if t < 11 else []) for t in range(30)
    ]
    out = denoise(_file(frames))
    assert 2 in out.dropped and "tracked for 11 frames" in out.dropped[2]
    assert out.actors.shape == (2, 30, 25, 3)
    assert out.actor_ids == [[1], []]
    assert not out.actors[1].any()
    np.testing.assert_allclose(out.actors[0, 5], _upright(0, 0.05), atol=1e-6)


def test_implausible_spread_body_is_dropped():
    frames = [[_frame(1, _upright(0, 0.01 * t)), _frame(2, _lying(3.0 + 0.01 * t))] for t in range(20)]
    out = denoise(_file(frames))
    assert set(out.dropped) == {2} and "x spread" in out.dropped[2]
    assert out.actor_ids[0] == [1] and not out.actors[1].any()


def test_mostly_missing_joints_body_is_dropped():
    frames = [[_frame(1, _upright(0)), _frame(2, _upright(1, 0.2 * (t % 2)), tracked=False)] for t in range(20)]
    out = denoise(_file(frames))
    assert "joints missing" in out.dropped[2]


def test_two_actors_ordered_by_motion():
    # body 7 appears first but moves less than body 9: body 9 becomes actor 1
    frames = [[_frame(7, _upright(0, 0.001 * t)), _frame(9, _upright(1.5, 0.05 * t))] for t in range(20)]
    out = denoise(_file(frames))
    assert out.actor_ids == [[9], [7]] and not out.dropped
    np.testing.assert_allclose(out.actors[0, 10], _upright(1.5, 0.5), atol=1e-6)
    np.testing.assert_allclose(out.actors[1, 10], _upright(0, 0.01), atol=1e-6)


def test_id_switch_is_joined_on_actor_one_and_empty_frames_removed():
    # the tracker renames the actor at frame 15; frame 20 has no body; 3 bodies never overlap both actors
    frames = [[_frame(1 if t < 15 else 2, _upright(0, 0.02 * t))] if t != 20 else [] for t in range(40)]
    out = denoise(_file(frames))
    assert out.num_frames == 39  # the empty frame is gone
    assert out.actor_ids[0] == [2, 1] or out.actor_ids[0] == [1, 2]
    assert not out.actors[1].any()


def test_third_overlapping_body_is_dropped():
    frames = [
        [_frame(1, _upright(0, 0.05 * t)), _frame(2, _upright(1, 0.04 * t)), _frame(3, _upright(2, 0.03 * t))]
        for t in range(20)
    ]
    out = denoise(_file(frames))
    assert out.actor_ids == [[1], [2]] and out.dropped == {3: "overlaps both actors"}


def test_last_body_is_never_filtered():
    frames = [[_frame(4, _lying())] for _ in range(5)]  # short and implausible, but alone
    out = denoise(_file(frames))
    assert out.actor_ids == [[4], []] and out.num_frames == 5


def test_centre_and_view_alignment():
    actors = np.zeros((2, 3, 25, 3), np.float32)
    actors[0] = _upright(0.5)[None] + np.array([0, 0, 1.0])
    actors[1, 1:] = 2.0  # actor 2 missing in frame 0: stays zero after centring
    c = centre(actors, joint=1)
    np.testing.assert_allclose(c[0, 0, 1], 0.0)
    np.testing.assert_allclose(c[1, 2, 0], 2.0 - actors[0, 0, 1])
    assert not c[1, 0].any()
    body = np.zeros((1, 1, 25, 3), np.float32)
    body[0, 0, 1] = [0, 0, 1.0]  # spine: along +z already -> rotation maps shoulders to x
    body[0, 0, 8], body[0, 0, 4] = [0, -0.2, 0.5], [0, 0.2, 0.5]  # right -> left shoulder along +y
    rot = view_rotation(body)
    np.testing.assert_allclose(rot @ [0, 1.0, 0], [1, 0, 0], atol=1e-9)
    aligned = align_view(body)
    np.testing.assert_allclose(aligned[0, 0, 4] - aligned[0, 0, 8], [0.4, 0, 0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(aligned, axis=-1), np.linalg.norm(body, axis=-1), atol=1e-6)
    assert view_rotation(np.zeros((1, 2, 25, 3))) is None


def test_split_membership_by_ids():
    assert benchmark_part(parse_sample_name("S001C001P001R001A001"), "xsub") == "train"
    assert benchmark_part(parse_sample_name("S001C001P003R001A001"), "xsub") == "test"
    assert benchmark_part(parse_sample_name("S020C001P103R001A001"), "xsub") == "train"
    assert benchmark_part(parse_sample_name("S020C001P106R001A001"), "xsub") == "test"
    assert benchmark_part(parse_sample_name("S001C001P001R001A001"), "xview") == "test"
    assert benchmark_part(parse_sample_name("S001C002P003R001A001"), "xview") == "train"
    assert benchmark_part(parse_sample_name("S001C003P003R001A001"), "xview") == "train"
    assert benchmark_part(parse_sample_name("S032C001P003R001A001"), "xset") == "train"
    assert benchmark_part(parse_sample_name("S031C001P003R001A001"), "xset") == "test"
    names = ["S001C001P001R001A001", "S002C002P003R001A002", "S003C003P038R002A003"]
    assert make_splits(names, "ntu60") == {
        "xsub": {"train": [0, 2], "test": [1]},
        "xview": {"train": [1, 2], "test": [0]},
    }
    assert make_splits(names, "ntu120") == {
        "xsub": {"train": [0, 2], "test": [1]},
        "xset": {"train": [1], "test": [0, 2]},
    }
    assert len(ntu_meta.XSUB_TRAIN_SUBJECTS) == 53 and len(ntu_meta.XSET_TRAIN_SETUPS) == 16


def test_missing_list_file_and_builtin(tmp_path):
    path = tmp_path / "missing.txt"
    path.write_text(
        "2 of the samples have missing skeletons.\nIgnore them.\n\nS001C002P005R002A008\nS001C002P006R001A008\n"
    )
    assert read_missing_list(path) == {"S001C002P005R002A008", "S001C002P006R001A008"}
    assert "S001C002P005R002A008" in ntu_meta.MISSING_SAMPLES and len(ntu_meta.MISSING_SAMPLES) == 535
    (tmp_path / "empty.txt").write_text("header only\n")
    with pytest.raises(DataFormatError, match="no sample names"):
        read_missing_list(tmp_path / "empty.txt")


def _raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw" / "nturgb+d_skeletons"
    raw.mkdir(parents=True)
    for f in FIXTURES.glob("*.skeleton"):
        shutil.copy(f, raw / f.name)
    shutil.copy(
        FIXTURES / "S002C002P003R001A012.skeleton", raw / "S001C002P005R002A008.skeleton"
    )  # on the missing list
    shutil.copy(FIXTURES / "S002C002P003R001A012.skeleton", raw / "S018C001P050R001A100.skeleton")  # NTU-120 only
    return raw


def test_list_raw_files_skips_missing_and_other_dataset(tmp_path):
    raw = _raw(tmp_path)
    files, skipped = list_raw_files(raw.parent, "ntu60", set(ntu_meta.MISSING_SAMPLES))
    assert [f.stem for f in files] == ["S002C002P003R001A012", "S003C001P004R002A051"] and skipped == 1
    files, _ = list_raw_files(raw, "ntu120", set())
    assert len(files) == 4
    with pytest.raises(DataFormatError, match="not found"):
        list_raw_files(tmp_path / "nope", "ntu60", set())


def test_convert_writes_centred_arrays_labels_and_splits(tmp_path):
    raw = _raw(tmp_path)
    report = convert_ntu(raw, tmp_path / "out", dataset="ntu60", progress=False)
    assert report.num_samples == 2 and report.skipped_missing == 1 and report.parsed == 2
    arrays = open_arrays(tmp_path / "out", "xsub", "test")
    assert arrays.data.shape == (2, 3, 300, 25, 2) and arrays.data.dtype == np.float32
    assert arrays.names == ["S002C002P003R001A012", "S003C001P004R002A051"]
    assert arrays.labels.tolist() == [11, 50] and arrays.num_frames.tolist() == [2, 2]
    assert arrays.indices.tolist() == [0]  # performer 3 is a test subject, performer 4 a training one
    assert arrays.class_names[11] == "writing" and arrays.num_classes == 60
    data = arrays.data
    # one-body file: joint 2 (spine mid) of frame 1 is the origin; frame 2 moved +0.1 in x
    np.testing.assert_allclose(data[0, :, 0, 1, 0], 0, atol=1e-6)
    np.testing.assert_allclose(data[0, :, 1, 1, 0], [0.1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(data[0, :, 0, 0, 0], [-0.01, -0.02, -0.001], atol=1e-6)
    assert not data[0, :, 2:].any() and not data[0, ..., 1].any()
    # two-body file: the empty frame is dropped; both bodies are short, body 11 (1 frame) is
    # dropped first and body 12, the last one left, is kept as actor 1
    np.testing.assert_allclose(data[1, :, 1, 1, 0], [0.2, 0, 0], atol=1e-6)
    assert not data[1, ..., 1].any()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["splits"] == {"xsub": {"train": 1, "test": 1}, "xview": {"train": 1, "test": 1}}
    assert manifest["source"]["skipped_missing_list"] == 1 and manifest["source"]["align_view"] is False


def _bad_copy(raw: Path) -> None:
    text = (FIXTURES / "S002C002P003R001A012.skeleton").read_bytes()
    (raw / "S001C001P001R001A001.skeleton").write_bytes(text[:300])  # truncated
    (raw / "S001C001P001R001A002.skeleton").write_bytes(b"")  # empty


def test_cli_bad_files_exit_nonzero_keep_good_work_then_skip_bad(tmp_path, capsys):
    raw = _raw(tmp_path)
    _bad_copy(raw)
    out = tmp_path / "out"
    args = ["gendata", "ntu", "--raw", str(raw), "--out", str(out), "--dataset", "ntu60", "--no-progress"]
    assert cli(args) == 2
    err = capsys.readouterr().err
    assert "2 of 4 files could not be read" in err and "--skip-bad" in err
    assert not (out / "manifest.json").exists()  # nothing published
    assert sorted(p.name for p in (out / ".cache").glob("*.npz")) == [
        "S002C002P003R001A012.npz",
        "S003C001P004R002A051.npz",
    ]
    assert cli(args + ["--skip-bad"]) == 0
    assert "2 from cache" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["num_samples"] == 2
    assert "empty file" in manifest["source"]["bad_files"]["S001C001P001R001A002"]
    assert "truncated" in manifest["source"]["bad_files"]["S001C001P001R001A001"]


def test_failed_rerun_leaves_previous_output_intact(tmp_path):
    raw = _raw(tmp_path)
    out = tmp_path / "out"
    convert_ntu(raw, out, dataset="ntu60", progress=False)
    before = (out / "data.npy").read_bytes()
    _bad_copy(raw)
    with pytest.raises(DataFormatError, match="no output was written"):
        convert_ntu(raw, out, dataset="ntu60", progress=False)
    assert (out / "manifest.json").exists() and (out / "data.npy").read_bytes() == before


def test_resume_skips_cached_and_reparses_changed_files(tmp_path):
    raw = _raw(tmp_path)
    out = tmp_path / "out"
    first = convert_ntu(raw, out, dataset="ntu60", progress=False, workers=2)
    assert (first.parsed, first.from_cache) == (2, 0)
    second = convert_ntu(raw, out, dataset="ntu60", progress=False, workers=2)
    assert (second.parsed, second.from_cache) == (0, 2)
    changed = raw / "S003C001P004R002A051.skeleton"
    changed.write_bytes(changed.read_bytes() + b"\r\n")  # size changes -> stale cache entry
    third = convert_ntu(raw, out, dataset="ntu60", progress=False)
    assert (third.parsed, third.from_cache) == (1, 1)


def test_align_view_flag_is_recorded(tmp_path):
    raw = _raw(tmp_path)
    assert (
        cli(
            [
                "gendata",
                "ntu",
                "--raw",
                str(raw),
                "--out",
                str(tmp_path / "o"),
                "--dataset",
                "ntu120",
                "--align-view",
                "--no-progress",
                "--missing",
                str(tmp_path / "absent.txt"),
            ]
        )
        == 2
    )
    assert (
        cli(
            [
                "gendata",
                "ntu",
                "--raw",
                str(raw),
                "--out",
                str(tmp_path / "o"),
                "--dataset",
                "ntu120",
                "--align-view",
                "--no-progress",
            ]
        )
        == 0
    )
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["source"]["align_view"] is True and manifest["num_samples"] == 3
    assert manifest["splits"]["xset"] == {"train": 2, "test": 1}  # S002, S018 even; S003 odd


def test_gendata_synthetic_subcommand(tmp_path, capsys):
    out = tmp_path / "syn"
    assert cli(["gendata", "synthetic", "--out", str(out), "--seed", "3", "--clips-per-class", "1"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    arrays = open_arrays(out, "xsub", "train")
    assert arrays.layout == "ntu25" and arrays.data.shape[0] == arrays.num_classes  # one clip per class
    with pytest.raises(SystemExit):
        cli(["gendata", "synthetic", "--out", str(out), "--clips-per-class", "0"])
