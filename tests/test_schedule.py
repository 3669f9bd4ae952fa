"""Warm-up + cosine values against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_skel.engine.schedule import WarmupCosine, lr_factor, scaled_lr


def test_warmup_is_linear_then_cosine_reaches_floor():
    # 10 steps, 4 warm-up: 1/4, 2/4, 3/4, 4/4, then cos over the 6 remaining steps
    got = [lr_factor(s, 10, 4) for s in range(10)]
    cos = [0.5 * (1 + math.cos(math.pi * k / 6)) for k in range(6)]
    assert got == pytest.approx([0.25, 0.5, 0.75, 1.0] + cos)
    assert cos[3] == pytest.approx(0.5)  # half-way through the decay
    assert lr_factor(10, 10, 4) == pytest.approx(0.0)  # the end of the schedule


def test_min_lr_ratio_and_no_warmup():
    assert lr_factor(0, 5, 0, min_lr_ratio=0.1) == pytest.approx(1.0)
    assert lr_factor(5, 5, 0, min_lr_ratio=0.1) == pytest.approx(0.1)
    # half-way: 0.1 + 0.9 * 0.5 = 0.55
    assert lr_factor(2, 4, 0, min_lr_ratio=0.1) == pytest.approx(0.55)


def test_linear_scaling_rule():
    assert scaled_lr(0.1, 512) == pytest.approx(0.2)
    assert scaled_lr(1e-3, 64) == pytest.approx(2.5e-4)


def test_scheduler_drives_optimizer_and_round_trips():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p]}], lr=2.0)
    sched = WarmupCosine(opt, total_steps=4, warmup_steps=2)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)  # step 0: 2.0 * 1/2
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(2.0)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(2.0)  # cosine starts at 1
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)  # cos(pi/2): half
    state = sched.state_dict()
    assert state == {"last_step": 3, "total_steps": 4, "warmup_steps": 2}
    other = WarmupCosine(torch.optim.SGD([p], lr=2.0), total_steps=4, warmup_steps=2)
    other.load_state_dict(state)
    assert other.optimizer.param_groups[0]["lr"] == pytest.approx(1.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="total_steps must be >= 1"):
        lr_factor(0, 0, 0)
    with pytest.raises(ValueError, match=r"warmup_steps must be in \[0, 3\]"):
        lr_factor(0, 3, 5)
    p = torch.nn.Parameter(torch.zeros(1))
    sched = WarmupCosine(torch.optim.SGD([p], lr=1.0), total_steps=4, warmup_steps=0)
    with pytest.raises(ValueError, match="spans 8 steps, this run 4"):
        sched.load_state_dict({"last_step": 1, "total_steps": 8, "warmup_steps": 0})
