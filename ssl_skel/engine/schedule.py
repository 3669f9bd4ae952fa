"""Learning-rate schedule: linear warm-up, then cosine decay or steps, evaluated per optimiser step.

Why per step rather than per epoch: the warm-up of large-batch SSL runs is a few
hundred steps, and a per-step schedule makes the learning rate a pure function of the
step counter, so a resumed run reproduces it exactly from one integer in the checkpoint.

    factor(s) = (s + 1) / W                                   for s < W (warm-up)
    factor(s) = r + (1 - r) * 0.5 * (1 + cos(pi * p))         otherwise,
                p = (s - W) / max(1, S - W)

with S total steps, W warm-up steps and r = min_lr_ratio; lr(s) = base_lr * factor(s).
The step schedule (UmURL's `adjust_learning_rate`, CrosSCLR's `step`) replaces the cosine by

    factor(s) = gamma ** #{milestones m : m <= s}             after the warm-up,

with milestones given in epochs and turned into steps (epoch * steps_per_epoch), so
UmURL's `--schedule 351` runs epochs 0-350 at lr and 351-450 at 0.1 lr.

An epoch-granular warm-up (`warmup_by: epoch`, CTR-GCN's `adjust_learning_rate`) holds one value
per epoch: with U = steps_per_epoch, factor(s) = (s // U + 1) / (W / U) for s < W, so epochs
1..5 of a 5-epoch warm-up run at 0.2, 0.4, ..., 1.0 times the base lr.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch.optim import Optimizer

from ssl_skel.core.config import TrainConfig


def lr_factor(
    step: int,
    total_steps: int,
    warmup_steps: int,
    min_lr_ratio: float = 0.0,
    milestone_steps: Sequence[int] | None = None,
    gamma: float = 0.1,
    warmup_unit: int = 1,
) -> float:
    """Multiplier of the base learning rate before optimiser step `step` (0-based).

    milestone_steps None: cosine; a sequence (possibly empty): the step schedule. warmup_unit: the
    warm-up rises once every this many steps (steps_per_epoch for an epoch-granular warm-up; it must
    divide warmup_steps).
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps must be in [0, {total_steps}], got {warmup_steps}")
    if warmup_unit < 1 or warmup_steps % warmup_unit:
        raise ValueError(f"warmup_unit must be >= 1 and divide warmup_steps {warmup_steps}, got {warmup_unit}")
    if step < warmup_steps:
        return (step // warmup_unit + 1) / (warmup_steps // warmup_unit)
    if milestone_steps is not None:
        return gamma ** sum(1 for m in milestone_steps if m <= step)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def scaled_lr(lr: float, global_batch: int, reference_batch: int = 256) -> float:
    """Linear scaling rule (Goyal et al. 2017): lr is given for `reference_batch` samples."""
    return lr * global_batch / reference_batch


class WarmupCosine:
    """Sets every param group's lr to `group["base_lr"] * lr_factor(step)`.

    State is the step counter only, so `state_dict()` holds one int (checkpoint-safe).
    Call `apply()` before each optimiser step and `step()` after it.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_steps: int,
        warmup_steps: int,
        min_lr_ratio: float = 0.0,
        milestone_steps: Sequence[int] | None = None,
        gamma: float = 0.1,
        warmup_unit: int = 1,
    ) -> None:
        lr_factor(0, total_steps, warmup_steps, min_lr_ratio, milestone_steps, gamma, warmup_unit)  # validates
        self.optimizer = optimizer
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.min_lr_ratio = min_lr_ratio
        self.milestone_steps = None if milestone_steps is None else tuple(int(m) for m in milestone_steps)
        self.gamma = gamma
        self.warmup_unit = warmup_unit
        self.last_step = 0
        for group in optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
        self.apply()

    def factor(self) -> float:
        return lr_factor(
            self.last_step,
            self.total_steps,
            self.warmup_steps,
            self.min_lr_ratio,
            self.milestone_steps,
            self.gamma,
            self.warmup_unit,
        )

    def apply(self) -> float:
        """Write the current lr into the optimiser; returns the first group's lr."""
        f = self.factor()
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * f
        return self.optimizer.param_groups[0]["lr"]

    def step(self) -> None:
        self.last_step += 1
        self.apply()

    def state_dict(self) -> dict:
        state = {"last_step": self.last_step, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}
        if self.milestone_steps is not None:
            state["milestone_steps"] = list(self.milestone_steps)
        return state

    def load_state_dict(self, state: dict) -> None:
        if state.get("total_steps") != self.total_steps:
            raise ValueError(
                f"checkpoint schedule spans {state.get('total_steps')} steps, this run {self.total_steps}: "
                "epochs, batch size, accumulation or dataset size changed since it was written"
            )
        mine = None if self.milestone_steps is None else list(self.milestone_steps)
        if state.get("milestone_steps") != mine:
            raise ValueError(
                f"checkpoint schedule has lr milestones (steps) {state.get('milestone_steps')}, this run {mine}: "
                "train.lr_schedule or train.lr_milestones changed since it was written"
            )
        self.last_step = int(state["last_step"])
        self.apply()


def build_scheduler(optimizer: Optimizer, cfg: TrainConfig, total_steps: int, steps_per_epoch: int) -> WarmupCosine:
    """The schedule `cfg` asks for: warm-up (per step or per epoch), then cosine (`lr_schedule: cosine`) or steps
    at `lr_milestones` epochs."""
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    unit = steps_per_epoch if cfg.warmup_by == "epoch" else 1
    milestones = [m * steps_per_epoch for m in cfg.lr_milestones] if cfg.lr_schedule == "step" else None
    return WarmupCosine(optimizer, total_steps, warmup, cfg.min_lr_ratio, milestones, cfg.lr_gamma, unit)
