"""`gendata arrays`: every input kind, bad clips named with the reason, splits, joint orders, resuming."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from layout_samples import write_lab5

from ssl_skel.cli import main as cli
from ssl_skel.data.formats.arrays import convert_arrays
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError

OPTS = {"centre": "first"}


def _clip(seed: int, t: int, m: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (t, 5, 3) if m is None else (m, t, 5, 3)
    return (rng.normal(size=shape) + 1.0).astype(np.float32)


def _table(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _layout(tmp_path: Path) -> Path:
    return write_lab5(tmp_path)


def _centred(raw: np.ndarray) -> np.ndarray:
    a = raw if raw.ndim == 4 else raw[None]
    return a - a[0, 0, 1]  # person 1's spine in frame 0


def test_every_clip_file_kind(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    a, b, c, d = _clip(0, 6), _clip(1, 4, m=2), _clip(2, 5), _clip(3, 3)
    np.save(clips / "a.npy", a)
    np.savez(clips / "b.npz", data=b)
    np.savetxt(
        clips / "c.csv",
        np.c_[np.arange(5), c.reshape(5, -1)],
        delimiter=",",
        header="frame," + ",".join(f"v{i}" for i in range(15)),
        comments="",
    )
    (clips / "d.json").write_text(json.dumps({"keypoints": d.tolist()}))
    rows = [
        {"clip": "a", "label": "walk", "split": "train"},
        {"clip": "b.npz", "label": "run", "split": "test"},
        {"clip": "c", "label": "walk", "split": "val"},
        {"clip": "d", "label": "run", "split": "train"},
    ]
    report = convert_arrays(
        clips,
        tmp_path / "out",
        table=_table(tmp_path / "t.csv", rows),
        layout=_layout(tmp_path),
        **OPTS,
        progress=False,
    )
    assert report.shape == (4, 3, 6, 5, 2) and report.splits == {"default": {"train": 2, "test": 2}}
    train, test = (open_arrays(tmp_path / "out", "default", p) for p in ("train", "test"))
    assert train.class_names == ["run", "walk"] and train.layout == "lab5"
    assert train.skeleton.joint_names[2] == "head"  # the declaration travels in the manifest
    assert [train.names[i] for i in train.indices] == ["a", "d"] and train.split_labels.tolist() == [1, 0]
    for arrays, pos, raw in ((train, 0, a), (train, 1, d), (test, 0, b), (test, 1, c)):
        clip, _, length = arrays.clip(pos)
        want = _centred(raw).transpose(3, 1, 2, 0)
        assert length == want.shape[1]
        np.testing.assert_allclose(clip[:, :length, :, : want.shape[3]], want, rtol=1e-5, atol=1e-5)
        assert not clip[:, length:].any() and not clip[..., want.shape[3] :].any()  # zero padding
    assert train.preprocess["centre"] == "first" and train.preprocess["missing"] == "bad"


def _bad_folder(tmp_path: Path) -> tuple[Path, Path]:
    clips = tmp_path / "clips"
    clips.mkdir()
    np.save(clips / "good.npy", _clip(0, 4))
    np.save(clips / "good2.npy", _clip(1, 4))
    np.save(clips / "shape.npy", np.zeros((4, 7, 3), np.float32))
    nan = _clip(2, 4)
    nan[2, 3, 0] = np.nan
    np.save(clips / "nan.npy", nan)
    np.save(clips / "label.npy", _clip(3, 4))
    np.save(clips / "nosplit.npy", _clip(4, 4))
    rows = [
        {"clip": "good", "label": "walk", "split": "train"},
        {"clip": "good2", "label": "run", "split": "test"},
        {"clip": "shape", "label": "walk", "split": "train"},
        {"clip": "nan", "label": "walk", "split": "train"},
        {"clip": "label", "label": "dance", "split": "train"},
        {"clip": "nosplit", "label": "run", "split": ""},
        {"clip": "absent", "label": "run", "split": "test"},
    ]
    return clips, _table(tmp_path / "t.csv", rows)


def test_bad_clips_are_named_with_the_reason(tmp_path, caplog):
    clips, table = _bad_folder(tmp_path)
    kw = dict(table=table, layout=_layout(tmp_path), classes="walk,run", **OPTS, progress=False)
    with pytest.raises(DataFormatError, match=r"5 of 7 clips could not be read .* no output was written"):
        convert_arrays(clips, tmp_path / "out", **kw)
    assert not (tmp_path / "out" / "manifest.json").exists()  # nothing half-written
    log = caplog.text
    assert "shape.npy: shape (4, 7, 3): 7 joints, layout lab5 has 5" in log
    assert "nan.npy: 1 missing (NaN) joint values, first at person 0 frame 2 joint 'left_hip'" in log
    assert "clip 'label': unknown label 'dance' (classes: walk, run)" in log
    assert "clip 'nosplit': missing split (column 'split' is empty)" in log
    assert "clip 'absent': no clip file absent{.npy,.npz,.csv,.json}" in log
    report = convert_arrays(clips, tmp_path / "out", skip_bad=True, **kw)
    assert report.num_samples == 2 and set(report.bad) == {"shape", "nan", "label", "nosplit", "absent"}
    filled = convert_arrays(clips, tmp_path / "out2", skip_bad=True, **{**kw, "missing": "fill"})
    assert filled.num_samples == 3 and filled.filled == 1  # the NaN joint interpolated in time


def test_cli_exit_status_and_required_centre(tmp_path, capsys):
    clips, table = _bad_folder(tmp_path)
    base = [
        "gendata",
        "arrays",
        "--folder",
        str(clips),
        "--table",
        str(table),
        "--layout",
        str(_layout(tmp_path)),
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
    ]
    with pytest.raises(SystemExit):  # normalisation is an explicit choice
        cli(base)
    assert cli([*base, "--centre", "none"]) == 2
    assert "could not be read" in capsys.readouterr().err
    assert cli([*base, "--centre", "none", "--skip-bad"]) == 0
    assert "wrote 3 clips" in capsys.readouterr().out  # 'label' is fine without --classes


def test_train_on_groups_folds_and_one_array(tmp_path):
    data = np.stack([_clip(i, 4) for i in range(6)])  # (N, T, V, C)
    data[1, 3:] = np.nan  # clip 1 is 3 frames long, padded with NaN
    subject = np.array([1, 2, 3, 1, 2, 3])
    np.savez(tmp_path / "all.npz", data=data, labels=np.array([0, 1, 0, 1, 0, 1]), subject=subject)
    r = convert_arrays(
        tmp_path / "all.npz",
        tmp_path / "x",
        layout=_layout(tmp_path),
        **OPTS,
        train_on=("subject", ("1", "2")),
        benchmark="xsub",
        progress=False,
    )
    assert r.splits == {"xsub": {"train": 4, "test": 2}}
    test = open_arrays(tmp_path / "x", "xsub", "test")
    assert test.indices.tolist() == [2, 5] and test.num_frames.tolist()[1] == 3
    assert test.class_names is None and test.num_classes == 2  # integer labels kept as they are
    folds = convert_arrays(
        tmp_path / "all.npz",
        tmp_path / "f",
        layout=_layout(tmp_path),
        **OPTS,
        split_column=None,
        folds="subject",
        progress=False,
    )
    assert folds.splits == {f"fold{k}": {"train": 4, "test": 2} for k in (1, 2, 3)}
    np.save(tmp_path / "all.npy", np.nan_to_num(data))
    rows = [{"name": f"c{i}", "label": "ab"[i % 2], "split": "train" if i < 4 else "test"} for i in range(6)]
    one = convert_arrays(
        tmp_path / "all.npy",
        tmp_path / "n",
        table=_table(tmp_path / "t.csv", rows),
        layout=_layout(tmp_path),
        centre="none",
        progress=False,
    )
    arrays = open_arrays(tmp_path / "n", "default", "test")
    assert one.num_samples == 6 and arrays.names[5] == "c5"
    np.testing.assert_array_equal(arrays.clip(1)[0][..., 0], np.nan_to_num(data[5]).transpose(2, 0, 1))


def test_joint_order_maps_a_permuted_file_onto_the_layout(tmp_path):
    declared, permuted = tmp_path / "declared", tmp_path / "permuted"
    declared.mkdir()
    permuted.mkdir()
    order = [2, 0, 4, 1, 3]  # file position i holds declared joint order[i]
    names = ["head", "pelvis", "right_hip", "spine", "left_hip"]
    for i in range(3):
        clip = _clip(i, 5, m=2)
        np.save(declared / f"c{i}.npy", clip)
        np.save(permuted / f"c{i}.npy", clip[:, :, order])
    rows = [{"clip": f"c{i}", "label": "ab"[i % 2], "split": "train" if i else "test"} for i in range(3)]
    table = _table(tmp_path / "t.csv", rows)
    common = dict(table=table, layout=_layout(tmp_path), centre="frame", scale="rms", progress=False)
    convert_arrays(declared, tmp_path / "a", **common)
    convert_arrays(permuted, tmp_path / "b", joint_order=",".join(names), **common)
    convert_arrays(permuted, tmp_path / "c", joint_order=order, **common)  # indices work too
    for other in ("b", "c"):
        np.testing.assert_array_equal(np.load(tmp_path / other / "data.npy"), np.load(tmp_path / "a" / "data.npy"))


def test_layout_must_be_given_when_ambiguous_and_resume(tmp_path, caplog):
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(2):
        np.save(clips / f"c{i}.npy", np.random.default_rng(i).normal(size=(4, 17, 2)).astype(np.float32))
    table = _table(
        tmp_path / "t.csv", [{"clip": f"c{i}", "label": "x", "split": ["train", "test"][i]} for i in range(2)]
    )
    with pytest.raises(DataFormatError, match=r"17 2D joints fits several layouts \(coco17, h36m17\)"):
        convert_arrays(clips, tmp_path / "o", table=table, **OPTS, progress=False)
    first = convert_arrays(clips, tmp_path / "o", table=table, layout="coco17", **OPTS, progress=False)
    again = convert_arrays(clips, tmp_path / "o", table=table, layout="coco17", **OPTS, progress=False)
    assert (first.from_cache, again.from_cache) == (0, 2)  # resumed from the per-clip cache
    other = convert_arrays(clips, tmp_path / "o", table=table, layout="coco17", centre="none", progress=False)
    assert other.from_cache == 0  # other options: prepared again


def test_openpose_frame_folders(tmp_path, caplog):
    import logging

    clips = tmp_path / "clips"
    rng = np.random.default_rng(0)
    for name, counts in (("jump", [1, 2, 1]), ("wave", [1, 1])):
        (clips / name).mkdir(parents=True)
        for t, n in enumerate(counts):
            people = []
            for k in range(n):
                kp = np.c_[rng.uniform(100, 200, (25, 2)), np.full(25, 0.9 - 0.5 * k)]
                kp[3] = 0  # an undetected joint: 0, 0, 0
                people.append({"pose_keypoints_2d": kp.ravel().tolist()})
            (clips / name / f"{name}_{t:012d}_keypoints.json").write_text(
                json.dumps({"version": 1.3, "people": people})
            )
    table = _table(
        tmp_path / "t.csv",
        [{"clip": "jump", "label": "jump", "split": "train"}, {"clip": "wave", "label": "wave", "split": "test"}],
    )
    opts = {"centre": "first", "score": True, "zero_missing": True, "missing": "fill"}
    with caplog.at_level(logging.INFO):
        r = convert_arrays(clips, tmp_path / "out", table=table, **opts, progress=False)
    assert "assuming layout openpose25" in caplog.text  # the only 2D layout with 25 joints, said out loud
    # joint 3 filled in each person-frame: 3 + 1 (jump, the second person's from its other joints) + 2 (wave)
    assert r.shape == (2, 3, 3, 25, 2) and r.filled == 6
    data = np.load(tmp_path / "out" / "data.npy")
    assert data[0, 2, 1, 0, 1] == pytest.approx(0.4)  # the second person (lower confidence) in frame 1 only
    assert not data[0, :, [0, 2], :, 1].any()  # absent in the frames without them
    np.testing.assert_allclose(data[:, :2, 0, 1, 0], 0, atol=1e-4)  # the neck of the first frame is the origin
