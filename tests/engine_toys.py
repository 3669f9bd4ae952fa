"""Tiny dataset and method for engine tests: fast, deterministic, and shaped like the real ones.

Also runnable as a torchrun worker (`python tests/engine_toys.py RUN_DIR EPOCHS`), which
the DDP tests launch in subprocesses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

C, T, V, M = 3, 6, 5, 1
NUM_CLASSES = 4

# overrides for a CLI pretraining of a tiny unified encoder and UmURL head on 16-frame clips
# (seconds per epoch on one core); test modules add what their case needs
TINY_RUN = [
    "model.params.hidden_size=16",
    "model.params.num_heads=1",
    "objective.params.proj_output_dim=32",
    "data.clip_length=16",
    "data.num_workers=0",
    "train.batch_size=16",
    "train.warmup_epochs=0",
    "train.epochs=3",
    "train.log_every=1",
]
# overrides for benchmarks/real_data.py smoke runs: every stage on 8-frame clips, two epochs
TINY_BENCH = [
    "model.params.hidden_size=16",
    "model.params.num_heads=2",
    "objective.params.proj_output_dim=32",
    "data.clip_length=8",
    "data.num_workers=0",
    "train.batch_size=8",
    "train.epochs=2",
    "train.warmup_epochs=0",
    "eval.linear_epochs=3",
    "eval.feature_batch_size=16",
]


class ToyClips(Dataset):
    """Class-dependent clips; two noisy views whose noise comes from (seed, epoch, index)."""

    def __init__(self, n: int = 48, seed: int = 0) -> None:
        rng = np.random.default_rng(1234)
        self.labels = np.arange(n) % NUM_CLASSES
        centres = rng.normal(size=(NUM_CLASSES, C, T, V, M)).astype(np.float32)
        self.x = centres[self.labels] + 0.3 * rng.normal(size=(n, C, T, V, M)).astype(np.float32)
        self.seed = seed
        self.epoch = 0
        self.num_classes = NUM_CLASSES

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        g = np.random.default_rng([self.seed, self.epoch, i])
        views = [
            torch.from_numpy(self.x[i] + 0.1 * g.normal(size=self.x[i].shape).astype(np.float32)) for _ in range(2)
        ]
        return {"views": views, "label": int(self.labels[i]), "index": i}


class ToyMethod(nn.Module):
    """Encoder + head; loss = cross-entropy + view consistency; dropout exercises the RNG.

    `ema` is a buffer updated in on_step_end (a stand-in for momentum encoders/queues).
    `nan_after` makes the "consistency" term NaN from that forward call on.
    """

    def __init__(
        self, dim: int = 8, nan_after: int | None = None, use_bn: bool = True, nan_grad_after: int | None = None
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten(), nn.Linear(C * T * V * M, dim)]
        if use_bn:
            layers.append(nn.BatchNorm1d(dim))
        layers += [nn.ReLU(), nn.Dropout(0.1)]
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Linear(dim, NUM_CLASSES)
        self.register_buffer("ema", torch.zeros(dim, C * T * V * M))
        self.nan_after = nan_after
        self.nan_grad_after = nan_grad_after  # from that call on: finite loss, NaN gradient
        self.calls = 0
        self.step_calls: list[tuple[int, int]] = []

    def forward(self, batch: dict) -> dict:
        self.calls += 1
        a, b = (self.encoder(v) for v in batch["views"][:2])
        ce = nn.functional.cross_entropy(self.head(a), batch["label"])
        consistency = (a - b).pow(2).mean()
        if self.nan_after is not None and self.calls > self.nan_after:
            consistency = consistency * float("nan")
        if self.nan_grad_after is not None and self.calls > self.nan_grad_after:
            ce = ce + 0.0 * torch.sqrt((a - a).pow(2).sum())  # value 0, gradient 0 * inf = NaN
        return {
            "loss": ce + 0.1 * consistency,
            "loss/ce": ce,
            "loss/consistency": consistency,
            "stat/embed_std": a.detach().std(dim=0).mean(),
        }

    @torch.no_grad()
    def on_step_end(self, step: int, total_steps: int) -> None:
        self.step_calls.append((step, total_steps))
        self.ema.mul_(0.9).add_(0.1 * self.encoder[1].weight)


def toy_train_cfg(**overrides):
    from ssl_skel.core.config import TrainConfig

    base = dict(
        epochs=3,
        batch_size=8,
        lr=0.05 * 256 / 8,
        optimizer="sgd",
        warmup_epochs=1,
        save_every=2,
        log_every=2,
        momentum=0.9,
    )
    base.update(overrides)
    return TrainConfig(**base)


META = {"kind": "pretrain", "config": {"toy": True}, "encoder": {"name": "toy", "params": {}, "prefix": "encoder."}}


def _worker(run_dir: str, epochs: int, accumulate: int = 1) -> None:
    """torchrun entry: train the toy method, then save this rank's weights next to the run."""
    from ssl_skel.engine.trainer import fit

    torch.manual_seed(0)
    method = ToyMethod()
    fit(
        method,
        ToyClips(n=64),
        toy_train_cfg(epochs=epochs, accumulate=accumulate),
        run_dir,
        seed=0,
        checkpoint_meta=META,
        num_workers=0,
        resume=False,
        device="cpu",
    )
    import os

    Path(run_dir).mkdir(parents=True, exist_ok=True)  # only rank 0's fit creates it
    torch.save(method.state_dict(), Path(run_dir) / f"rank{os.environ.get('RANK', '0')}.pt")


if __name__ == "__main__":
    _worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
