"""Views made all at once (ssl_skel.data.batched) equal the views made one at a time, and
data.augment_on: device equals the loader path and resumes exactly."""

from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_toys import TINY_RUN
from torch.utils.data import default_collate

from ssl_skel.cli import main
from ssl_skel.core.checkpoint import load_checkpoint
from ssl_skel.core.config import AugmentConfig, ConfigError, load_config
from ssl_skel.data.batched import ViewPlanner, apply_linear_numpy, apply_linear_torch, unplanned_steps
from ssl_skel.data.datasets import build_dataset
from ssl_skel.data.layouts import NTU25
from ssl_skel.data.transforms import Compose, build_transforms

LENGTHS = [40, 64, 65, 99, 150, 211, 300, 47, 1, 5, 128, 257]  # also shorter than the 64-frame crop floor


@pytest.fixture(scope="module")
def umurl_folder(tmp_path_factory) -> Path:
    """A UmURL-format folder: 12 clips of the lengths above, one or two bodies, zeros after the valid frames."""
    folder = tmp_path_factory.mktemp("umurl") / "xsub"
    folder.mkdir()
    rng = np.random.default_rng(5)
    data = np.zeros((len(LENGTHS), 3, 300, 25, 2), np.float32)
    for i, n in enumerate(LENGTHS):
        bodies = 1 + i % 2
        data[i, :, :n, :, :bodies] = rng.normal(size=(3, n, 25, bodies))
    data[3, :, 10:20, 4] = 0.0  # a joint missing for some frames
    names = [f"S001C001P001R001A{1 + i:03d}.skeleton" for i in range(len(LENGTHS))]
    for part in ("train", "val"):
        np.save(folder / f"{part}_data_joint.npy", data)
        np.save(folder / f"{part}_num_frame.npy", np.array(LENGTHS, dtype=np.int64))
        with open(folder / f"{part}_label.pkl", "wb") as fh:
            pickle.dump((names, list(range(len(LENGTHS)))), fh)
    return folder


def _umurl_data(folder: Path, **changes):
    return dataclasses.replace(load_config("ntu60_xsub").data, root=str(folder), make_command="", **changes)


def _bits(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).view(np.int32)  # -0.0 and +0.0 differ here


def _per_view(ds, i: int) -> list[np.ndarray]:
    clip = ds.valid_frames(i)
    rng = np.random.default_rng([ds.seed, ds.epoch, i])
    return [ds.transform(clip, rng) for _ in range(ds.num_views)]


PIPELINES = {
    "umurl": {},
    "every planned step": {
        "augment": AugmentConfig(
            shear=0.7, rotate_deg=30.0, yaw_deg=90.0, flip_prob=0.0, corrupt_joints=7, corrupt_zero_prob=0.3
        ),
        "resize": "endpoints",
        "num_views": 3,
    },
    "one_of with a rest": {
        "augment": AugmentConfig(
            shear=0.5,
            flip_prob=0.0,
            crop_min=0.3,
            corrupt_joints=25,
            one_of=("corrupt", "shear"),
            one_of_probs=(0.3, 0.3),
        ),
    },
}


@pytest.mark.parametrize("name", list(PIPELINES))
def test_views_made_together_equal_views_made_one_at_a_time_bit_for_bit(umurl_folder, name) -> None:
    ds = build_dataset(_umurl_data(umurl_folder, **PIPELINES[name]), "train", train=True, seed=3)
    assert ds.planner is not None
    for epoch in (0, 7):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            ref = _per_view(ds, i)
            assert len(item["views"]) == len(ref) == ds.num_views
            for got, want in zip(item["views"], ref):
                assert got.dtype == torch.float32 and got.is_contiguous()
                assert np.array_equal(_bits(got), _bits(want)), (name, epoch, i)


def test_umurl_views_match_a_naive_reference(umurl_folder) -> None:
    """The UmURL recipe written out plainly: crop U[0.1, 1] (floor, >= 64 or all), half-pixel resize,
    then 50/50 corruption (15 joints zeroed or mixed by U(-1, 1), 50/50) or shear U(-1, 1)."""
    ds = build_dataset(_umurl_data(umurl_folder), "train", train=True, seed=0)
    for i in range(len(ds)):
        clip = ds.valid_frames(i).astype(np.float64)
        rng = np.random.default_rng([0, 0, i])
        t = clip.shape[1]
        for got in ds[i]["views"]:
            length = min(max(math.floor(rng.uniform(0.1, 1.0) * t), 64), t)
            start = int(rng.integers(0, t - length + 1))
            seg = clip[:, start : start + length]
            view = np.empty((3, 64, 25, 2))
            for f in range(64):
                src = max((f + 0.5) * length / 64 - 0.5, 0.0)
                lo = min(int(src), length - 1)
                hi, w = min(lo + 1, length - 1), src - lo
                view[:, f] = (1 - w) * seg[:, lo] + w * seg[:, hi]
            if rng.random() < 0.5:  # corruption
                zero = rng.random() < 0.5
                joints = rng.permutation(25)[:15]
                mix = np.zeros((3, 3)) if zero else rng.uniform(-1, 1, size=(3, 3))
                view[:, :, joints] = np.einsum("ij,jtvm->itvm", mix, view[:, :, joints])
            else:
                shear = rng.uniform(-1, 1, size=(3, 3))
                np.fill_diagonal(shear, 1.0)
                view = np.einsum("ij,jtvm->itvm", shear, view)
            np.testing.assert_allclose(got.numpy(), view, rtol=1e-5, atol=1e-5)


def test_apply_linear_numpy_hand_values() -> None:
    x = np.arange(2 * 3 * 1 * 2 * 1, dtype=np.float32).reshape(3, 2, 1, 2, 1)  # (C, K, T, V, M)
    matrices = np.stack([np.eye(3), np.zeros((3, 3))]).astype(np.float32)[:, None]  # view 0: I, view 1: zero
    matrices[0, 0, 0, 1] = 2.0  # view 0: x0 <- x0 + 2 x1
    joints = np.array([[[True, False]], [[False, True]]])  # view 0: joint 0 only; view 1: joint 1 only
    out = apply_linear_numpy(x, matrices, joints)
    views = x.transpose(1, 0, 2, 3, 4)
    want = views.copy()
    want[0, 0, 0, 0, 0] = views[0, 0, 0, 0, 0] + 2 * views[0, 1, 0, 0, 0]
    want[1, :, :, 1] = 0.0
    assert out.shape == (2, 3, 1, 2, 1) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, want)
    assert not np.signbit(out[1, :, :, 1]).any()  # +0.0, as the per-view steps give


def test_device_path_equals_the_loader_path(umurl_folder) -> None:
    """Same seeds: the batch step (torch) gives the loader's views within fp32 rounding."""
    for changes in PIPELINES.values():
        loader = build_dataset(_umurl_data(umurl_folder, **changes), "train", train=True, seed=1)
        device = build_dataset(_umurl_data(umurl_folder, augment_on="device", **changes), "train", train=True, seed=1)
        assert loader.batch_transform is None and device.batch_transform is not None
        for ds in (loader, device):
            ds.set_epoch(2)
        raw = default_collate([device[i] for i in range(len(device))])
        s = len(device.planner.linear)
        assert raw["aug_matrix"].shape == (len(device), device.num_views, s, 3, 3)
        assert raw["aug_joints"].shape == (len(device), device.num_views, s, 25)
        assert raw["aug_joints"].dtype == torch.bool
        got = device.batch_transform(raw)
        want = default_collate([loader[i] for i in range(len(loader))])
        assert set(got) == set(want) == {"views", "label", "index"}
        for g, w in zip(got["views"], want["views"]):
            torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)
        assert torch.equal(got["index"], want["index"])


def test_apply_linear_torch_keeps_other_joints_and_absent_bodies() -> None:
    g = torch.Generator().manual_seed(0)
    views = [torch.randn(2, 3, 4, 5, 2, generator=g) for _ in range(2)]
    views[0][:, :, :, :, 1] = 0.0  # an absent second body
    matrices = torch.randn(2, 2, 1, 3, 3, generator=g)
    joints = torch.zeros(2, 2, 1, 5, dtype=torch.bool)
    joints[:, :, 0, 1:3] = True
    out = apply_linear_torch(views, matrices, joints)
    for k in range(2):
        for b in range(2):
            want = views[k][b].clone()
            want[:, :, 1:3] = torch.einsum("ij,jtvm->itvm", matrices[b, k, 0], views[k][b][:, :, 1:3])
            torch.testing.assert_close(out[k][b], want)
    assert torch.equal(out[0][:, :, :, :, 1], torch.zeros_like(out[0][:, :, :, :, 1]))


def test_unplanned_pipelines_stay_per_view_and_refuse_the_device(umurl_folder) -> None:
    flip = AugmentConfig(shear=0.5, flip_prob=0.5, noise_std=0.01)
    assert unplanned_steps(build_transforms(flip, NTU25, 16)) == ["Flip", "GaussianNoise"]
    assert ViewPlanner.of(build_transforms(AugmentConfig(temporal="shift"), NTU25, 16)) is None
    assert ViewPlanner.of(Compose(())) is None
    ds = build_dataset(_umurl_data(umurl_folder, augment=flip), "train", train=True, seed=0)
    assert ds.planner is None and ds.batch_transform is None
    with pytest.raises(ConfigError, match=r"data\.augment_on: device .* Flip, GaussianNoise"):
        build_dataset(_umurl_data(umurl_folder, augment=flip, augment_on="device"), "train", train=True, seed=0)
    evaluation = build_dataset(_umurl_data(umurl_folder, augment_on="device"), "test", train=False, seed=0)
    assert evaluation.batch_transform is None and len(evaluation[0]["views"]) == 1  # eval views are not augmented


def test_augment_on_is_validated() -> None:
    with pytest.raises(ConfigError, match="augment_on"):
        load_config("ntu60_xsub", ["data.augment_on=gpu"])
    assert load_config("ntu60_xsub").data.augment_on == "loader"


TINY = [
    *TINY_RUN,
    "data.augment.flip_prob=0.0",  # flips stay per view; the rest of the preset runs on the device
    "data.augment_on=device",
    "train.lr=0.02",
]


def test_device_augmentation_resumes_exactly(tiny_data, tmp_path, capsys) -> None:
    full, cut = tmp_path / "full", tmp_path / "cut"
    common = ["pretrain", "--config", "synthetic", f"data.root={tiny_data}", *TINY]
    assert main([*common, f"run_dir={full}"]) == 0
    assert main([*common, f"run_dir={cut}", "--stop-after-epoch", "1"]) == 0
    assert main([*common, f"run_dir={cut}", "data.num_workers=1"]) == 0  # resumed, with a worker process
    capsys.readouterr()
    assert "resumed from" in (cut / "log.txt").read_text()
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    assert a["epoch"] == b["epoch"] == 3 and a["config"]["data"]["augment_on"] == "device"
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_feeder_benchmark_prints_both_sides(capsys) -> None:
    """The one loader benchmark runs both sides on the same arrays (skips without the authors' checkout)."""
    import importlib.util
    import json

    from conftest import reference_checkouts

    if reference_checkouts() is None:
        pytest.skip("set SSL_SKEL_REF to the folder holding the authors' checkouts (UmURL/)")
    ref = reference_checkouts() / "UmURL"
    if not (ref / "feeder" / "feeder_pretraining.py").is_file():
        pytest.skip(f"UmURL checkout not found at {ref} ($SSL_SKEL_REF)")
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "feeder_speed.py"
    spec = importlib.util.spec_from_file_location("feeder_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--reference", str(ref), "--clips", "6", "--rounds", "1", "--batch", "4", "--json"]) == 0
    out = capsys.readouterr().out
    figures = json.loads(out.strip().splitlines()[-1])
    assert set(figures["median_clips_per_s"]) == set(bench.LABELS)
    for env in figures["worker_threads"].values():  # both sides on one thread
        assert env == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "torch_threads": 1}
    assert all(len(rs) == 1 and rs[0]["clips_per_s"] > 0 for rs in figures["rounds"].values())
    assert "| authors' Feeder" in out and "ratio to the authors'" in out
