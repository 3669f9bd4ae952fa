"""Supervised runs: their own recipe section (never the SSL views' augmentation), the clean training accuracy
beside the held-out one each epoch, and the underfitting flag (fires on a run that cannot fit, quiet on one
that does); `ssl-skel supervised` trains a preset from scratch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ssl_skel.core.config import AugmentConfig, ConfigError, DataConfig, SupervisedConfig, TrainConfig, load_config
from ssl_skel.data.datasets import build_dataset
from ssl_skel.engine.plots import history_panels
from ssl_skel.evaluation.finetune import FinetuneSettings, evaluate_finetune
from ssl_skel.evaluation.fit_monitor import CLEAN_KEY, HELD_OUT_KEY, fit_summary, underfitting_warning
from ssl_skel.evaluation.protocol import EvalData
from ssl_skel.models.encoders import build_encoder

TINY_GCN = {"base_channels": 8, "out_channels": 16, "num_layers": 3, "dropout": 0.0}
QUICK = TrainConfig(epochs=1, batch_size=8, optimizer="sgd", lr=0.05, lr_scaling="none", max_steps_per_epoch=2)


def _encoder(spec, seed: int = 0):
    torch.manual_seed(seed)
    return build_encoder("stgcn", TINY_GCN, spec)


def _finetune(data: EvalData, supervised: SupervisedConfig, out: Path, train: TrainConfig = QUICK):
    spec = data.dataset("test", train=False).spec
    encoder = _encoder(dataclasses.replace(spec, clip_length=supervised.clip_length or data.config.clip_length))
    settings = FinetuneSettings(train=train, supervised=supervised, resume="none")
    result = evaluate_finetune(encoder, data, settings, out, device="cpu")
    return result, encoder


# ----------------------------------------------------------------------------- the recipe's own section
def test_supervised_runs_never_read_the_ssl_augmentation(tiny_data, tmp_path):
    recipe = SupervisedConfig(augment=AugmentConfig(shear=0.0, flip_prob=0.0, rotate_deg=20.0), repeat=2)
    heavy = AugmentConfig(shear=0.9, rotate_deg=90.0, flip_prob=1.0, crop_min=0.2, noise_std=0.5)
    datas = [
        DataConfig(root=str(tiny_data), benchmark="xsub", clip_length=16, num_workers=0, num_views=2, augment=aug)
        for aug in (AugmentConfig(), heavy)
    ]
    # the data section the run reads is the same whatever the SSL views' augmentation ...
    assert recipe.data_config(datas[0]) == recipe.data_config(datas[1])
    assert recipe.data_config(datas[1]).augment == recipe.augment and recipe.data_config(datas[1]).num_views == 1
    # ... and so is what it trains on, end to end
    outcomes = []
    for i, data in enumerate(datas):
        result, encoder = _finetune(EvalData(data, seed=0, num_workers=0, batch_size=64), recipe, tmp_path / str(i))
        outcomes.append((result.metrics, result.scores, {k: v.clone() for k, v in encoder.state_dict().items()}))
    (m0, s0, w0), (m1, s1, w1) = outcomes
    assert m0 == m1
    np.testing.assert_array_equal(next(iter(s0.values())), next(iter(s1.values())))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    stored = yaml.safe_load((tmp_path / "1" / "config.yaml").read_text())
    assert stored["data"]["augment"]["shear"] == 0.0 and stored["data"]["num_views"] == 1  # what the run read


def test_a_changed_recipe_changes_the_training_clips(tiny_data):
    data = DataConfig(root=str(tiny_data), benchmark="xsub", clip_length=16, num_workers=0)
    plain = build_dataset(SupervisedConfig().data_config(data), "train", train=True, seed=0)
    turned = SupervisedConfig(augment=AugmentConfig(shear=0.0, flip_prob=0.0, rotate_deg=45.0))
    rotated = build_dataset(turned.data_config(data), "train", train=True, seed=0)
    evaluation = build_dataset(data, "train", train=False, seed=0)
    # no augmentation by default: a training clip is its evaluation view
    assert torch.equal(plain[0]["views"][0], evaluation[0]["views"][0])
    assert not torch.equal(rotated[0]["views"][0], plain[0]["views"][0])


# ----------------------------------------------------------------------------- the underfitting flag
def test_fit_summary_flags_training_accuracy_at_or_below_held_out():
    def history(pairs):
        return [{"epoch": e + 1, CLEAN_KEY: c, HELD_OUT_KEY: t, "loss": 1.0} for e, (c, t) in enumerate(pairs)]

    fitted = fit_summary(history([(30.0, 40.0), (80.0, 60.0)]))
    assert fitted["underfitting"] is False and fitted["clean_train_top1"] == 80.0 and len(fitted["fit_curve"]) == 2
    assert underfitting_warning(fitted) is None
    for last in ((55.0, 60.0), (60.0, 60.0)):  # below, and equal
        flagged = fit_summary(history([(90.0, 10.0), last]))
        assert flagged["underfitting"] is True and "UNDERFITTING" in underfitting_warning(flagged)
    assert fit_summary(history([(100.0, 100.0)]))["underfitting"] is False  # nothing left to fit
    assert fit_summary([{"epoch": 1, "loss": 2.0}]) == {"clean_train_top1": None, "underfitting": None, "fit_curve": []}


def _random_labels_on_training_clips(tiny_data: Path, out: Path) -> Path:
    """The tiny set's training clips with labels drawn at random, held out as themselves: a model cannot fit
    them beyond its held-out figure (the two are one set of clips), whatever it learns."""
    from ssl_skel.data.storage import write_arrays

    source = build_dataset(DataConfig(root=str(tiny_data), benchmark="xsub"), "train", train=False, seed=0)
    rows = source.arrays.indices
    data = np.asarray(source.arrays.data[rows])
    labels = np.random.default_rng(0).integers(0, source.num_classes, size=len(rows))
    every = list(range(len(rows)))
    return write_arrays(
        out,
        data,
        labels=labels.tolist(),
        num_frames=np.asarray(source.arrays.num_frames)[rows].tolist(),
        names=[f"clip{i}" for i in every],
        splits={"xsub": {"train": every, "test": every}},
        layout="ntu25",
        class_names=source.class_names,
    )


def test_underfitting_flag_fires_on_a_run_that_cannot_fit(tiny_data, tmp_path, caplog):
    root = _random_labels_on_training_clips(tiny_data, tmp_path / "random")
    data = EvalData(DataConfig(root=str(root), benchmark="xsub", clip_length=16, num_workers=0), 0, 0, 64)
    with caplog.at_level("WARNING"):
        result, _ = _finetune(data, SupervisedConfig(), tmp_path / "run")
    assert result.extra["underfitting"] is True
    assert result.extra["clean_train_top1"] <= result.metrics["joint"]["top1"]
    assert any("UNDERFITTING" in r.message for r in caplog.records)
    assert "UNDERFITTING" in (tmp_path / "run" / "log.txt").read_text()


def test_underfitting_flag_stays_quiet_on_a_run_that_fits(tiny_data, tmp_path):
    data = EvalData(DataConfig(root=str(tiny_data), benchmark="xsub", clip_length=16, num_workers=0), 0, 0, 64)
    train = TrainConfig(epochs=15, batch_size=8, optimizer="adamw", lr=0.01, lr_scaling="none")
    result, _ = _finetune(data, SupervisedConfig(eval_every=5), tmp_path / "run", train)
    curve = result.extra["fit_curve"]
    assert [c["epoch"] for c in curve] == [5, 10, 15]
    assert result.extra["underfitting"] is False
    assert result.extra["clean_train_top1"] > result.metrics["joint"]["top1"]
    assert "UNDERFITTING" not in (tmp_path / "run" / "log.txt").read_text()


def test_clean_and_held_out_accuracy_share_a_panel():
    history = [{"epoch": 1, "loss": 2.0, CLEAN_KEY: 10.0, HELD_OUT_KEY: 8.0}, {"epoch": 2, "loss": 1.5, "lr": 0.1}]
    panels = history_panels(history)
    assert list(panels) == ["accuracy/", "loss", "lr"]
    assert panels["accuracy/"] == [CLEAN_KEY, HELD_OUT_KEY]


# ----------------------------------------------------------------------------- ssl-skel supervised
def _preset(tmp_path: Path, tiny_data: Path) -> Path:
    tree = {
        "data": {"root": str(tiny_data), "benchmark": "xsub", "clip_length": 16, "num_workers": 0},
        "model": {"name": "stgcn", "params": TINY_GCN},
        "objective": {"name": "supervised"},
        "supervised": {"augment": {"shear": 0.0, "flip_prob": 0.0, "rotate_deg": 10.0}, "head_init": "stgcn"},
        "train": {"epochs": 2, "batch_size": 8, "optimizer": "sgd", "lr": 0.05, "lr_scaling": "none"},
        "eval": {"feature_batch_size": 64},
        "run_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "sup.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_supervised_command_trains_a_preset_from_scratch(tiny_data, tmp_path, capsys):
    from ssl_skel.commands import supervised

    preset = _preset(tmp_path, tiny_data)
    assert (
        supervised.main(["--config", str(preset), "--device", "cpu", "--no-plots", "train.max_steps_per_epoch=2"]) == 0
    )
    assert "supervised" in capsys.readouterr().out
    run = tmp_path / "run"
    results = json.loads((run / "results.json").read_text())
    assert results["protocol"] == "supervised" and results["encoder"]["random_init"] is True
    assert set(results) >= {"clean_train_top1", "underfitting", "fit_curve"}
    assert [c["epoch"] for c in results["fit_curve"]] == [1, 2]
    assert all(c["train_cpu_s"] > 0 for c in results["fit_curve"])
    assert (run / "curves.png").is_file() and (run / "last.pt").is_file()
    log = (run / "log.txt").read_text()
    assert "accuracy/clean_train=" in log and "accuracy/test=" in log
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["objective"]["params"]["head_init"] == "stgcn" and stored["supervised"]["head_init"] == "stgcn"


def test_supervised_and_pretrain_refuse_each_others_presets(tiny_data, tmp_path):
    from ssl_skel.engine.pretrain import pretrain
    from ssl_skel.evaluation.supervised import SupervisedRequest, run_supervised

    cfg = load_config(_preset(tmp_path, tiny_data))
    with pytest.raises(ConfigError, match="ssl-skel supervised"):
        pretrain(cfg)
    with pytest.raises(ConfigError, match="self-supervised preset"):
        run_supervised(SupervisedRequest("synthetic"))
    with pytest.raises(ConfigError, match="supervised section"):
        run_supervised(SupervisedRequest(_preset(tmp_path, tiny_data), overrides=("objective.params.dropout=0.5",)))
