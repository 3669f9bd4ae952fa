"""The training loop on a toy method: learning, outputs, resume equality, non-finite stop."""

from __future__ import annotations

import math

import pytest
import torch
from engine_toys import META, ToyClips, ToyMethod, toy_train_cfg

from ssl_skel.core.checkpoint import load_checkpoint
from ssl_skel.engine.trainer import NonFiniteLossError, fit


def _fit(tmp_path, name="run", method=None, cfg=None, **kw):
    torch.manual_seed(0)
    method = method or ToyMethod()
    kw.setdefault("num_workers", 0)
    kw.setdefault("resume", False)
    result = fit(method, ToyClips(), cfg or toy_train_cfg(), tmp_path / name, seed=0, checkpoint_meta=META, **kw)
    return method, result


def test_loss_falls_and_run_folder_is_complete(tmp_path):
    method, result = _fit(tmp_path, cfg=toy_train_cfg(epochs=4))
    losses = [h["loss"] for h in result.history]
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert losses[-1] < 0.7 * losses[0], losses
    for key in ("loss/ce", "loss/consistency", "stat/embed_std", "lr", "samples_per_s"):
        assert all(math.isfinite(h[key]) for h in result.history), key
    run = tmp_path / "run"
    assert result.last_checkpoint == run / "last.pt"
    # save_every=2 over 4 epochs: epochs 2 and 4 (the end) are kept
    assert sorted(p.name for p in run.glob("epoch_*.pt")) == ["epoch_0002.pt", "epoch_0004.pt"]
    assert (run / "config.yaml").read_text().strip() == "toy: true"
    log = (run / "log.txt").read_text()
    assert "epoch 4/4" in log
    # log_every=2: a step line every 2 optimiser steps (24 steps -> 12 lines)
    assert log.count(" step ") >= 12 and "step 24 epoch 4 batch 6/6 loss=" in log
    assert (run / "curves.png").stat().st_size > 1000
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for name in ("loss", "loss/ce", "loss/consistency", "stat/embed_std", "lr", "samples_per_s"):
        assert {f"train/{name}", f"epoch/{name}"} <= tags, name
    assert "train/stat/grad_norm" in tags
    assert [e.step for e in events.Scalars("train/loss")] == list(range(2, 25, 2))  # log_every=2, 24 steps
    assert not list(run.glob(".*.tmp"))
    assert not torch.are_deterministic_algorithms_enabled()  # the global switch is restored afterwards


def test_checkpoint_holds_contract_fields(tmp_path):
    method, result = _fit(tmp_path)
    ck = load_checkpoint(result.last_checkpoint)
    assert ck["format"] == "ssl_skel/checkpoint" and ck["version"] == 1
    assert ck["kind"] == "pretrain" and ck["config"] == {"toy": True} and ck["encoder"]["prefix"] == "encoder."
    assert ck["epoch"] == 3 and ck["step"] == 3 * 6  # 48 clips / batch 8 = 6 steps per epoch
    assert set(ck) >= {"model", "optimizer", "scheduler", "scaler", "rng", "metrics"}
    assert torch.equal(ck["model"]["ema"], method.ema)  # buffers travel in the state_dict
    assert len(ck["metrics"]["history"]) == 3
    assert ck["scheduler"]["last_step"] == 18


def test_schedule_steps_and_momentum_hook(tmp_path):
    # 6 steps/epoch, warm-up 1 epoch, lr 0.05 after linear scaling by 8/256
    method, result = _fit(tmp_path)
    assert method.step_calls == [(s, 18) for s in range(18)]
    lrs = [h["lr"] for h in result.history]  # lr after the last step of each epoch = schedule at step 6, 12, 18
    expected = [0.05 * 0.5 * (1 + math.cos(math.pi * p)) for p in (0 / 12, 6 / 12, 12 / 12)]
    assert lrs == pytest.approx(expected, abs=1e-12)


def test_accumulation_and_step_cap(tmp_path):
    cfg = toy_train_cfg(epochs=1, accumulate=2, max_steps_per_epoch=2, batch_size=4)
    method, result = _fit(tmp_path, cfg=cfg)
    assert result.steps == 2 and method.calls == 4  # 2 optimiser steps x 2 micro-batches
    assert method.step_calls == [(0, 2), (1, 2)]


def test_resume_equals_uninterrupted_run(tmp_path):
    full, _ = _fit(tmp_path, "full", cfg=toy_train_cfg(epochs=3))
    _, first = _fit(tmp_path, "cut", cfg=toy_train_cfg(epochs=3), stop_after_epoch=1)
    assert first.epochs_completed == 1 and load_checkpoint(first.last_checkpoint)["epoch"] == 1
    torch.manual_seed(123)  # a different init must not matter: weights come from last.pt
    resumed = ToyMethod()
    # a different worker count must not matter either: randomness comes from (seed, epoch, index)
    _, second = _fit(tmp_path, "cut", method=resumed, cfg=toy_train_cfg(epochs=3), resume="auto", num_workers=1)
    assert [h["epoch"] for h in second.history] == [1, 2, 3]
    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log = (tmp_path / "cut" / "log.txt").read_text()
    assert "resumed from" in log


def test_resume_from_explicit_path_and_finished_run(tmp_path):
    _, first = _fit(tmp_path, "a", cfg=toy_train_cfg(epochs=2))
    method = ToyMethod()
    _, again = _fit(tmp_path, "b", method=method, cfg=toy_train_cfg(epochs=2), resume=str(first.last_checkpoint))
    assert method.calls == 0 and again.steps == 12  # nothing left to train
    assert again.last_checkpoint == first.last_checkpoint and again.epochs_completed == 2
    assert torch.equal(method.ema, load_checkpoint(first.last_checkpoint)["model"]["ema"])


def test_resume_with_changed_schedule_is_an_error(tmp_path):
    from ssl_skel.core.checkpoint import CheckpointError

    _fit(tmp_path, "a", cfg=toy_train_cfg(epochs=2), stop_after_epoch=1)
    with pytest.raises(CheckpointError, match=r"last\.pt: checkpoint schedule spans 12 steps, this run 18"):
        _fit(tmp_path, "a", cfg=toy_train_cfg(epochs=3), resume="auto")


def test_non_finite_loss_stops_naming_step_and_term(tmp_path):
    # 6 steps per epoch: the 8th forward (step 7, epoch 2, batch 1) turns NaN
    _fit(tmp_path, "a", cfg=toy_train_cfg(epochs=3))
    good = tmp_path / "a" / "last.pt"
    method = ToyMethod(nan_after=7)
    with pytest.raises(NonFiniteLossError) as err:
        _fit(tmp_path, "b", method=method, cfg=toy_train_cfg(epochs=3))
    msg = str(err.value)
    assert "step 7 (epoch 2, batch 1)" in msg
    assert "loss=nan" in msg and "loss/consistency=nan" in msg and "loss/ce" not in msg
    assert str(tmp_path / "b" / "last.pt") in msg
    ck = load_checkpoint(tmp_path / "b" / "last.pt")  # the epoch-1 checkpoint is intact
    assert ck["epoch"] == 1 and ck["step"] == 6
    assert good.exists()


def test_eval_hook_metrics_join_history(tmp_path):
    seen = []

    def hook(method, epoch):
        seen.append((type(method).__name__, epoch))
        return {"val/acc": epoch / 10}

    _, result = _fit(tmp_path, cfg=toy_train_cfg(epochs=2), eval_hook=hook)
    assert seen == [("ToyMethod", 1), ("ToyMethod", 2)]
    assert [h["val/acc"] for h in result.history] == [0.1, 0.2]
    assert load_checkpoint(result.last_checkpoint)["metrics"]["last"]["val/acc"] == 0.2


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="checkpoint_meta must be a dict with 'kind'"):
        fit(ToyMethod(), ToyClips(), toy_train_cfg(), tmp_path, seed=0, checkpoint_meta={"config": {}})
    with pytest.raises(ValueError, match=r"train.batch_size=64 .* needs more than the 48 training clips"):
        _fit(tmp_path, cfg=toy_train_cfg(batch_size=64))

    class NoLoss(ToyMethod):
        def forward(self, batch):
            return {"ce": super().forward(batch)["loss"]}

    with pytest.raises(TypeError, match="dict with a 'loss' entry"):
        _fit(tmp_path, method=NoLoss())


@pytest.mark.parametrize("optimizer", ["adamw", "lars"])
def test_other_optimizers_learn(tmp_path, optimizer):
    lr = {"adamw": 0.01, "lars": 3.0}[optimizer] * 256 / 8
    _, result = _fit(
        tmp_path, cfg=toy_train_cfg(epochs=3, optimizer=optimizer, lr=lr, weight_decay=1e-4, clip_grad=1.0)
    )
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_amp_on_cpu_uses_bfloat16(tmp_path):
    _, result = _fit(tmp_path, cfg=toy_train_cfg(epochs=2, amp="on"))
    assert "amp on (bfloat16) on cpu" in (tmp_path / "run" / "log.txt").read_text()
    assert all(math.isfinite(h["loss"]) for h in result.history)


def test_amp_policy():
    from ssl_skel.engine.amp import resolve_amp

    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert not resolve_amp("auto", "auto", cpu).enabled  # fp32 on CPU unless asked
    on_cpu = resolve_amp("on", "float16", cpu)
    assert on_cpu.enabled and on_cpu.dtype == torch.bfloat16 and not on_cpu.needs_scaler
    fp16 = resolve_amp("auto", "float16", cuda)
    assert fp16.enabled and fp16.dtype == torch.float16 and fp16.needs_scaler
    bf16 = resolve_amp("auto", "bfloat16", cuda)
    assert bf16.enabled and not bf16.needs_scaler
    assert not resolve_amp("off", "auto", cuda).enabled
    with pytest.raises(ValueError, match="amp must be auto, on or off"):
        resolve_amp("maybe", "auto", cpu)
    with pytest.raises(ValueError, match="amp_dtype must be"):
        resolve_amp("on", "float8", cpu)


def test_resume_from_a_foreign_run_is_an_error(tmp_path):
    from ssl_skel.core.checkpoint import CheckpointError

    _, first = _fit(tmp_path, "a", cfg=toy_train_cfg(epochs=2), stop_after_epoch=1)
    with pytest.raises(CheckpointError, match=r"last\.pt: a pretrain checkpoint cannot resume a finetune run"):
        fit(
            ToyMethod(),
            ToyClips(),
            toy_train_cfg(epochs=2),
            tmp_path / "b",
            seed=0,
            num_workers=0,
            checkpoint_meta={**META, "kind": "finetune"},
            resume=str(first.last_checkpoint),
        )
    with pytest.raises(CheckpointError, match=r"last\.pt: weights do not fit this model"):
        _fit(tmp_path, "a", method=ToyMethod(dim=4), cfg=toy_train_cfg(epochs=2), resume="auto")


def test_non_finite_gradient_stops_with_finite_loss(tmp_path):
    with pytest.raises(
        NonFiniteLossError,
        match=r"non-finite gradient norm at step 7 \(epoch 2, batch 1\) although "
        r"every loss term is finite \(loss=",
    ):
        _fit(tmp_path, method=ToyMethod(nan_grad_after=7))
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 6
