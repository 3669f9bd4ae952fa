"""The training side of a supervised run, beside its held-out figure: no silent underfitting.

Why: a classifier whose accuracy on its own (un-augmented) training clips is no better than on
held-out clips has not fitted its data; a longer schedule, a wider model or a lighter
augmentation would help, and no amount of tuning on the held-out figure shows it. Every
`eval_every` epochs (and after the last) `FitMonitor` scores the model, in eval mode, on a fixed
class-stratified sample of the training clips through the evaluation view and on the held-out
split; the engine logs both (log.txt, TensorBoard `epoch/accuracy/...`, one panel of
curves.png). `fit_summary` turns the curve into results.json's entries and flags a run whose
final clean training accuracy is at or below its held-out accuracy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

log = logging.getLogger(__name__)

CLEAN_KEY = "accuracy/clean_train"
HELD_OUT_KEY = "accuracy/test"


@dataclass
class Prediction:
    scores: np.ndarray  # (N, K) softmax probabilities
    labels: np.ndarray
    indices: np.ndarray
    embeddings: np.ndarray  # (N, D) encoder features the head classified


def predict(
    method, dataset, *, batch_size: int = 256, num_workers: int = 0, device: str | torch.device = "cpu"
) -> Prediction:
    """Run encoder + head of a trained "supervised" method over an un-augmented split (eval mode)."""
    from ssl_skel.evaluation.features import _collate

    method = method.to(device).eval()
    scores, labels, indices, embeds = [], [], [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=_collate)
    with torch.inference_mode():
        for x, y, idx in loader:
            feats = method.encoder(x.to(device), method.modality).float()
            scores.append(torch.softmax(method.head(feats), 1).cpu().numpy())
            embeds.append(feats.cpu().numpy())
            labels.append(y.numpy())
            indices.append(idx.numpy())
    return Prediction(np.concatenate(scores), np.concatenate(labels), np.concatenate(indices), np.concatenate(embeds))


def clean_sample(labels: np.ndarray, max_clips: int, seed: int = 0) -> np.ndarray:
    """Rows of at most `max_clips` training clips, spread evenly over classes (seeded, so fixed for a run)."""
    from ssl_skel.engine.plots import stratified_subsample

    return stratified_subsample(np.asarray(labels), max_clips, seed)


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    return 100.0 * float(np.mean(np.asarray(scores).argmax(1) == np.asarray(labels))) if len(labels) else 0.0


@dataclass
class FitMonitor:
    """An engine eval hook: clean training and held-out top-1 every `every` epochs and after epoch `epochs`.

    clean: the training clips through the evaluation view (a sample); held_out: the held-out split;
    `last_held_out` keeps the final epoch's held-out prediction, so the run does not predict it twice.
    """

    clean: object  # a dataset of un-augmented training clips
    held_out: object  # the held-out split, un-augmented
    epochs: int
    every: int = 1
    batch_size: int = 256
    num_workers: int = 0
    last_held_out: Prediction | None = field(default=None, init=False)
    last_epoch: int = field(default=0, init=False)

    def __call__(self, method: nn.Module, epoch: int) -> dict[str, float] | None:
        if epoch != self.epochs and (self.every == 0 or epoch % self.every):
            return None
        device = next(method.parameters()).device
        kw = {"batch_size": self.batch_size, "num_workers": self.num_workers, "device": device}
        clean = predict(method, self.clean, **kw)
        held = predict(method, self.held_out, **kw)
        self.last_held_out, self.last_epoch = held, epoch
        return {CLEAN_KEY: top1(clean.scores, clean.labels), HELD_OUT_KEY: top1(held.scores, held.labels)}


def fit_summary(history: list[dict]) -> dict:
    """results.json entries from the run's per-epoch history: the final clean training and held-out top-1,
    the curve (with the epoch's mean loss and its training pass's CPU seconds), and `underfitting` (final
    clean training top-1 at or below the held-out one, unless it is 100 %; None without figures)."""
    extras = {"loss": "loss", "cpu_s": "train_cpu_s", "samples_per_s": "samples_per_s"}
    curve = [
        {
            "epoch": int(h["epoch"]),
            "clean_train_top1": h[CLEAN_KEY],
            "test_top1": h[HELD_OUT_KEY],
            **{name: h[key] for key, name in extras.items() if key in h},
        }
        for h in history
        if CLEAN_KEY in h and HELD_OUT_KEY in h
    ]
    if not curve:
        return {"clean_train_top1": None, "underfitting": None, "fit_curve": []}
    last = curve[-1]
    return {
        "clean_train_top1": last["clean_train_top1"],
        # a model that gets every training clip right has nothing left to fit, whatever the held-out figure
        "underfitting": bool(last["clean_train_top1"] <= last["test_top1"] and last["clean_train_top1"] < 100.0),
        "fit_curve": curve,
    }


def underfitting_warning(summary: dict) -> str | None:
    """The warning line for an underfitting run, else None."""
    if not summary.get("underfitting"):
        return None
    last = summary["fit_curve"][-1]
    return (
        f"UNDERFITTING: after epoch {last['epoch']} the clean training accuracy {last['clean_train_top1']:.2f} is at "
        f"or below the held-out accuracy {last['test_top1']:.2f}: the model does not fit its training data "
        "(train longer, use a wider model or a lighter augmentation)"
    )
