"""Online KNN monitor: how good the encoder is *while* it trains, on held-out training clips.

Why: a pretraining loss that falls says little about the features; a KNN-1 accuracy on a
validation split every few epochs shows when the representation stops improving (and
which epoch to keep: `best_val.pt`), without ever reading the test split. The
validation clips are carved from the training split (`ssl_skel.data.splits`); the
KNN memory bank is the rest of the training split, so no label of a validation clip is
used. Optionally a quick linear probe on the same split joins the KNN figure.

`eval.monitor_both_ways` also runs each figure the other way round (the held-out part as the
bank or training set, the rest as queries) and reports the mean of the two directions. With
a split by view, one direction alone can mislead: on NW-UCLA a probe gained 7-8 points from
view 2 to view 1 and under one point from view 1 to view 2 (configs/nwucla_cpu.yaml). Both
directions reuse the same features, so the KNN costs no more extraction.

Under DDP the figures are computed on rank 0 (the weights are identical on every rank
after the epoch) and broadcast, so every rank logs and checkpoints the same history. The
monitor is deterministic (no global random state is used), so a resumed run records the
same figures as an uninterrupted one.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ssl_skel.core.config import Config
from ssl_skel.data.datasets import SkeletonClips, build_dataset
from ssl_skel.data.splits import ValSplit, monitor_split_of, split_arrays
from ssl_skel.evaluation.features import extract_features
from ssl_skel.evaluation.knn import knn_classify
from ssl_skel.evaluation.linear import LinearProtocol, train_linear_probe
from ssl_skel.models.frozen import FrozenEncoder

log = logging.getLogger(__name__)

KNN_KEY, LINEAR_KEY = "val/knn1", "val/linear"


class KnnMonitor:
    """An `EvalHook` for `fit`: every `eval.monitor_every` epochs (and at the last), KNN-1 top-1 (%)
    of the fused feature on the validation split, plus a quick linear probe when
    `eval.monitor_linear_epochs` > 0. Returns {"val/knn1": ..., ["val/linear": ...]} or None."""

    def __init__(self, cfg: Config) -> None:
        ev = cfg.eval
        if ev.monitor_every < 1:
            raise ValueError("KnnMonitor needs eval.monitor_every >= 1")
        self.every = ev.monitor_every
        self.last_epoch = cfg.train.epochs
        self.batch_size = ev.feature_batch_size
        self.linear_epochs = ev.monitor_linear_epochs
        self.both_ways = ev.monitor_both_ways
        self.linear = LinearProtocol(
            epochs=max(1, ev.monitor_linear_epochs),
            lr=ev.linear_lr,
            batch_size=ev.linear_batch_size,
            normalize=ev.linear_normalize,
            seed=cfg.seed,
        )
        train = build_dataset(cfg.data, "train", train=False, seed=cfg.seed)  # un-augmented views
        self.split: ValSplit = monitor_split_of(train.arrays, ev, cfg.seed)
        bank, val = split_arrays(train.arrays, self.split)
        self.bank, self.val = (self._clips(train, arrays) for arrays in (bank, val))
        self.num_classes = train.num_classes

    @staticmethod
    def _clips(like: SkeletonClips, arrays) -> SkeletonClips:
        return SkeletonClips(
            arrays,
            clip_length=like.spec.clip_length,
            num_views=1,
            transform=like.transform,
            eval_transform=like.transform,
            train=False,
            seed=like.seed,
        )

    def due(self, epoch: int) -> bool:
        return epoch % self.every == 0 or epoch == self.last_epoch

    def measure(self, encoder: nn.Module) -> dict[str, float]:
        """The figures for `encoder` (the live one is copied, so training state is untouched)."""
        frozen = FrozenEncoder(copy.deepcopy(encoder))
        kw = {"batch_size": self.batch_size, "progress": False}
        bank = extract_features(frozen, self.bank, ("fused",), desc="monitor bank", **kw)
        val = extract_features(frozen, self.val, ("fused",), desc="monitor val", **kw)
        directions = [(bank, val), (val, bank)] if self.both_ways else [(bank, val)]
        runs = [self._figures(fit, query) for fit, query in directions]
        return {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}

    def _figures(self, fit, query) -> dict[str, float]:
        """KNN-1 (and the quick probe) of `query` clips against `fit` clips, top-1 in %."""
        res = knn_classify(fit.embeddings["fused"], fit.labels, query.embeddings["fused"], self.num_classes, k=1)
        out = {KNN_KEY: 100.0 * float(np.mean(res.predictions == query.labels))}
        if self.linear_epochs > 0:
            probe = train_linear_probe(
                fit.embeddings["fused"],
                fit.labels,
                query.embeddings["fused"],
                query.labels,
                self.num_classes,
                self.linear,
            )
            out[LINEAR_KEY] = float(probe.metrics["top1"])
        return out

    def __call__(self, method: nn.Module, epoch: int) -> Mapping[str, float] | None:
        if not self.due(epoch):
            return None
        distributed = dist.is_available() and dist.is_initialized()
        keys = [KNN_KEY] + ([LINEAR_KEY] if self.linear_epochs > 0 else [])
        values = torch.zeros(len(keys), dtype=torch.float64)
        if not distributed or dist.get_rank() == 0:
            with torch.random.fork_rng(devices=[]):  # the probe's initialisation leaves no trace in the run
                torch.manual_seed(self.linear.seed)
                figures = self.measure(method.encoder)
            values = torch.tensor([figures[k] for k in keys], dtype=torch.float64)
        if distributed:
            device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
            values = values.to(device)
            dist.broadcast(values, src=0)
        return dict(zip(keys, values.cpu().tolist()))
