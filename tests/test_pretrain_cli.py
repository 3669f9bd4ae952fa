"""`ssl-skel pretrain` end to end on a tiny built-in dataset, and its one-line user errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch
from engine_toys import TINY_RUN

from ssl_skel.cli import main

REPO = Path(__file__).resolve().parent.parent
TINY = [*TINY_RUN, "train.lr=0.02", "train.save_every=2"]


def _pretrain(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["pretrain", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_pretrain_interrupt_resume_and_load(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    common = ["--config", "synthetic", f"data.root={tiny_data}", f"run_dir={run}", *TINY]
    rc, out, err = _pretrain(capsys, *common, "--stop-after-epoch", "1")
    assert rc == 0, err
    assert "pretrained 1/3 epochs" in out and f"checkpoint: {run / 'last.pt'}" in out
    rc, out, err = _pretrain(capsys, *common)  # --resume auto continues from last.pt
    assert rc == 0, err
    assert "pretrained 3/3 epochs" in out
    assert "resumed from" in (run / "log.txt").read_text()
    assert {p.name for p in run.iterdir()} >= {
        "last.pt",
        "epoch_0002.pt",
        "epoch_0003.pt",
        "config.yaml",
        "log.txt",
        "curves.png",
    }

    from ssl_skel.core.checkpoint import load_checkpoint
    from ssl_skel.core.config import load_config
    from ssl_skel.data.layouts import NTU25
    from ssl_skel.evaluation.api import load_encoder

    ck = load_checkpoint(run / "last.pt")
    assert ck["kind"] == "pretrain" and ck["epoch"] == 3
    assert ck["config"]["model"]["params"]["hidden_size"] == 16 and ck["config"]["data"]["root"] == str(tiny_data)
    assert ck["encoder"] == {
        "name": "unified",
        "params": ck["encoder"]["params"],
        "prefix": "encoder.",
        "spec": {
            "layout": "ntu25",
            "in_channels": 3,
            "num_persons": 2,
            "clip_length": 16,
            "layout_def": NTU25.to_dict(),  # the layout in full: load_encoder needs no layout file
            "preprocess": ck["encoder"]["spec"]["preprocess"],
        },
    }
    assert ck["encoder"]["params"]["hidden_size"] == 16 and ck["encoder"]["params"]["num_layers"] == 1
    history = ck["metrics"]["history"]
    assert len(history) == 3 and history[-1]["loss"] < history[0]["loss"]
    # the run folder's config.yaml is the resolved config: loading it gives the same run
    assert load_config(run / "config.yaml").model.params == ck["config"]["model"]["params"]
    enc = load_encoder(run / "last.pt", device="cpu")
    x = torch.randn(2, 3, 16, 25, 2)
    assert enc.embed(x).shape == (2, enc.dim)

    # the same run without interruption, with a data-loader worker: bit-identical weights
    straight = tmp_path / "straight"
    rc, _, err = _pretrain(
        capsys, "--config", "synthetic", f"data.root={tiny_data}", f"run_dir={straight}", *TINY, "data.num_workers=1"
    )
    assert rc == 0, err
    a, b = ck["model"], load_checkpoint(straight / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_config_error_names_the_key(capsys, tmp_path):
    rc, out, err = _pretrain(capsys, "--config", "synthetic", "train.epoch=3", f"run_dir={tmp_path}")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "train.epoch" in err and "unknown key" in err
    rc, _, err = _pretrain(capsys, "--config", "synthetic", "model.params.hidden=8")
    assert rc == 2 and "model.params.hidden" in err and err.count("\n") == 1
    rc, _, err = _pretrain(capsys, "--config", "no_such_preset")
    assert rc == 2 and "no_such_preset" in err


def test_missing_data_prints_the_command_that_makes_it(capsys, tmp_path):
    rc, out, err = _pretrain(capsys, "--config", "synthetic", f"data.root={tmp_path / 'nope'}", f"run_dir={tmp_path}")
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert str(tmp_path / "nope") in err
    assert "python data_gen/synthetic_gendata.py --out data/synthetic" in err


def test_batch_larger_than_dataset_is_a_config_error(tiny_data, capsys, tmp_path):
    rc, _, err = _pretrain(
        capsys, "--config", "synthetic", f"data.root={tiny_data}", f"run_dir={tmp_path}", *TINY, "train.batch_size=500"
    )
    assert rc == 2 and "train.batch_size=500" in err and err.count("\n") == 1


@pytest.mark.parametrize("preset", ["ntu60_xsub", "ntu60_xview", "ntu120_xsub", "ntu120_xset", "synthetic"])
def test_presets_validate(preset):
    from ssl_skel.core.config import load_config

    cfg = load_config(preset)
    assert cfg.name == preset and cfg.run_dir == f"runs/{preset}"
    assert cfg.model.name == "unified" and cfg.objective.name == "umurl"
    if preset.startswith("ntu"):
        dataset = preset.split("_")[0]
        assert cfg.data.root == f"data/{dataset}_umurl" and cfg.data.clip_length == 64
        assert cfg.data.make_command.startswith("python data_gen/ntu_gendata.py --raw ")
        assert cfg.data.make_command.endswith(f"--out data/{dataset}_umurl --dataset {dataset} --profile umurl")
        # the authors' 5e-4 at their global batch (4 GPUs), via the linear scaling rule
        from ssl_skel.engine.schedule import scaled_lr

        assert scaled_lr(cfg.train.lr, 4 * cfg.train.batch_size) == pytest.approx(5e-4)


@pytest.mark.slow  # two torch start-ups (launcher + worker)
def test_pretrain_sh_runs_under_torchrun(tiny_data, tmp_path):
    env = dict(os.environ, NPROC="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            str(REPO / "scripts" / "pretrain.sh"),
            "synthetic",
            f"data.root={tiny_data}",
            f"run_dir={tmp_path / 'r'}",
            *TINY,
            "train.epochs=1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"checkpoint: {tmp_path / 'r' / 'last.pt'}" in proc.stdout


def test_non_finite_loss_is_one_line_and_status_1(tiny_data, tmp_path, capsys, monkeypatch):
    from ssl_skel.engine import pretrain, trainer

    def explode(*args, **kwargs):
        raise trainer.NonFiniteLossError("non-finite loss at step 3 (epoch 1, batch 3): loss=nan, var=nan; ...")

    monkeypatch.setattr(pretrain, "fit", explode)
    rc, out, err = _pretrain(capsys, "--config", "synthetic", f"data.root={tiny_data}", f"run_dir={tmp_path}", *TINY)
    assert rc == 1 and out == ""
    assert err == "ssl-skel pretrain: stopped: non-finite loss at step 3 (epoch 1, batch 3): loss=nan, var=nan; ...\n"
