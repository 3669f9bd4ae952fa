"""The evaluation library API used from Python (a notebook): the same figures as the CLI, one checkpoint read."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from eval_helpers import tiny_config, tiny_encoder, write_checkpoint

from ssl_skel.cli import main as cli
from ssl_skel.core import checkpoint as ckpt_mod
from ssl_skel.core.config import ConfigError, DataConfig, EvalConfig, TrainConfig
from ssl_skel.evaluation import (
    EvalData,
    EvalRequest,
    EvalResult,
    EvalRun,
    FinetuneSettings,
    KnnSettings,
    LabelFraction,
    LinearProtocol,
    LinearSettings,
    evaluate_knn,
    evaluate_linear,
    format_table,
    run_protocol,
    write_outputs,
)
from ssl_skel.evaluation.api import load_encoder

FT = ["train.epochs=1", "train.batch_size=16", "train.lr=0.01", "train.sync_batchnorm=false"]


@pytest.fixture()
def ckpt(tmp_path, tiny_data):
    return write_checkpoint(tmp_path / "run" / "last.pt", tiny_encoder(seed=0), config=tiny_config(str(tiny_data)))


def _data(root) -> EvalData:
    return EvalData(DataConfig(root=str(root), benchmark="xsub", clip_length=16), seed=0, num_workers=0, batch_size=64)


def _results(path):
    return json.loads(path.read_text())


def _plain(value):
    """As results.json stores it (JSON floats round-trip exactly)."""
    return json.loads(json.dumps(value, default=str))


def test_notebook_linear_and_knn_give_the_cli_figures(ckpt, tiny_data, tmp_path):
    """load_encoder + evaluate_* with no files written agree number for number with the commands' results.json."""
    common = ["--checkpoint", str(ckpt), "--num-workers", "0", "--no-plots", "--modalities", "fused,bone"]
    assert (
        cli(["linear", *common, "--val-fraction", "0.2", "--out", str(tmp_path / "lin"), "eval.linear_epochs=5"]) == 0
    )
    assert cli(["knn", *common, "--k", "5", "--weighted", "--out", str(tmp_path / "knn")]) == 0

    encoder, data = load_encoder(ckpt), _data(tiny_data)
    probe = LinearProtocol.from_eval(EvalConfig(linear_epochs=5), val_fraction=0.2, seed=0)
    linear = evaluate_linear(encoder, data, LinearSettings(probe, ("fused", "bone")))
    knn = evaluate_knn(encoder, data, KnnSettings(k=5, weighted=True, modalities=("fused", "bone")))

    for result, folder in ((linear, "lin"), (knn, "knn")):
        written = _results(tmp_path / folder / "results.json")
        assert isinstance(result, EvalResult) and result.protocol == written["protocol"]
        assert _plain(result.metrics) == written["metrics"]
        assert _plain(result.settings) == written["settings"]
        saved = np.load(tmp_path / folder / "scores" / "test_bone.npy")
        np.testing.assert_allclose(result.scores["bone"], saved, rtol=1e-6)
    assert set(linear.held_out) == {"fused", "bone"} and linear.held_out["bone"].meta["split"] == "train-holdout"
    assert linear.embeddings.shape == (len(linear.labels), encoder.dim)  # the first modality's, for the t-SNE
    assert knn.title == "knn k=5" and set(knn.metrics["fused"]) == {"top1", "top5"}


def test_run_protocol_writes_what_the_cli_writes(ckpt, tmp_path):
    run = EvalRun.open(EvalRequest(ckpt, num_workers=0, plots=False))
    written = run_protocol(run, KnnSettings.from_config(run.cfg.eval, modalities=("joint",)))
    assert written.path == ckpt.parent / "eval" / "knn_xsub" / "results.json"
    res = _results(written.path)
    assert res["metrics"] == _plain(written.result.metrics) and set(res["metrics"]) == {"joint"}
    assert res["encoder"] == {"random_init": False, "dim": 64, "modalities": ["fused", "joint", "bone", "motion"]}
    assert written.table == format_table("knn k=1", written.result.metrics)
    assert list((written.path.parent / "features").glob("*/done"))  # the run's feature cache


@pytest.mark.parametrize("command", [["finetune"], ["semi", "--percent", "10"], ["knn"], ["linear"]])
def test_an_evaluation_reads_the_checkpoint_once(command, ckpt, tmp_path, monkeypatch):
    reads = []
    real = ckpt_mod.load_checkpoint

    def counted(path, *args, **kwargs):
        reads.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ckpt_mod, "load_checkpoint", counted)
    argv = [*command, "--checkpoint", str(ckpt), "--num-workers", "0", "--no-plots", "--out", str(tmp_path / "o")]
    assert cli([*argv, *FT, "eval.linear_epochs=2"]) == 0
    assert reads.count(str(ckpt)) == 1, reads


def test_protocols_share_a_run_without_touching_its_encoder(ckpt, tmp_path):
    """Linear then fine-tune on one EvalRun: the fine-tune trains a copy and starts as it would alone."""
    overrides = tuple(FT)
    alone = EvalRun.open(EvalRequest(ckpt, num_workers=0, plots=False, overrides=overrides))
    ft_alone = run_protocol(alone, FinetuneSettings(train=alone.cfg.train), out=tmp_path / "ft_alone")

    run = EvalRun.open(EvalRequest(ckpt, num_workers=0, plots=False, overrides=overrides))
    before = {k: v.clone() for k, v in run.encoder.state_dict().items()}
    run_protocol(
        run, LinearSettings(LinearProtocol.from_eval(run.cfg.eval, epochs=2, seed=run.seed)), out=tmp_path / "l"
    )
    ft = run_protocol(run, FinetuneSettings(train=run.cfg.train), out=tmp_path / "ft")
    after = run.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in run.encoder.parameters())  # the frozen copy froze only itself
    assert ft.result.metrics == ft_alone.result.metrics
    np.testing.assert_array_equal(ft.result.scores["fused"], ft_alone.result.scores["fused"])
    tuned = torch.load(tmp_path / "ft" / "last.pt", weights_only=True)
    assert tuned["source"] == {"checkpoint": str(ckpt), "random_init": False, "protocol": "finetune"}


def test_settings_check_their_values():
    with pytest.raises(ValueError, match="k >= 1"):
        KnnSettings(k=0)
    with pytest.raises(ValueError, match="temperature > 0"):
        KnnSettings(temperature=0.0)
    with pytest.raises(ValueError, match="backend"):
        KnnSettings(backend="annoy")
    assert KnnSettings.from_config(EvalConfig(knn_k=7, knn_temperature=0.5)) == KnnSettings(k=7, temperature=0.5)
    with pytest.raises(ValueError, match="percent"):
        LabelFraction(0)
    with pytest.raises(ValueError, match="percent"):
        LabelFraction(101)
    assert LabelFraction(10).tag == "semi10" and LabelFraction(0.5).tag == "semi0.5"
    assert FinetuneSettings(TrainConfig()).tag == "finetune"
    assert FinetuneSettings(TrainConfig(), labelled=LabelFraction(1)).tag == "semi1"
    with pytest.raises(ValueError, match="val_fraction"):
        LinearSettings.from_config(EvalConfig(), seed=0, val_fraction=1.0)


def test_unknown_modality_is_a_config_error(ckpt, tiny_data):
    with pytest.raises(ConfigError, match="not 'rgb'"):
        evaluate_knn(load_encoder(ckpt), _data(tiny_data), KnnSettings(modalities=("rgb",)))


def test_format_table_by_hand():
    table = format_table("knn k=1", {"fused": {"top1": 50.0}, "bone": {"top1": 12.345, "top5": 60.0}})
    assert table.splitlines() == [
        "knn k=1: modality    top1    top5",
        "         fused      50.00       -",
        "         bone       12.35   60.00",
    ]


def test_tsne_legend_names_the_classes(tmp_path, monkeypatch):
    """results' t-SNE PNG carries a legend of the class names (the runner used to drop them)."""
    from ssl_skel.engine import plots

    figures = {}
    real_save = plots._save

    def keep(fig, path, *args, **kwargs):
        figures[path.name] = fig
        return real_save(fig, path, *args, **kwargs)

    monkeypatch.setattr(plots, "_save", keep)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 5)
    result = EvalResult(
        protocol="knn",
        title="knn k=1",
        metrics={"fused": {"top1": 100.0}},
        scores={"fused": np.eye(3, dtype=np.float32)[labels]},
        labels=labels,
        indices=np.arange(15),
        class_names=["wave", "kick", "sit down"],
        embeddings=rng.normal(size=(15, 4)) + 4 * np.eye(4)[labels],
        settings={"k": 1},
        selection="no training: nothing selected",
    )
    dataset = {"root": "r", "benchmark": "xsub", "layout": "ntu25", "clip_length": 16}
    path = write_outputs(result, tmp_path, checkpoint="ck.pt", dataset=dataset, encoder={"dim": 4}, plots=True)
    legend = figures["tsne.png"].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["wave", "kick", "sit down"]
    res = _results(path)
    assert res["files"]["tsne_png"] == str(tmp_path / "tsne.png") and res["encoder"] == {"dim": 4}


def test_importing_the_evaluation_package_is_cheap():
    code = "import sys, ssl_skel.evaluation as e; assert 'run_protocol' in e.__all__; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_notebook_finetune_without_a_config(tiny_data, tmp_path):
    """evaluate_finetune on a bare encoder: the fine-tuned checkpoint names the encoder and loads on its own."""
    from ssl_skel.evaluation import evaluate_finetune

    train = TrainConfig(epochs=1, batch_size=16, lr=0.01, sync_batchnorm=False)
    settings = FinetuneSettings(train=train, labelled=LabelFraction(50, seed=1))
    torch.manual_seed(0)
    result = evaluate_finetune(tiny_encoder(seed=3), _data(tiny_data), settings, tmp_path / "ft")
    assert result.protocol == "semi50" and set(result.metrics) == {"fused"}
    assert result.extra["labelled"] == {"percent": 50, "subset_seed": 1, "clips": result.settings["train_clips"]}
    payload = torch.load(tmp_path / "ft" / "last.pt", weights_only=True)
    assert payload["config"]["model"]["name"] == "unified" and payload["config"]["objective"]["name"] == "supervised"
    assert payload["source"] == {"protocol": "semi50"}
    assert load_encoder(tmp_path / "ft" / "last.pt").dim == 64
