"""SkeletonClips: view shapes, seeded determinism across epochs and workers, memory mapping, errors."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ssl_skel.core.config import AugmentConfig, DataConfig
from ssl_skel.data.datasets import build_dataset
from ssl_skel.data.storage import DataFormatError
from ssl_skel.data.synthetic import CLASS_NAMES, generate_dataset
from ssl_skel.data.transforms import resample
from ssl_skel.models.encoders.base import InputSpec


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("ds") / "syn", seed=0, clips_per_class=4, num_subjects=4)


def config(root: Path, **kw) -> DataConfig:
    aug = AugmentConfig(shear=0.3, rotate_deg=10, noise_std=0.01, joint_mask_prob=0.1)
    return DataConfig(root=str(root), benchmark="xsub", clip_length=32, num_views=3, augment=aug, **kw)


def test_train_items_have_num_views_augmented_views(root: Path) -> None:
    ds = build_dataset(config(root), "train", train=True, seed=0)
    assert len(ds) == 34 and ds.num_classes == 17 and ds.class_names == list(CLASS_NAMES)
    assert ds.spec == InputSpec(layout="ntu25", in_channels=3, num_persons=2, clip_length=32)
    item = ds[5]
    assert len(item["views"]) == 3 and item["index"] == 5 and item["label"] == int(ds.labels[5])
    for view in item["views"]:
        assert view.shape == (3, 32, 25, 2) and view.dtype == torch.float32
    assert not torch.equal(item["views"][0], item["views"][1])
    assert np.array_equal(ds.labels, np.load(root / "labels.npy")[np.load(root / "splits/xsub_train.npy")])


def test_eval_item_is_one_deterministic_whole_clip_view(root: Path) -> None:
    ds = build_dataset(config(root), "test", train=False, seed=0)
    row = int(np.load(root / "splits/xsub_test.npy")[2])
    n = int(np.load(root / "num_frames.npy")[row])
    raw = np.load(root / "data.npy")[row, :, :n]
    item = ds[2]
    assert len(item["views"]) == 1
    np.testing.assert_allclose(item["views"][0].numpy(), resample(raw, 0, n, 32), atol=1e-6)
    np.testing.assert_array_equal(item["views"][0][:, 0].numpy(), raw[:, 0])  # first frame exact
    ds.set_epoch(7)
    assert torch.equal(ds[2]["views"][0], item["views"][0])


def test_views_depend_on_seed_epoch_index_only(root: Path) -> None:
    a = build_dataset(config(root), "train", train=True, seed=1)
    b = build_dataset(config(root), "train", train=True, seed=1)
    c = build_dataset(config(root), "train", train=True, seed=2)
    _ = b[0], b[9]  # another access order must not matter
    for x, y in zip(a[3]["views"], b[3]["views"]):
        assert torch.equal(x, y)
    assert not torch.equal(a[3]["views"][0], c[3]["views"][0])
    first = a[3]["views"][0]
    a.set_epoch(1)
    assert a.epoch == 1 and not torch.equal(a[3]["views"][0], first)
    a.set_epoch(0)
    assert torch.equal(a[3]["views"][0], first)


def _batches(ds, workers: int) -> list[torch.Tensor]:
    loader = DataLoader(ds, batch_size=5, num_workers=workers, shuffle=False, persistent_workers=workers > 0)
    out = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        out += [torch.cat(batch["views"]) for batch in loader]
    return out


def test_same_views_with_any_worker_count(root: Path) -> None:
    ds = build_dataset(config(root), "train", train=True, seed=4)
    zero, two = _batches(ds, 0), _batches(ds, 2)
    assert len(zero) == len(two) == 2 * 7
    for x, y in zip(zero, two):
        assert torch.equal(x, y)
    assert not torch.equal(zero[0], zero[7])  # epochs differ, also in persistent workers


def test_data_stays_memory_mapped(root: Path) -> None:
    tracemalloc.start()
    ds = build_dataset(config(root), "train", train=True, seed=0)
    for i in range(len(ds)):
        ds[i]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    data = ds.arrays.data
    assert isinstance(data, np.memmap) and not data.flags.writeable
    assert data.nbytes > 2_000_000 and peak < data.nbytes / 4  # one clip at a time, never the array


def test_missing_folder_names_folder_and_command(tmp_path: Path) -> None:
    cfg = DataConfig(root=str(tmp_path / "nope"), benchmark="xsub", make_command="ssl-skel gendata synthetic --out X")
    with pytest.raises(DataFormatError, match=r"nope: dataset not found; make it with: ssl-skel gendata synthetic"):
        build_dataset(cfg, "train", train=True, seed=0)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / ".data.npy.tmp").write_bytes(b"x")
    cfg = DataConfig(root=str(tmp_path / "half"), benchmark="xsub", make_command="make-it")
    with pytest.raises(
        DataFormatError, match=r"half: dataset not found or unfinished \(no manifest.json\); make it with: make-it"
    ):
        build_dataset(cfg, "train", train=True, seed=0)


def test_unknown_benchmark_lists_available(root: Path) -> None:
    cfg = DataConfig(root=str(root), benchmark="xset")
    with pytest.raises(DataFormatError, match=r"no benchmark split 'xset' \(available: xsub, xview\)"):
        build_dataset(cfg, "train", train=True, seed=0)


def test_index_out_of_range(root: Path) -> None:
    ds = build_dataset(config(root), "test", train=False, seed=0)
    with pytest.raises(IndexError, match="out of range"):
        ds[len(ds)]


# --------------------------------------------------------------------------- ssl-skel info
def test_info_describes_a_dataset_folder(root: Path, capsys: pytest.CaptureFixture) -> None:
    from ssl_skel.cli import main

    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "layout ntu25" in out and "68 samples, 17 classes" in out
    assert "split xsub: train 34, test 34" in out and "split xview: train" in out
    assert re.search(r"raise right hand\s+2\s+2", out)  # class histogram per part


def test_info_describes_config_and_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import yaml

    from ssl_skel.cli import main
    from ssl_skel.core.checkpoint import save_checkpoint

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "data": {"root": "d", "benchmark": "xsub"},
                "model": {"name": "stgcn"},
                "objective": {"name": "skeletonclr"},
            }
        )
    )
    assert main(["info", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "(valid)" in out and "clip_length: 64" in out and "run_dir: runs/c" in out
    ckpt = save_checkpoint(
        {
            "kind": "pretrain",
            "config": {"name": "c", "run_dir": "runs/c"},
            "encoder": {
                "name": "stgcn",
                "params": {},
                "prefix": "encoder.",
                "spec": {"layout": "ntu25", "in_channels": 3, "num_persons": 2, "clip_length": 64},
            },
            "model": {"encoder.w": torch.zeros(2, 3)},
            "epoch": 4,
            "step": 40,
            "metrics": {"loss": 1.5},
        },
        tmp_path / "last.pt",
    )
    assert main(["info", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "kind pretrain" in out and "epoch 4 (completed), step 40" in out and "encoder stgcn" in out
    assert "'layout': 'ntu25'" in out and "1 tensors, 6 values" in out and "loss=1.5" in out


def test_info_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from ssl_skel.cli import main

    assert main(["info", str(tmp_path / "nothing")]) == 2
    assert "nothing: not found" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    assert main(["info", str(tmp_path / "bad.pt")]) == 2
    assert "bad.pt: not a checkpoint file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["info", str(tmp_path / "empty")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("data: {root: d}\nmodel: {name: stgcn}\nobjective: {name: skeletonclr}\n")
    assert main(["info", str(tmp_path / "bad.yaml")]) == 2
    assert "bad.yaml: data.benchmark: missing required key" in capsys.readouterr().err
