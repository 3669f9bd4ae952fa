"""Fine-tuning, semi-supervised and from-scratch supervised training through the one training engine.

Why the engine: a classification head on a pretrained encoder is just another Method
("supervised"), so fine-tuning gets DDP, AMP, accumulation, checkpoints and resume from
`ssl_skel.engine.trainer.fit` without a second loop. The resulting checkpoints have kind
"finetune" and keep the encoder under "encoder.", so `load_encoder` reads them too.

The clips come from the run's supervised recipe (`SupervisedConfig`: its own augmentation,
clip length, repeat and head), never from the SSL views' `data.augment`; the run's training
side (clean training accuracy) is monitored beside its held-out accuracy (`fit_monitor`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ssl_skel.core.checkpoint import encoder_entry
from ssl_skel.core.config import Config, ModelConfig, ObjectiveConfig, SupervisedConfig, TrainConfig, to_dict
from ssl_skel.engine.metrics import topk_accuracy
from ssl_skel.evaluation.fit_monitor import (
    FitMonitor,
    Prediction,
    clean_sample,
    fit_summary,
    predict,
    underfitting_warning,
)
from ssl_skel.evaluation.outputs import EvalResult
from ssl_skel.evaluation.semi import LabelFraction

__all__ = ["FinetuneSettings", "LabelledSubset", "Prediction", "evaluate_finetune", "predict"]

if TYPE_CHECKING:
    from ssl_skel.evaluation.protocol import EvalData
    from ssl_skel.evaluation.run import EvalRun

log = logging.getLogger(__name__)


class LabelledSubset(Dataset):
    """Rows of a clip dataset (e.g. the 1% labelled part), keeping its attributes; a dataset that repeats
    its split (`repeat` > 1, training) repeats the rows as often."""

    def __init__(self, dataset, rows: np.ndarray) -> None:
        self.dataset = dataset
        self.rows = np.asarray(rows, dtype=np.int64)
        self.spec = dataset.spec
        self.num_classes = dataset.num_classes
        self.class_names = dataset.class_names
        self.labels = np.asarray(dataset.labels)[self.rows]
        self.repeat = int(getattr(dataset, "repeat", 1))
        self._split = len(dataset.labels)  # clips per pass of the underlying split

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.rows) * self.repeat

    def __getitem__(self, i: int) -> dict:
        passes, k = divmod(int(i), len(self.rows))
        return self.dataset[int(self.rows[k]) + passes * self._split]


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


@dataclass(frozen=True)
class FinetuneSettings:
    """A fine-tuning evaluation: a linear head on the encoder, trained with `train` (the config's train section)
    on clips made by `supervised` (the config's supervised section: augmentation, clip length, repeat, head).

    modality: the encoder output the head classifies ("" = the encoder's default, fused);
    freeze_encoder: train only the head (a linear probe with augmented views);
    resume: "auto" (the run folder's last checkpoint, if any), "none", or a checkpoint path;
    labelled: train on a class-balanced part of the train split only (the semi-supervised protocol);
    name: results.json's protocol without a labelled fraction (finetune; supervised for a run from scratch);
    stop_after_epoch: a time-limited part of the schedule (the test figure is then the stopping epoch's).
    """

    train: TrainConfig = TrainConfig()
    supervised: SupervisedConfig = SupervisedConfig()
    modality: str = ""
    freeze_encoder: bool = False
    resume: bool | str = "auto"
    labelled: LabelFraction | None = None
    name: str = "finetune"
    stop_after_epoch: int | None = None  # stop after this many epochs of the train.epochs schedule (resume later)

    @property
    def tag(self) -> str:
        """finetune (or name), or semi<percent> with a labelled fraction (results.json protocol, folder prefix)."""
        return self.labelled.tag if self.labelled is not None else self.name

    def method_params(self) -> dict:
        """The "supervised" method's parameters (objectives/supervised.py checks them)."""
        return {
            "modality": self.modality,
            "dropout": self.supervised.dropout,
            "label_smoothing": self.supervised.label_smoothing,
            "freeze_encoder": self.freeze_encoder,
            "head_init": self.supervised.head_init,
        }

    def evaluate(self, run: EvalRun, out_dir: Path) -> EvalResult | None:
        source = {"checkpoint": str(run.checkpoint), "random_init": run.random_init}
        encoder = run.trainable_encoder()
        return evaluate_finetune(
            encoder, run.data, self, out_dir, config=run.cfg, source=source, device=run.request.device
        )


def evaluate_finetune(
    encoder: nn.Module,
    data: EvalData,
    settings: FinetuneSettings,
    run_dir: str | Path,
    *,
    config: Config | None = None,
    source: dict | None = None,
    device: str | None = None,
) -> EvalResult | None:
    """Train `encoder` (in place) with a linear head on `data`'s train split, then test the final model.

    The clips are `data`'s, made by `settings.supervised` (its augmentation, clip length and repeat; what the
    data is, e.g. its normalisation, comes from `data`). Every `supervised.eval_every` epochs and after the last
    the run scores a clean (un-augmented) sample of its training clips and the test split (log.txt,
    TensorBoard, curves.png); results.json gets the final clean training accuracy and `underfitting`.
    The training run (checkpoints, resume, TensorBoard) lives in `run_dir`; its checkpoint stores `config`
    (default: one made of the encoder's entry) with the supervised data, `settings.train` and the
    "supervised" objective, so `load_encoder` reads it like any other. The head's initial weights come from
    torch's global generator: seed it first for a repeatable run. Returns None on DDP ranks other than 0.
    """
    from ssl_skel.engine.logging import RunLogger
    from ssl_skel.engine.trainer import fit
    from ssl_skel.objectives import build_method

    sup = settings.supervised
    data = dataclasses.replace(data, config=sup.data_config(data.config))
    train_set = data.dataset("train", train=True, spec=encoder.spec)
    clean_set = data.dataset("train", train=False, spec=encoder.spec)
    extra = {}
    labelled = settings.labelled
    if labelled is not None:
        rows = labelled.rows(train_set.labels)
        train_set, clean_set = LabelledSubset(train_set, rows), LabelledSubset(clean_set, rows)
        extra["labelled"] = {"percent": labelled.percent, "subset_seed": labelled.seed, "clips": int(len(rows))}
    clean_set = LabelledSubset(clean_set, clean_sample(clean_set.labels, sup.clean_train_clips, data.seed))
    test_set = data.dataset("test", train=False, spec=encoder.spec)
    last_epoch = min(settings.train.epochs, settings.stop_after_epoch or settings.train.epochs)
    monitor = FitMonitor(clean_set, test_set, last_epoch, sup.eval_every, data.batch_size, data.num_workers)
    params = settings.method_params()
    method = build_method("supervised", params, encoder, num_classes=train_set.num_classes)
    meta = {
        "kind": "finetune",
        "config": to_dict(_run_config(config, encoder, data, settings, params)),
        "encoder": encoder_entry(encoder),
        "source": {**(source or {}), "protocol": settings.tag},
        "class_names": list(train_set.class_names),
    }
    result = fit(
        method,
        train_set,
        settings.train,
        run_dir,
        seed=data.seed,
        checkpoint_meta=meta,
        num_workers=data.num_workers,
        resume=settings.resume,
        eval_hook=monitor,
        device=device,
        stop_after_epoch=settings.stop_after_epoch,
    )
    if not is_main_process():
        return None
    pred = monitor.last_held_out
    if pred is None or monitor.last_epoch != last_epoch:  # a finished run resumed: nothing trained
        pred = predict(
            method, test_set, batch_size=data.batch_size, num_workers=data.num_workers, device=_device_of(method)
        )
    fitted = fit_summary(result.history)
    warning = underfitting_warning(fitted)
    if warning:
        log.warning(warning)
        logger = RunLogger(run_dir, tensorboard=False)
        logger.line(warning, echo=False)
        logger.close()
    name = method.modality
    train = settings.train
    return EvalResult(
        protocol=settings.tag,
        title=settings.tag,
        metrics={name: topk_accuracy(pred.scores, pred.labels)},
        scores={name: pred.scores},
        labels=pred.labels,
        indices=pred.indices,
        class_names=list(test_set.class_names),
        embeddings=pred.embeddings,
        settings={
            "train": {
                k: getattr(train, k)
                for k in ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "warmup_epochs")
            },
            "method": params,
            "supervised": to_dict(sup),
            "train_clips": len(train_set),
            "clean_train_clips": len(clean_set),
        },
        selection=(
            "model after the final epoch, evaluated once on the test split"
            if last_epoch == train.epochs
            else f"model after epoch {last_epoch} of a {train.epochs}-epoch schedule (stopped early)"
        ),
        extra={"checkpoint_out": str(result.last_checkpoint), **fitted, **extra},
    )


def _run_config(
    config: Config | None, encoder: nn.Module, data: EvalData, settings: FinetuneSettings, params: dict
) -> Config:
    """The config a fine-tuned checkpoint stores: the given one (or one naming the encoder) trained as "supervised",
    with the data section the run read (the supervised recipe's) and its supervised section."""
    if config is None:
        entry = encoder_entry(encoder)
        return Config(
            data=data.config,
            model=ModelConfig(entry["name"], entry["params"]),
            objective=ObjectiveConfig("supervised", params),
            train=settings.train,
            supervised=settings.supervised,
            seed=data.seed,
        )
    objective = dataclasses.replace(config.objective, name="supervised", params=params)
    return dataclasses.replace(
        config, data=data.config, train=settings.train, objective=objective, supervised=settings.supervised
    )


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device
