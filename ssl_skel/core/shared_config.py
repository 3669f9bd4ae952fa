"""The config sections every run kind shares: the encoder choice, the training loop, value limits.

Why apart: pretraining runs (`core.config`) and fusion runs (`core.fusion_config`) both hold a
`ModelConfig` and a `TrainConfig`, declared once here.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

from ssl_skel.core.schema import check

MAX_SEED = 2**32 - 1  # numpy's seeding range; every generator is seeded from it
MAX_CLIP_LENGTH = 10_000  # frames per clip; NTU clips are <= 300, a model input beyond this is a typo


@dataclass(frozen=True)
class ModelConfig:
    """Encoder choice; `params` is validated against the encoder's registered params."""

    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    """The one training loop's settings (shared by pretraining, fine-tuning and fusion)."""

    epochs: int = 100
    batch_size: int = 128  # per process
    optimizer: typing.Literal["adamw", "adam", "sgd", "lars"] = "adamw"  # adam: L2 decay in the gradient (UmURL)
    lr: float = 1e-3  # for batch_size * world_size * accumulate == 256; scaled linearly (see lr_scaling)
    # linear: lr is given for a global batch of 256 and scaled to the run's; none: lr is the run's own, as given
    # (CTR-GCN's 0.1 at batch 16)
    lr_scaling: typing.Literal["linear", "none"] = "linear"
    weight_decay: float = 0.0
    decay_all: bool = False  # weight decay on biases and norm weights too (the authors' optimisers do it)
    lr_schedule: typing.Literal["cosine", "step"] = "cosine"  # step: lr *= lr_gamma at each of lr_milestones
    lr_milestones: tuple[int, ...] = ()  # step: 0-based epochs from which one more lr_gamma applies (UmURL 351)
    lr_gamma: float = 0.1
    momentum: float = 0.9  # sgd/lars only
    nesterov: bool = False  # sgd only: Nesterov momentum (CTR-GCN, ST-GCN)
    warmup_epochs: float = 0.0
    # step: the warm-up rises every optimiser step; epoch: it holds one value per epoch, lr * (e + 1) / W for
    # 0-based epoch e < W (CTR-GCN's adjust_learning_rate; needs whole warmup_epochs)
    warmup_by: typing.Literal["step", "epoch"] = "step"
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    accumulate: int = 1  # gradient accumulation steps
    clip_grad: float = 0.0  # max global grad norm (0 = off)
    amp: typing.Literal["auto", "on", "off"] = "auto"
    amp_dtype: typing.Literal["auto", "bfloat16", "float16"] = "auto"
    save_every: int = 10  # epochs between periodic checkpoints (last.pt is written every epoch)
    log_every: int = 10  # steps between scalar logs
    sync_batchnorm: bool = True  # convert BatchNorm to SyncBatchNorm under DDP
    max_steps_per_epoch: int = 0  # 0 = full epoch; >0 caps steps (smoke runs)

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "epochs must be >= 1")
        check(self.batch_size >= 1, "batch_size must be >= 1")
        check(self.lr > 0, "lr must be > 0")
        check(self.accumulate >= 1, "accumulate must be >= 1")
        check(self.warmup_epochs >= 0 and self.warmup_epochs <= self.epochs, "warmup_epochs must be in [0, epochs]")
        check(
            self.warmup_by == "step" or float(self.warmup_epochs).is_integer(),
            "warmup_by: epoch needs a whole number of warmup_epochs",
        )
        check(not self.nesterov or (self.optimizer == "sgd" and self.momentum > 0), "nesterov needs sgd with momentum")
        check(0.0 <= self.min_lr_ratio <= 1.0, "min_lr_ratio must be in [0, 1]")
        check(all(1 <= m < self.epochs for m in self.lr_milestones), "lr_milestones must be epochs in [1, epochs)")
        check(self.lr_schedule == "step" or not self.lr_milestones, "lr_milestones need lr_schedule: step")
        check(0.0 < self.lr_gamma <= 1.0, "lr_gamma must be in (0, 1]")
        check(self.save_every >= 1 and self.log_every >= 1, "save_every and log_every must be >= 1")
