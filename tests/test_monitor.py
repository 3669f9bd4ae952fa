"""The online KNN monitor (`eval.monitor_every`): validation carved from the train split, never the test split;
its figures reach history, log.txt, TensorBoard, curves.png and best_val.pt; resume; two gloo processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_toys import TINY_RUN

import ssl_skel.data.datasets as datasets
from ssl_skel.cli import main
from ssl_skel.core.checkpoint import load_checkpoint

TINY = [*TINY_RUN, "eval.monitor_every=1", "eval.feature_batch_size=32"]


def _run(data: Path, run: Path, *extra: str) -> int:
    return main(["pretrain", "--config", "synthetic", f"data.root={data}", f"run_dir={run}", *TINY, *extra])


def test_monitor_reads_only_the_train_split_and_reports_everywhere(tiny_data, tmp_path, monkeypatch, capsys):
    parts = []
    real = datasets.open_arrays

    def spy(root, benchmark, part):
        parts.append(part)
        return real(root, benchmark, part)

    monkeypatch.setattr(datasets, "open_arrays", spy)
    run = tmp_path / "run"
    assert _run(tiny_data, run, "eval.monitor_linear_epochs=2") == 0, capsys.readouterr().err
    assert parts and set(parts) == {"train"}  # pretraining and the monitor: never the test split
    history = load_checkpoint(run / "last.pt")["metrics"]["history"]
    knn = [h["val/knn1"] for h in history]
    assert len(knn) == 3 and all(0.0 <= v <= 100.0 for v in knn) and all("val/linear" in h for h in history)
    # 6 clips per class, subjects 2 and 4 train: 3 per class in the train split; 20% held out rounds to 1
    log = (run / "log.txt").read_text()
    assert log.count("val/knn1=") == 3
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run))
    events.Reload()
    assert [e.step for e in events.Scalars("epoch/val/knn1")] == [1, 2, 3]
    assert (run / "curves.png").stat().st_size > 1000
    best = int(np.argmax(knn)) + 1  # the first epoch reaching the maximum
    assert load_checkpoint(run / "best_val.pt")["epoch"] == best


def test_monitor_every_n_and_resume_match_an_uninterrupted_run(tiny_data, tmp_path, capsys):
    full, cut = tmp_path / "full", tmp_path / "cut"
    every = ["eval.monitor_every=2", "train.epochs=4"]
    assert _run(tiny_data, full, *every) == 0
    assert _run(tiny_data, cut, *every, "--stop-after-epoch", "1") == 0
    assert _run(tiny_data, cut, *every) == 0, capsys.readouterr().err
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    ha, hb = a["metrics"]["history"], b["metrics"]["history"]
    assert [("val/knn1" in h) for h in ha] == [False, True, False, True]  # epochs 2 and 4 (the last)
    assert [h.get("val/knn1") for h in ha] == [h.get("val/knn1") for h in hb]
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two torch start-ups, a rendezvous and three tiny epochs: ~30-90 s on 2 shared cores
def test_monitor_under_two_gloo_processes(tiny_data, tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    cmd += ["--master-port", str(_free_port()), "-m", "ssl_skel.cli", "pretrain", "--config", "synthetic"]
    cmd += [f"data.root={tiny_data}", f"run_dir={run}", *TINY, "train.batch_size=8"]
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = load_checkpoint(run / "last.pt")["metrics"]["history"]
    assert len(history) == 3 and all(0.0 <= h["val/knn1"] <= 100.0 for h in history)
    log = (run / "log.txt").read_text()
    assert "2 process(es)" in log and log.count("val/knn1=") == 3  # rank 0 logs once per epoch
    assert (run / "best_val.pt").exists()


def test_both_ways_reports_the_mean_of_the_two_directions(tiny_data):
    from ssl_skel.core.config import load_config, to_dict
    from ssl_skel.evaluation.features import extract_features
    from ssl_skel.evaluation.linear import train_linear_probe
    from ssl_skel.evaluation.monitor import KNN_KEY, LINEAR_KEY, KnnMonitor
    from ssl_skel.models.encoders import build_encoder
    from ssl_skel.models.frozen import FrozenEncoder

    overrides = [f"data.root={tiny_data}", *TINY, "eval.monitor_split=subject", "eval.monitor_linear_epochs=3"]
    one_way = KnnMonitor(load_config("synthetic", overrides))
    both = KnnMonitor(load_config("synthetic", [*overrides, "eval.monitor_both_ways=true"]))
    cfg = load_config("synthetic", overrides)
    torch.manual_seed(0)
    encoder = build_encoder(cfg.model.name, to_dict(cfg.model)["params"], one_way.bank.spec)

    def naive_knn1(fit, query) -> float:  # cosine 1-NN by hand
        unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
        nearest = (unit(query.embeddings["fused"]) @ unit(fit.embeddings["fused"]).T).argmax(1)
        return 100.0 * float(np.mean(fit.labels[nearest] == query.labels))

    frozen = FrozenEncoder(encoder)
    bank = extract_features(frozen, one_way.bank, ("fused",), progress=False)
    val = extract_features(frozen, one_way.val, ("fused",), progress=False)
    forward, backward = naive_knn1(bank, val), naive_knn1(val, bank)
    assert forward != backward  # the case tells the directions apart
    assert one_way.measure(encoder)[KNN_KEY] == pytest.approx(forward)
    figures = both.measure(encoder)
    assert figures[KNN_KEY] == pytest.approx((forward + backward) / 2)
    probes = [
        train_linear_probe(
            a.embeddings["fused"], a.labels, b.embeddings["fused"], b.labels, both.num_classes, both.linear
        )
        for a, b in ((bank, val), (val, bank))
    ]
    assert figures[LINEAR_KEY] == pytest.approx(np.mean([p.metrics["top1"] for p in probes]))


def test_monitor_unseen_leaves_the_validation_clips_out_of_pretraining(tiny_data, tmp_path, monkeypatch, capsys):
    """eval.monitor_unseen: the SSL objective never sees the clips the monitor scores (as for the test split);
    off (the default), pretraining reads every training clip."""
    import ssl_skel.engine.pretrain as pretrain_mod
    from ssl_skel.data.splits import monitor_split_of

    trained = []
    real_fit = pretrain_mod.fit

    def spy(method, train_set, *args, **kwargs):
        trained.append([train_set.arrays.names[int(r)] for r in train_set.arrays.indices])
        labels = [int(train_set[i]["label"]) for i in range(len(train_set))]
        assert labels == [int(train_set.arrays.labels[int(r)]) for r in train_set.arrays.indices]
        return real_fit(method, train_set, *args, **kwargs)

    monkeypatch.setattr(pretrain_mod, "fit", spy)
    assert _run(tiny_data, tmp_path / "seen") == 0, capsys.readouterr().err
    assert _run(tiny_data, tmp_path / "unseen", "eval.monitor_unseen=true") == 0, capsys.readouterr().err
    from ssl_skel.core.config import load_config

    cfg = load_config("synthetic", [f"data.root={tiny_data}", *TINY, "eval.monitor_unseen=true"])
    train = datasets.build_dataset(cfg.data, "train", train=False, seed=cfg.seed)
    split = monitor_split_of(train.arrays, cfg.eval, cfg.seed)
    names = [train.arrays.names[int(r)] for r in train.arrays.indices]
    held_out = {names[i] for i in split.val}
    assert held_out and trained[0] == names  # default: every training clip
    assert trained[1] == [names[i] for i in split.train] and not held_out & set(trained[1])
    assert f"training UmURL: {len(split.train)} clips" in (tmp_path / "unseen" / "log.txt").read_text()
