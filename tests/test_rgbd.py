"""RGB-D frame reading (sampling, cropping, errors naming the sample) and the renderer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_skel.data.storage import DataFormatError, write_arrays
from ssl_skel.fusion.rgbd import (
    RGBDDataConfig,
    build_rgbd_dataset,
    crop_box,
    list_frames,
    read_depth_frames,
    read_rgb_frames,
    sample_frame_indices,
)
from ssl_skel.fusion.synthetic_rgbd import render_rgbd, text_embeddings


def test_sample_frame_indices_segments():
    # 10 frames in 4 segments of 2.5 frames: centres 1.25, 3.75, 6.25, 8.75
    assert sample_frame_indices(10, 4, None).tolist() == [1, 3, 6, 8]
    assert sample_frame_indices(2, 4, None).tolist() == [0, 0, 1, 1]  # short clips repeat
    picks = sample_frame_indices(10, 4, np.random.default_rng(0))
    assert all(lo <= p < hi for p, lo, hi in zip(picks, [0, 2, 5, 7], [3, 5, 8, 10]))
    with pytest.raises(ValueError):
        sample_frame_indices(0, 4, None)


def test_crop_box_centre_and_random():
    assert crop_box(40, 20, 0.5, None) == (15, 5, 25, 15)
    left, top, right, bottom = crop_box(40, 20, 0.5, np.random.default_rng(1))
    assert right - left == bottom - top == 10 and 0 <= left <= 30 and 0 <= top <= 10


def _write_frames(folder, values, depth=False):
    folder.mkdir(parents=True)
    for i, v in enumerate(values):
        if depth:
            Image.fromarray(np.full((8, 8), v, np.uint16)).save(folder / f"MDepth-{i:08d}.png")
        else:
            Image.fromarray(np.full((8, 8, 3), v, np.uint8)).save(folder / f"{i:06d}.png")


def test_read_frames_values_and_shapes(tmp_path):
    _write_frames(tmp_path / "rgb", [0, 255])
    _write_frames(tmp_path / "depth", [1000, 4500], depth=True)
    files = list_frames(tmp_path / "rgb", "S1", "RGB", (".png",))
    rgb = read_rgb_frames(files, "S1", 4, box=(0, 0, 4, 4))
    assert rgb.shape == (3, 2, 4, 4) and rgb[:, 0].max() == 0.0 and rgb[:, 1].min() == 1.0
    depth = read_depth_frames(list_frames(tmp_path / "depth", "S1", "depth", (".png",)), "S1", 4, 4500.0)
    assert depth.shape == (1, 2, 4, 4)
    assert np.allclose(depth[0, 0], 1000 / 4500) and np.allclose(depth[0, 1], 1.0)


def test_bad_and_missing_frames_name_the_sample(tmp_path):
    with pytest.raises(DataFormatError, match=r"sample S007: RGB frame folder .*nowhere not found"):
        list_frames(tmp_path / "nowhere", "S007", "RGB", (".jpg",))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="sample S008: .* holds no"):
        list_frames(tmp_path / "empty", "S008", "RGB", (".jpg",))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "000000.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataFormatError, match=r"sample S009: cannot decode RGB frame .*000000.jpg"):
        read_rgb_frames(list_frames(tmp_path / "broken", "S009", "RGB", (".jpg",)), "S009", 4)
    _write_frames(tmp_path / "colour", [10])
    with pytest.raises(DataFormatError, match="sample S010: depth frame .* has mode RGB"):
        read_depth_frames([tmp_path / "colour" / "000000.png"], "S010", 4, 4500.0)


def _tiny_skeletons(root, n=8, t=24):
    rng = np.random.default_rng(0)
    data = rng.normal(0, 0.3, (n, 3, t, 25, 2)).astype(np.float32)
    data[..., 1] = 0.0  # one person
    names = [f"S001P{i:03d}A{i % 2:03d}" for i in range(n)]
    return write_arrays(
        root,
        data,
        labels=[i % 2 for i in range(n)],
        num_frames=[t] * n,
        names=names,
        splits={"xsub": {"train": list(range(0, n, 2)), "test": list(range(1, n, 2))}},
        layout="ntu25",
        class_names=["wave", "kick"],
    )


def test_renderer_is_deterministic_and_marks_corruption(tmp_path):
    skel = _tiny_skeletons(tmp_path / "skeleton")
    a = render_rgbd(
        skel, tmp_path / "a", seed=3, render_frames=4, size=16, corrupt_fraction=1.0, corrupt_parts=("test",)
    )
    b = render_rgbd(
        skel, tmp_path / "b", seed=3, render_frames=4, size=16, corrupt_fraction=1.0, corrupt_parts=("test",)
    )
    name = "S001P001A001"
    frame = np.asarray(Image.open(a / "rgb" / name / "000002.jpg"))
    assert frame.shape == (16, 16, 3)
    assert np.array_equal(frame, np.asarray(Image.open(b / "rgb" / name / "000002.jpg")))
    depth = np.asarray(Image.open(a / "depth" / name / "MDepth-00000002.png"))
    assert depth.dtype == np.uint16 and (depth == 0).mean() > 0.3 and depth.max() > 500  # masked body
    manifest = json.loads((a / "rgbd_manifest.json").read_text())
    assert sorted(manifest["corrupted"]) == [f"S001P{i:03d}A{i % 2:03d}" for i in range(1, 8, 2)]  # test part only
    assert np.load(a / "text_embeddings.npy").shape == (2, 64)


def test_text_embeddings_are_unit_and_name_driven():
    e = text_embeddings(["raise hand", "raise hands", "kick"])
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0)
    assert e[0] @ e[1] > e[0] @ e[2]
    assert np.array_equal(e, text_embeddings(["raise hand", "raise hands", "kick"]))


def test_rgbd_dataset_items_and_missing_data(tmp_path):
    skel = _tiny_skeletons(tmp_path / "data" / "skeleton")
    render_rgbd(skel, tmp_path / "data", seed=0, render_frames=6, size=16)
    cfg = RGBDDataConfig(root=str(tmp_path / "data"), num_frames=4, size=12, clip_length=16)
    train = build_rgbd_dataset(cfg, "train", train=True, seed=0)
    item = train[1]
    assert item["views"][0].shape == (3, 16, 25, 2) and item["rgb"].shape == (3, 4, 12, 12)
    assert item["depth"].shape == (1, 4, 12, 12) and item["label"] == 0 and item["index"] == 1
    assert torch.equal(train[1]["rgb"], item["rgb"]), "same (seed, epoch, index), same frames"
    train.set_epoch(1)
    assert not torch.equal(train[1]["rgb"], item["rgb"])
    test = build_rgbd_dataset(cfg, "test", train=False, seed=0)
    assert torch.equal(test[0]["rgb"], test[0]["rgb"]) and train.sample_name(1) == "S001P002A000"
    # a missing frame folder names the sample
    name = test.sample_name(2)
    for f in (tmp_path / "data" / "rgb" / name).iterdir():
        f.unlink()
    (tmp_path / "data" / "rgb" / name).rmdir()
    with pytest.raises(DataFormatError, match=f"sample {name}: RGB frame folder"):
        test[2]
    missing = RGBDDataConfig(root=str(tmp_path / "none"), make_command="ssl-skel fusion --config X")
    with pytest.raises(DataFormatError, match="none: RGB-D data folder not found; make it with: ssl-skel fusion"):
        build_rgbd_dataset(missing, "train", train=True, seed=0)


def test_every_reader_error_names_the_file(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "MDepth-00000000.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataFormatError, match=r"sample S011: cannot decode depth frame .*MDepth-00000000.png"):
        read_depth_frames(list_frames(tmp_path / "d", "S011", "depth", (".png",)), "S011", 4, 4500.0)
    with pytest.raises(DataFormatError, match=r"sample S012: depth frame folder .*nodepth not found"):
        list_frames(tmp_path / "nodepth", "S012", "depth", (".png",))
    skel = _tiny_skeletons(tmp_path / "data" / "skeleton")
    render_rgbd(skel, tmp_path / "data", seed=0, render_frames=4, size=16)
    cfg = RGBDDataConfig(root=str(tmp_path / "data"), num_frames=2, size=8, clip_length=16)
    train = build_rgbd_dataset(cfg, "train", train=False, seed=0)
    with pytest.raises(DataFormatError, match=r"nofeatures: per-sample feature folder not found"):
        train.attach_sample_features(tmp_path / "nofeatures", 3)
    train.attach_sample_features(tmp_path / "data" / "frm_features", 3)
    assert train[0]["text"].shape == (3,) and float(train[0]["text"][1]) in (3.0, 4.0)  # one person: mostly "no"
    name = train.sample_name(1)
    feature = tmp_path / "data" / "frm_features" / f"{name}.npy"
    np.save(feature, np.zeros(5, dtype=np.float32))
    with pytest.raises(DataFormatError, match=rf"sample {name}: per-sample features .*{name}.npy must be 3 numbers"):
        train[1]
    feature.write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match=rf"sample {name}: cannot read per-sample features .*{name}.npy"):
        train[1]
    feature.unlink()
    with pytest.raises(DataFormatError, match=rf"sample {name}: per-sample feature file .*{name}.npy not found"):
        train[1]
    other = RGBDDataConfig(root=str(tmp_path / "data"), rgb="norgb", num_frames=2, size=8, clip_length=16)
    with pytest.raises(DataFormatError, match=r"norgb: RGB frame root not found"):
        build_rgbd_dataset(other, "train", train=False, seed=0)
    depth = tmp_path / "data" / "depth" / train.sample_name(0) / "MDepth-00000001.png"  # a frame it reads
    depth.write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match=r"cannot decode depth frame .*MDepth-00000001.png"):
        train[0]


def test_validation_split_is_stratified_disjoint_and_seed_free():
    from ssl_skel.fusion.rgbd import validation_positions

    labels = np.repeat(np.arange(4), [10, 10, 5, 1])
    fit, val = validation_positions(labels, 0.2)
    assert set(fit).isdisjoint(val) and sorted([*fit, *val]) == list(range(len(labels)))
    assert [int((labels[val] == k).sum()) for k in range(4)] == [2, 2, 1, 0]
    assert np.array_equal(val, validation_positions(labels, 0.2)[1])
    with pytest.raises(ValueError, match="fraction"):
        validation_positions(labels, 1.0)
