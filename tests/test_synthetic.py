"""The built-in dataset (version 2): format, splits, determinism, nuisances and real temporal structure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ssl_skel.cli import main as cli
from ssl_skel.core.config import DataConfig
from ssl_skel.data import synthetic
from ssl_skel.data.datasets import build_dataset
from ssl_skel.data.layouts import NTU25
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError
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
    assert manifest["num_classes"] == len(synthetic.CLASSES) == 17
    assert manifest["class_names"][:2] == ["raise right hand", "lower right hand"]
    assert set(manifest["splits"]) == {"xsub", "xview"}
    assert manifest["source"]["seed"] == 3 and manifest["source"]["generator_version"] == synthetic.VERSION == 2
    data = np.load(small / "data.npy", mmap_mode="r")
    frames = np.load(small / "num_frames.npy")
    assert np.isfinite(data).all() and frames.min() >= 24 and frames.max() <= 64


def test_padding_origin_persons_and_distractors(small: Path) -> None:
    data = np.load(small / "data.npy")
    labels, frames = np.load(small / "labels.npy"), np.load(small / "num_frames.npy")
    two_person = {k for k, c in enumerate(synthetic.CLASSES) if c.persons == 2}
    assert len(two_person) >= 3
    distractors = 0
    for i in range(len(labels)):
        assert np.all(data[i, :, frames[i] :] == 0)
        np.testing.assert_allclose(data[i, :, 0, NTU25.centre, 0], 0.0, atol=1e-6)  # NTU-style origin
        second = np.abs(data[i, :, : frames[i], :, 1]).sum(axis=(0, 2))
        if labels[i] in two_person:
            assert np.all(second > 0)
        else:  # alone, or a bystander for the whole clip
            assert np.all(second == 0) or np.all(second > 0)
            distractors += bool(np.all(second > 0))
    single = int(np.sum(~np.isin(labels, list(two_person))))
    assert 0.05 * single < distractors < 0.4 * single  # DISTRACTOR_PROB = 0.2


def test_any_yaw_and_elevation(small: Path) -> None:
    """The actor faces any direction: the shoulder line's horizontal angle covers the circle."""
    data = np.load(small / "data.npy")
    shoulders = data[:, :, 0, 4, 0] - data[:, :, 0, 8, 0]  # left - right shoulder, frame 0, person 0
    angle = np.arctan2(shoulders[:, 2], shoulders[:, 0])
    counts, _ = np.histogram(angle, bins=8, range=(-np.pi, np.pi))
    assert counts.min() >= 5  # 204 clips over 8 sectors of 45 degrees


def test_bone_lengths_belong_to_the_subject(small: Path) -> None:
    """Rigid body model: a bone keeps its length over time (up to noise, spikes and drops), subjects differ."""
    data = np.load(small / "data.npy")
    frames = np.load(small / "num_frames.npy")
    names = (small / "names.txt").read_text().split()
    forearm = {}
    for i in range(len(names)):
        x = data[i, :, : frames[i], :, 0]
        length = np.linalg.norm(x[:, :, 6] - x[:, :, 5], axis=0)  # left wrist - left elbow
        median = np.median(length)
        assert np.median(np.abs(length - median)) < 0.2 * median  # sensor noise up to ~4 cm per axis
        forearm.setdefault(names[i][:4], []).append(median)
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


def test_an_old_version_folder_is_refused_with_the_command_to_regenerate(tmp_path: Path) -> None:
    root = synthetic.generate_dataset(tmp_path / "old", seed=0, clips_per_class=2, num_subjects=2)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["source"]["generator_version"] = 1
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataFormatError, match=r"version 1, this toolkit reads version 2; regenerate it: ssl-skel gen"):
        build_dataset(DataConfig(root=str(root), benchmark="xsub", clip_length=8), "train", train=False, seed=0)
    assert not synthetic.is_current(root, seed=0, clips_per_class=2, num_subjects=2)


def _invariant_features(data: np.ndarray, frames: np.ndarray, steps: int) -> np.ndarray:
    """Person 0's pairwise distances between 10 joints at `steps` times (1 = one random frame): blind to yaw
    and handedness (distances are rotation- and mirror-invariant up to the joint order, so sorted per frame)."""
    out = []
    rng = np.random.default_rng(0)
    keep = [0, 3, 5, 6, 9, 10, 13, 14, 17, 18]  # spine base, head, elbows, wrists, knees, ankles
    iu = np.triu_indices(len(keep), 1)
    for i in range(len(frames)):
        x = data[i, :, : frames[i], :, :1]
        if steps == 1:
            x = x[:, [int(rng.integers(frames[i]))]]
        else:
            x = resample(x, 0, frames[i], steps)
        p = x[..., 0].transpose(1, 2, 0)[:, keep]  # (T, 10, 3)
        d = np.linalg.norm(p[:, :, None] - p[:, None], axis=-1)[:, iu[0], iu[1]]
        out.append(np.sort(d, axis=1).ravel())
    return np.stack(out)


def test_whole_clips_carry_the_class_single_frames_do_not(medium: Path) -> None:
    """Logistic regression on view-invariant features, cross-subject: whole clips well above one frame."""
    data = np.load(medium / "data.npy")
    labels, frames = np.load(medium / "labels.npy"), np.load(medium / "num_frames.npy")
    train, test = np.load(medium / "splits/xsub_train.npy"), np.load(medium / "splits/xsub_test.npy")
    scores = {}
    for kind, steps in (("clip", 8), ("frame", 1)):
        x = _invariant_features(data, frames, steps)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))
        model.fit(x[train], labels[train])
        scores[kind] = model.score(x[test], labels[test])
    assert scores["clip"] - scores["frame"] > 0.2, scores
    assert scores["clip"] > 0.5 > scores["frame"], scores


def test_command_line_prints_summary_and_skips_a_current_folder(tmp_path: Path, capsys) -> None:
    argv = ["gendata", "synthetic", "--out", str(tmp_path / "d"), "--clips-per-class", "1", "--num-subjects", "2"]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert "17 clips, 17 classes" in out and "xsub: train" in out and "handshake" in out
    assert cli([*argv, "--if-stale"]) == 0
    assert "is up to date" in capsys.readouterr().out
    assert cli([*argv[:-1], "3", "--if-stale"]) == 0  # other settings: regenerated
    assert "wrote" in capsys.readouterr().out
