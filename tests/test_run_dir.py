"""A run folder takes one run at a time (engine.run_dir) and a resume only with its own settings
(engine.resume) (issue 14 items 5, 6, 10, 12)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_toys import ToyClips, ToyMethod, toy_train_cfg

from ssl_skel.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ssl_skel.core.config import ConfigError
from ssl_skel.core.io import DiskFullError
from ssl_skel.engine.resume import config_differences, find_resume
from ssl_skel.engine.run_dir import LOCK_NAME, claim_run_dir
from ssl_skel.engine.trainer import fit

REPO = Path(__file__).resolve().parent.parent


def _meta(lr: float = 0.1, **extra) -> dict:
    return {"kind": "pretrain", "config": {"train": {"lr": lr, "epochs": 2, "log_every": 1}, "seed": 0, **extra}}


def _fit(run: Path, meta: dict | None = None, **kw):
    torch.manual_seed(0)
    kw.setdefault("resume", "auto")
    cfg = kw.pop("cfg", toy_train_cfg(epochs=2))
    return fit(ToyMethod(), ToyClips(), cfg, run, seed=0, checkpoint_meta=meta or _meta(), num_workers=0, **kw)


def test_resume_with_a_changed_setting_refuses_naming_the_key(tmp_path):
    run = tmp_path / "run"
    _fit(run, stop_after_epoch=1)
    config_before = (run / "config.yaml").read_text()
    with pytest.raises(
        ConfigError, match=r"last\.pt: this run's config differs .*train\.lr \(checkpoint 0\.1, now 0\.5\)"
    ):
        _fit(run, _meta(lr=0.5))
    assert (run / "config.yaml").read_text() == config_before  # nothing written by the refused run
    assert load_checkpoint(run / "last.pt")["epoch"] == 1
    # keys that do not change what is trained may differ; the same config resumes
    result = _fit(run, {**_meta(), "config": {**_meta()["config"], "run_dir": "elsewhere", "name": "x"}})
    assert result.epochs_completed == 2
    # --resume none starts afresh with the new setting
    assert _fit(run, _meta(lr=0.5), resume="none").epochs_completed == 2


def test_config_differences_are_listed():
    old = {"train": {"lr": 0.1, "epochs": 2}, "data": {"num_workers": 2, "root": "a"}, "eval": {"knn_k": 1}}
    new = {"train": {"lr": 0.2, "epochs": 2}, "data": {"num_workers": 8, "root": "b"}, "eval": {"knn_k": 5}, "x": 1}
    assert config_differences(old, new) == [("data.root", "a", "b"), ("train.lr", 0.1, 0.2), ("x", None, 1)]


def test_find_resume(tmp_path):
    assert find_resume(tmp_path, "auto") is None
    assert find_resume(tmp_path, True) is None
    last = save_checkpoint({"kind": "pretrain", "model": {}, "epoch": 1}, tmp_path / "last.pt")
    assert find_resume(tmp_path, "auto") == last
    for off in (False, None, "none", "NONE"):
        assert find_resume(tmp_path, off) is None
    assert find_resume(tmp_path / "other", str(last)) == last
    with pytest.raises(CheckpointError, match=r"missing\.pt: checkpoint to resume from not found"):
        find_resume(tmp_path, str(tmp_path / "missing.pt"))


def test_second_run_on_the_same_folder_refuses(tmp_path):
    run = tmp_path / "run"
    first = claim_run_dir(run)
    with pytest.raises(ConfigError, match=rf"run_dir {run}: another run \(pid {os.getpid()}\) is using this folder"):
        claim_run_dir(run)
    with pytest.raises(ConfigError, match="another run"):
        _fit(run)
    first.release()
    assert not (run / LOCK_NAME).exists()
    assert _fit(run).epochs_completed == 2
    assert not (run / LOCK_NAME).exists()


def test_lock_held_by_another_process_and_left_by_a_dead_one(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from ssl_skel.engine.run_dir import claim_run_dir; "
            "claim_run_dir(sys.argv[1]); print('held', flush=True); time.sleep(600)",
            str(run),
        ],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"another run \(pid {holder.pid}\)"):
            claim_run_dir(run)
    finally:
        holder.kill()  # like kill -9: the lock file stays, its lock dies with the process
        holder.wait()
    assert (run / LOCK_NAME).read_text().strip() == str(holder.pid)
    lock = claim_run_dir(run)  # a stale lock is taken over
    assert (run / LOCK_NAME).read_text().strip() == str(os.getpid())
    lock.release()


def test_run_dir_that_is_a_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        _fit(afile)
    assert afile.read_text() == "mine"


def test_full_disk_while_checkpointing_is_one_line_and_leaves_no_temporary(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _fit(run, stop_after_epoch=1)
    good = (run / "last.pt").read_bytes()
    real = torch.save

    def full_disk_save(obj, f, *a, **k):  # torch.save reports a failed write as a RuntimeError
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos") from None

    monkeypatch.setattr(torch, "save", full_disk_save)
    with pytest.raises(DiskFullError, match=r"last\.pt: no space left on the device"):
        _fit(run)
    monkeypatch.setattr(torch, "save", real)
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    assert (run / "last.pt").read_bytes() == good  # the previous checkpoint is intact and resumes
    assert _fit(run).epochs_completed == 2


def test_stray_temporaries_are_removed_on_the_next_run(tmp_path):
    run = tmp_path / "run"
    _fit(run, stop_after_epoch=1)
    (run / ".epoch_0002.pt.x1y2z3.tmp").write_bytes(b"half a checkpoint")
    (run / ".last.pt.abc.tmp").write_bytes(b"half")
    _fit(run)
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]


def test_truncated_last_pt_suggests_the_newest_periodic_checkpoint(tmp_path):
    run = tmp_path / "run"
    _fit(run, cfg=toy_train_cfg(epochs=2, save_every=1))
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 3])
    newest = run / "epoch_0002.pt"
    with pytest.raises(CheckpointError, match=rf"truncated or corrupt .*newest periodic checkpoint is {newest}"):
        _fit(run, cfg=toy_train_cfg(epochs=2, save_every=1))
    # following the advice works
    assert _fit(run, cfg=toy_train_cfg(epochs=2, save_every=1), resume=str(newest)).epochs_completed == 2


def test_pretrain_cli_refuses_a_changed_lr_on_resume(tmp_path, capsys):
    """The reported case end to end: rerunning with train.lr=0.5 used to resume with the old lr."""
    from ssl_skel.cli import main
    from ssl_skel.data.synthetic import generate_dataset

    data = generate_dataset(tmp_path / "data", clips_per_class=2, num_subjects=2, max_frames=24)
    common = [
        "--config",
        "synthetic",
        f"data.root={data}",
        f"run_dir={tmp_path / 'run'}",
        "data.clip_length=16",
        "data.num_workers=0",
        "train.batch_size=8",
        "train.epochs=2",
        "model.params.hidden_size=16",
        "model.params.num_heads=1",
        "objective.params.proj_output_dim=16",
    ]
    assert main(["pretrain", *common, "--stop-after-epoch", "1"]) == 0
    capsys.readouterr()
    assert main(["pretrain", *common, "train.lr=0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.lr (checkpoint" in err and "now 0.5" in err, err


def test_resume_from_a_nan_weight_checkpoint_says_so(tmp_path):
    run = tmp_path / "run"
    _fit(run, stop_after_epoch=1)
    ck = torch.load(run / "last.pt", weights_only=True)
    first = next(k for k, v in ck["model"].items() if v.is_floating_point())
    ck["model"][first] = torch.full_like(ck["model"][first], float("nan"))
    torch.save(ck, run / "last.pt")
    with pytest.raises(CheckpointError, match=rf"last\.pt: weight {first} holds NaN/inf values"):
        _fit(run)


def test_info_describes_a_dataset_with_an_empty_split(tmp_path, capsys):
    import numpy as np

    from ssl_skel.cli import main
    from ssl_skel.data.storage import write_arrays

    root = write_arrays(
        tmp_path / "d",
        np.zeros((2, 3, 4, 25, 1), np.float32),
        labels=[0, 1],
        num_frames=[4, 4],
        names=["a", "b"],
        splits={"xsub": {"train": [0, 1], "test": []}},
        layout="ntu25",
    )
    assert main(["info", str(root)]) == 0
    assert "split xsub: train 2, test 0" in capsys.readouterr().out


def test_resume_on_regenerated_data_of_the_same_size_is_refused(tmp_path, capsys):
    """Issue 25 item 6: the dataset was regenerated (same size, other content) between a run and its resume."""
    from ssl_skel.cli import main
    from ssl_skel.data.storage import read_manifest
    from ssl_skel.data.synthetic import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, seed=0, clips_per_class=2, num_subjects=2, max_frames=24)
    common = ["--config", "synthetic", f"data.root={data}", f"run_dir={tmp_path / 'run'}", "data.clip_length=16",
              "data.num_workers=0", "train.batch_size=8", "train.epochs=2", "model.params.hidden_size=16",
              "model.params.num_heads=1", "objective.params.proj_output_dim=16"]  # fmt: skip
    assert main(["pretrain", *common, "--stop-after-epoch", "1"]) == 0
    trained_on = read_manifest(data)["content_sha256"]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["data_sha256"] == trained_on
    generate_dataset(data, seed=1, clips_per_class=2, num_subjects=2, max_frames=24)  # same shape, other clips
    assert read_manifest(data)["shape"] and read_manifest(data)["content_sha256"] != trained_on
    capsys.readouterr()
    assert main(["pretrain", *common]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "last.pt: the training data changed since this checkpoint" in err and str(data) in err, err
    assert "--resume none" in err
    assert main(["pretrain", *common, "--resume", "none"]) == 0  # starting afresh is allowed


def test_a_kill_between_last_and_the_periodic_checkpoint_loses_no_epoch_file(tmp_path, monkeypatch):
    """Issue 25 item 14: killed after last.pt was written, before its epoch_N.pt copy: the resume recreates it."""
    from ssl_skel.engine import resume

    run = tmp_path / "run"
    real = resume.copy_atomic

    def killed(src, dst):
        monkeypatch.setattr(resume, "copy_atomic", real)
        raise KeyboardInterrupt  # the process dies here

    monkeypatch.setattr(resume, "copy_atomic", killed)
    cfg = toy_train_cfg(epochs=3, save_every=1)
    with pytest.raises(KeyboardInterrupt):
        _fit(run, cfg=cfg)
    assert load_checkpoint(run / "last.pt")["epoch"] == 1 and not (run / "epoch_0001.pt").exists()
    _fit(run, cfg=cfg)
    assert sorted(p.name for p in run.glob("epoch_*.pt")) == ["epoch_0001.pt", "epoch_0002.pt", "epoch_0003.pt"]
    assert [load_checkpoint(run / f"epoch_000{i}.pt")["epoch"] for i in (1, 2, 3)] == [1, 2, 3]
