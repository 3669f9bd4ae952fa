"""Bring your own skeletons: raw clips into the library, a user layout through the whole pipeline, a 2D path."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from layout_samples import LAB5

from ssl_skel.cli import main as cli
from ssl_skel.core.config import DataConfig
from ssl_skel.data.datasets import build_dataset
from ssl_skel.data.formats.arrays import convert_arrays
from ssl_skel.models.encoders import build_encoder
from ssl_skel.models.frozen import FrozenEncoder

TINY = [
    "model.params.hidden_size=16",
    "model.params.num_heads=1",
    "objective.params.proj_output_dim=16",
    "data.clip_length=8",
    "data.num_workers=0",
    "train.batch_size=8",
    "train.warmup_epochs=0",
    "train.epochs=1",
    "train.log_every=1",
]


def _raw_clips(n: int, v: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Clips of different lengths; every fourth one has two persons, one a NaN joint."""
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n):
        t = 5 + 3 * i % 11
        base = np.sin(np.linspace(0, 3, t))[:, None, None] * (1 + i % 2) + rng.normal(0, 0.1, (t, v, 3))
        clip = (base + np.arange(v)[None, :, None] * 0.3 + 2.0).astype(np.float32)
        if i % 4 == 0:
            clip = np.stack([clip, clip[::-1] + 1.0])
        clips.append(clip)
    clips[1][2, 3, 0] = np.nan
    return clips


def _write_folder(root: Path, clips: list[np.ndarray]) -> tuple[Path, Path]:
    folder = root / "clips"
    folder.mkdir(parents=True)
    rows = []
    for i, clip in enumerate(clips):
        np.save(folder / f"clip{i:02d}.npy", clip)
        rows.append({"clip": f"clip{i:02d}", "label": ["wave", "sit"][i % 2], "subject": str(1 + i % 3)})
    table = root / "table.csv"
    with open(table, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["clip", "label", "subject"])
        w.writeheader()
        w.writerows(rows)
    return folder, table


@pytest.mark.parametrize("resize", ["endpoints", "half_pixel"])
def test_embed_clips_equals_embed_on_the_dataset_eval_view(tmp_path, resize):
    layout = tmp_path / "lab5.yaml"
    layout.write_text(LAB5)
    clips = _raw_clips(9)
    folder, table = _write_folder(tmp_path, clips)
    opts = {"centre": "first", "scale": "rms", "missing": "fill"}
    split = {"train_on": ("subject", ("1",)), "benchmark": "xsub"}
    convert_arrays(folder, tmp_path / "data", table=table, layout=layout, **opts, **split, progress=False)
    cfg = DataConfig(root=str(tmp_path / "data"), benchmark="xsub", clip_length=8, num_workers=0, resize=resize)
    test = build_dataset(cfg, "test", train=False, seed=0)
    batch = torch.stack([test[i]["views"][0] for i in range(len(test))])
    enc = FrozenEncoder(
        build_encoder("unified", {"hidden_size": 16, "num_heads": 1, "num_layers": 1}, test.spec),
        eval_view={"resize": resize},
    )
    raw = [clips[int(i)] for i in test.arrays.indices]  # the same clips, raw: other lengths, 1 or 2 persons
    assert {c.shape[-3] for c in raw} != {raw[0].shape[-3]} and {c.ndim for c in raw} == {3, 4}
    np.testing.assert_allclose(enc.prepare(raw).numpy(), batch.numpy(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(enc.embed_clips(raw, batch_size=2), enc.embed(batch), rtol=1e-4, atol=1e-5)
    assert enc.prepare(raw[:1]).shape == (1, 3, 8, 5, 2)


def test_user_layout_round_trip_without_the_file(tmp_path, capsys):
    layout = tmp_path / "lab5.yaml"
    layout.write_text(LAB5)
    clips = _raw_clips(12)
    folder, table = _write_folder(tmp_path, clips)
    data, run = tmp_path / "data", tmp_path / "run"
    args = [
        "gendata",
        "arrays",
        "--folder",
        str(folder),
        "--table",
        str(table),
        "--layout",
        str(layout),
        "--train-on",
        "subject=1,2",
        "--benchmark",
        "xsub",
        "--centre",
        "first",
        "--missing",
        "fill",
        "--out",
        str(data),
        "--no-progress",
    ]
    assert cli(args) == 0, capsys.readouterr().err
    layout.unlink()  # from here on, nothing needs the declaration file
    assert (
        cli(["pretrain", "--config", "synthetic", f"data.root={data}", "data.benchmark=xsub", f"run_dir={run}", *TINY])
        == 0
    ), capsys.readouterr().err
    import ssl_skel

    enc = ssl_skel.load_encoder(run / "last.pt")
    assert enc.layout == "lab5" and enc.skeleton.joint_names == ("pelvis", "spine", "head", "left_hip", "right_hip")
    assert enc.skeleton.flip_pairs == ((3, 4),) and enc.spec.preprocess["centre"] == "first"
    z = enc.embed_clips(clips)
    assert z.shape == (12, enc.dim) and torch.isfinite(z).all()
    assert (
        cli(
            [
                "linear",
                "--checkpoint",
                str(run / "last.pt"),
                "--num-workers",
                "0",
                "--modalities",
                "fused",
                "--no-plots",
                "eval.linear_epochs=2",
            ]
        )
        == 0
    ), capsys.readouterr().err
    res = json.loads((run / "eval" / "linear_xsub" / "results.json").read_text())
    assert 0 <= res["metrics"]["fused"]["top1"] <= 100


COCO_FROM_NTU = [3, 3, 3, 3, 3, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18]  # coco17 joint -> NTU joint
FACE_OFFSETS = np.array([[0, 0], [0.03, 0.02], [-0.03, 0.02], [0.06, 0], [-0.06, 0]], np.float32)


def _coco_with_scores(synthetic: Path, out: Path) -> Path:
    """The built-in dataset projected to 2D COCO-17 with a keypoint score, as one .npz (NaN-padded)."""
    data = np.load(synthetic / "data.npy")  # (N, C, T, V, M)
    frames = np.load(synthetic / "num_frames.npy")
    xy = data[:, :2][:, :, :, COCO_FROM_NTU].transpose(0, 4, 2, 3, 1).copy()  # (N, M, T, 17, 2)
    present = np.abs(xy).sum(axis=(3, 4), keepdims=True) > 0
    xy[:, :, :, :5] += np.where(present, FACE_OFFSETS, 0)
    score = np.where(present[..., 0], 0.5, 0.0)[..., None] * np.ones_like(xy[..., :1])
    clips = np.concatenate([xy, score], axis=-1)
    for i, t in enumerate(frames):
        clips[i, :, t:] = np.nan
    names = (synthetic / "names.txt").read_text().split()
    train = set(np.load(synthetic / "splits" / "xsub_train.npy").tolist())
    split = np.array(["train" if i in train else "test" for i in range(len(names))])
    np.savez(out, data=clips, label=np.load(synthetic / "labels.npy"), split=split, name=np.array(names))
    return out


def test_2d_keypoints_with_scores_pretrain_and_evaluate(tmp_path, capsys):
    from ssl_skel.data.synthetic import generate_dataset

    synthetic = generate_dataset(tmp_path / "syn", clips_per_class=3, num_subjects=4, max_frames=24)
    npz = _coco_with_scores(synthetic, tmp_path / "coco.npz")
    with pytest.raises(Exception, match=r"17 2D joints fits several layouts \(coco17, h36m17\)"):
        convert_arrays(npz, tmp_path / "x", centre="first", score=True, progress=False)
    r = convert_arrays(
        npz,
        tmp_path / "coco",
        layout="coco17",
        centre="first",
        score=True,
        clip_column="name",
        progress=False,
    )
    assert r.shape[1] == 3 and r.shape[3] == 17 and r.layout == "coco17"
    stored = np.load(tmp_path / "coco" / "data.npy")
    assert set(np.unique(stored[:, 2])) <= {0.0, 0.5}  # the score channel is kept as it was, never centred
    run = tmp_path / "run"
    assert (
        cli(
            [
                "pretrain",
                "--config",
                "synthetic",
                f"data.root={tmp_path / 'coco'}",
                "data.benchmark=default",
                f"run_dir={run}",
                *TINY,
            ]
        )
        == 0
    ), capsys.readouterr().err
    assert (
        cli(
            ["linear", "--checkpoint", str(run / "last.pt"), "--num-workers", "0", "--no-plots", "eval.linear_epochs=5"]
        )
        == 0
    ), capsys.readouterr().err
    res = json.loads((run / "eval" / "linear_default" / "results.json").read_text())
    assert "fused" in res["metrics"]
    assert all(0 <= m["top1"] <= 100 for m in res["metrics"].values())


@pytest.mark.parametrize("name", ["unified", "stgcn", "ctrgcn", "multistream"])
@pytest.mark.parametrize("layout", ["mediapipe33", "user"])
def test_every_encoder_on_a_declared_layout(tmp_path, name, layout):
    from ssl_skel.data.layouts import resolve_layout
    from ssl_skel.data.spec import InputSpec

    if layout == "user":
        (tmp_path / "lab5.yaml").write_text(LAB5 + "gcn: {centre: pelvis, edges: [[left_hip, right_hip]]}\n")
        layout = str(tmp_path / "lab5.yaml")
    skel = resolve_layout(layout)
    channels = 3 if 3 in skel.dims else 2
    spec = InputSpec.for_layout(skel, channels, 2, 8)
    small = {
        "unified": {"hidden_size": 16, "num_heads": 1, "num_layers": 1},
        "stgcn": {"base_channels": 4, "out_channels": 8, "num_layers": 2},
        "ctrgcn": {"base_channels": 8, "out_channels": 16, "num_layers": 2},
        "multistream": {
            "backbone": "stgcn",
            "streams": ["joint", "bone"],
            "backbone_params": {"base_channels": 4, "out_channels": 8, "num_layers": 2},
        },
    }[name]
    enc = build_encoder(name, small, spec)
    z = enc(torch.randn(2, channels, 8, skel.num_joints, 2))
    assert z.shape == (2, enc.dim) and torch.isfinite(z).all()
