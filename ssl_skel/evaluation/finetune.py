"""Fine-tuning and semi-supervised training through the one training engine.

Why the engine: a classification head on a pretrained encoder is just another Method
("supervised"), so fine-tuning gets DDP, AMP, accumulation, checkpoints and resume from
`ssl_skel.engine.trainer.fit` without a second loop. The resulting checkpoints have kind
"finetune" and keep the encoder under "encoder.", so `load_encoder` reads them too.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ssl_skel.core.checkpoint import encoder_entry, encoder_from_checkpoint
from ssl_skel.core.config import Config, to_dict
from ssl_skel.engine.metrics import topk_accuracy

log = logging.getLogger(__name__)


class LabelledSubset(Dataset):
    """Rows of a clip dataset (e.g. the 1% labelled part), keeping its attributes."""

    def __init__(self, dataset, rows: np.ndarray) -> None:
        self.dataset = dataset
        self.rows = np.asarray(rows, dtype=np.int64)
        self.spec = dataset.spec
        self.num_classes = dataset.num_classes
        self.class_names = dataset.class_names
        self.labels = np.asarray(dataset.labels)[self.rows]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.dataset[int(self.rows[i])]


@dataclass
class Prediction:
    scores: np.ndarray  # (N, K) softmax probabilities
    labels: np.ndarray
    indices: np.ndarray
    embeddings: np.ndarray  # (N, D) encoder features the head classified


def predict(
    method, dataset, *, batch_size: int = 256, num_workers: int = 0, device: str | torch.device = "cpu"
) -> Prediction:
    """Run encoder + head of a trained "supervised" method over an un-augmented split."""
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


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def train_supervised(
    checkpoint: str | Path,
    cfg: Config,
    train_set,
    run_dir: str | Path,
    *,
    seed: int,
    method_params: dict | None = None,
    random_init: bool = False,
    num_workers: int = 0,
    kind_note: str = "finetune",
    resume: bool | str = "auto",
    device: str | None = None,
):
    """Fine-tune the checkpoint's encoder with a linear head on `train_set`; returns (method, FitResult)."""
    from ssl_skel.engine.trainer import fit
    from ssl_skel.objectives import build_method

    torch.manual_seed(seed)
    encoder, payload = encoder_from_checkpoint(checkpoint, load_weights=not random_init)
    params = dict(method_params or {})
    method = build_method("supervised", params, encoder, num_classes=train_set.num_classes)
    run_cfg = dataclasses.replace(cfg, objective=dataclasses.replace(cfg.objective, name="supervised", params=params))
    entry = encoder_entry(encoder)
    meta = {
        "kind": "finetune",
        "config": to_dict(run_cfg),
        "encoder": entry,
        "source": {"checkpoint": str(checkpoint), "random_init": random_init, "protocol": kind_note},
        "class_names": list(train_set.class_names),
    }
    result = fit(
        method,
        train_set,
        cfg.train,
        run_dir,
        seed=seed,
        checkpoint_meta=meta,
        num_workers=num_workers,
        resume=resume,
        device=device,
    )
    return method, result


def evaluate(method, test_set, *, batch_size: int, num_workers: int = 0) -> tuple[dict, Prediction]:
    device = next(method.parameters()).device
    pred = predict(method, test_set, batch_size=batch_size, num_workers=num_workers, device=device)
    return topk_accuracy(pred.scores, pred.labels), pred
