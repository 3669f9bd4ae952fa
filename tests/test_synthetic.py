"""The built-in dataset: format, splits, determinism, and real temporal structure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ssl_skel.data import synthetic
from ssl_skel.data.layouts import NTU25
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.transforms import resample


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.generate_dataset(
        tmp_path_factory.mktemp("syn") / "small", seed=3, clips_per_class=12, num_subjects=4
    )


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.generate_dataset(
        tmp_path_factory.mktemp("syn") / "medium", seed=1, clips_per_class=60, num_subjects=10
    )


def test_manifest_and_shapes(small: Path) -> None:
    manifest = json.loads((small / "manifest.json").read_text())
    assert manifest["layout"] == "ntu25" and manifest["shape"] == [12 * 17, 3, 64, 25, 2]
    assert manifest["num_classes"] == len(synthetic.CLASSES) == 17 >= 12
    assert manifest["class_names"][:2] == ["raise right hand", "lower right hand"]
    assert set(manifest["splits"]) == {"xsub", "xview"}
    assert manifest["source"]["seed"] == 3
    data = np.load(small / "data.npy", mmap_mode="r")
    frames = np.load(small / "num_frames.npy")
    assert np.isfinite(data).all() and frames.min() >= 24 and frames.max() <= 64


def test_padding_zero_origin_and_persons(small: Path) -> None:
    data = np.load(small / "data.npy")
    labels, frames = np.load(small / "labels.npy"), np.load(small / "num_frames.npy")
    two_person = {k for k, c in enumerate(synthetic.CLASSES) if c.persons == 2}
    assert len(two_person) >= 3
    for i in range(len(labels)):
        assert np.all(data[i, :, frames[i] :] == 0)
        np.testing.assert_allclose(data[i, :, 0, NTU25.centre, 0], 0.0, atol=1e-6)  # NTU-style origin
        second = np.abs(data[i, :, : frames[i], :, 1]).sum(axis=(0, 2))
        if labels[i] in two_person:
            assert np.all(second > 0)
        else:
            assert np.all(second == 0)


def test_bone_lengths_belong_to_the_subject(small: Path) -> None:
    """Rigid body model: a bone keeps its length over time (up to sensor noise), subjects differ."""
    data = np.load(small / "data.npy")
    frames = np.load(small / "num_frames.npy")
    names = (small / "names.txt").read_text().split()
    forearm = {}
    for i in range(len(names)):
        x = data[i, :, : frames[i], :, 0]
        length = np.linalg.norm(x[:, :, 6] - x[:, :, 5], axis=0)  # left wrist - left elbow
        assert length.std() < 0.15 * length.mean()
        forearm.setdefault(names[i][:4], []).append(length.mean())
    means = sorted(np.mean(v) for v in forearm.values())
    assert len(means) == 4 and means[-1] - means[0] > 0.01


def test_splits_follow_subject_and_camera(small: Path) -> None:
    names = (small / "names.txt").read_text().split()
    parsed = [re.fullmatch(r"S(\d{3})C(\d{3})A(\d{3})R(\d{4})", n) for n in names]
    assert all(parsed)
    subject = np.array([int(p.group(1)) for p in parsed])
    camera = np.array([int(p.group(2)) for p in parsed])
    for bench, key, train_of in (("xsub", subject, lambda s: s % 2 == 1), ("xview", camera, lambda c: c != 1)):
        train, test = open_arrays(small, bench, "train"), open_arrays(small, bench, "test")
        assert len(train) + len(test) == len(names)
        assert np.all(train_of(key[train.indices])) and not np.any(train_of(key[test.indices]))
        assert set(train.split_labels) == set(test.split_labels) == set(range(17))


def test_seed_fixes_the_dataset(tmp_path: Path) -> None:
    a = synthetic.generate_dataset(tmp_path / "a", seed=5, clips_per_class=2, num_subjects=2)
    b = synthetic.generate_dataset(tmp_path / "b", seed=5, clips_per_class=2, num_subjects=2)
    c = synthetic.generate_dataset(tmp_path / "c", seed=6, clips_per_class=2, num_subjects=2)
    for name in ("data.npy", "labels.npy", "num_frames.npy", "names.txt"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert not np.array_equal(np.load(a / "data.npy"), np.load(c / "data.npy"))


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="clips_per_class"):
        synthetic.generate_dataset(tmp_path / "x", clips_per_class=0)
    with pytest.raises(ValueError, match="max_frames"):
        synthetic.generate_dataset(tmp_path / "x", max_frames=10)


def _clip_features(data: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Each clip's valid frames resampled to 8, as stored (centred on the first frame)."""
    return np.stack([resample(data[i, :, : frames[i]], 0, frames[i], 8).ravel() for i in range(len(frames))])


def _frame_features(data: np.ndarray, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random valid frame per clip, each person centred on person 0's centre joint (pose only)."""
    out = []
    for i in range(len(frames)):
        f = data[i, :, rng.integers(frames[i])]  # (C, V, M)
        present = np.abs(f).sum(axis=(0, 1), keepdims=True) > 0
        out.append(np.where(present, f - f[:, NTU25.centre : NTU25.centre + 1, :1], 0.0).ravel())
    return np.stack(out)


def test_whole_clips_give_the_class_away_single_frames_do_not(medium: Path) -> None:
    """Logistic regression, cross-subject: clips ~100%, one frame < 60%, chance 1/17 = 6%."""
    data = np.load(medium / "data.npy")
    labels, frames = np.load(medium / "labels.npy"), np.load(medium / "num_frames.npy")
    train, test = np.load(medium / "splits/xsub_train.npy"), np.load(medium / "splits/xsub_test.npy")
    scores = {}
    for kind, x in (
        ("clip", _clip_features(data, frames)),
        ("frame", _frame_features(data, frames, np.random.default_rng(0))),
    ):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))
        model.fit(x[train], labels[train])
        scores[kind] = model.score(x[test], labels[test])
    chance = 1 / len(synthetic.CLASSES)
    assert scores["clip"] > 0.9 > 10 * chance
    assert scores["frame"] < 0.6
    assert scores["clip"] - scores["frame"] > 0.3


def test_command_line_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert synthetic.main(["--out", str(tmp_path / "d"), "--clips-per-class", "1", "--num-subjects", "2"]) == 0
    out = capsys.readouterr().out
    assert "17 clips, 17 classes" in out and "xsub: train" in out and "handshake" in out
