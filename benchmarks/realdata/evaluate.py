"""The evaluation rows of one pretrained (or random) encoder, and the two supervised rows.

Each protocol writes its results.json into its own folder; a finished one is reused on a
rerun, unless its recorded settings differ from the ones asked now (a changed preset probe, a
longer `--scratch-epochs`), so the figures of two settings never mix.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from . import stages
from .datasets import MODALITIES

log = logging.getLogger("real_data")


def evaluate(
    checkpoint: Path, out: Path, workers: int, random_init: bool, seed: int, probe: stages.LinearProbe
) -> dict[str, dict[str, float]]:
    """Linear probe and KNN-1 top-1 per modality on the test split: {modality: {"linear": .., "knn1": ..}}.

    Both encoders get the same `probe`; a finished probe with other settings is redone."""
    tag = "random" if random_init else "pretrained"
    features = stages.FrozenFeatures(checkpoint, random_init, seed, workers, out / f"features_{tag}", MODALITIES)
    results: dict[str, dict[str, float]] = {m: {} for m in MODALITIES}
    for protocol, key in (("linear", "linear"), ("knn", "knn1")):
        folder = out / f"{protocol}_{tag}"
        done = folder / "results.json"
        if done.exists() and protocol == "linear" and probe.differs_from(_settings(done)):
            log.info("%s: probe settings changed (%s); probing again", folder, probe)
            done.unlink()
        if not done.exists():
            if protocol == "linear":
                stages.run_linear(features, probe, folder)
            else:
                stages.run_knn(features, 1, folder)
        metrics = json.loads(done.read_text())["metrics"]
        for m in MODALITIES:
            if m in metrics:
                results[m][key] = float(metrics[m]["top1"])
    return results


def supervised(
    checkpoint: Path, folder: Path, seed: int, random_init: bool, settings: stages.Supervised, config_batch: int
) -> dict:
    """Fine-tuning (fused feature + linear head) of `checkpoint`'s encoder, or from scratch: its test top-1
    and recipe. A finished run of another length is redone (e.g. a rerun with a longer `--scratch-epochs`)."""
    done = folder / "results.json"
    if done.exists() and _settings(done).get("train", {}).get("epochs") != settings.epochs:
        log.info("%s: trained for other than %d epochs; training again", folder, settings.epochs)
        shutil.rmtree(folder)
    if not done.exists():
        stages.run_finetune(checkpoint, random_init, seed, settings, folder)
    results = json.loads(done.read_text())
    first = next(iter(results["metrics"].values()))
    return {
        "top1": float(first["top1"]),
        "clean_train_top1": results.get("clean_train_top1"),  # the run's own training clips, un-augmented
        "underfitting": results.get("underfitting"),
        "epochs": settings.epochs,
        "lr": settings.lr,
        "batch": settings.batch_size or config_batch,
    }


def _settings(results: Path) -> dict:
    return json.loads(results.read_text()).get("settings", {})
