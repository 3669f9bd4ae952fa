"""Figures over seeds (mean and population spread) and over the folds of a cross-validation (mean)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .datasets import MODALITIES


def mean_std(values: Sequence[float | None]) -> tuple[float, float]:
    """Mean and population standard deviation of the values that are not None; NaN for none."""
    v = np.asarray([x for x in values if x is not None], np.float64)
    return (float(v.mean()), float(v.std())) if v.size else (math.nan, math.nan)


def aggregate(per_seed: list[dict], key: str) -> dict[str, dict[str, tuple[float, float]]] | None:
    """{modality: {metric: (mean, std)}} of per_seed[i][key] over the seeds that have it."""
    tables = [r[key] for r in per_seed if r.get(key)]
    if not tables:
        return None
    return {
        m: {metric: mean_std([t[m].get(metric) for t in tables if metric in t[m]]) for metric in ("linear", "knn1")}
        for m in MODALITIES
        if any(t.get(m) for t in tables)
    }


def fold_mean(runs: dict[str, dict]) -> dict:
    """One seed's figures over the folds of a cross-validation, {fold: one fold's result} -> one result.

    Each metric is the mean over the folds (the protocol's number); a table or a supervised row
    is kept only when every fold has it. The per-fold results stay under "folds".
    """
    folds = list(runs.values())
    out = {
        "seed": folds[0]["seed"],
        "epochs_done": [r["epochs_done"] for r in folds],
        "planned_epochs": [r["planned_epochs"] for r in folds],
        "stopped_by_budget": any(r["stopped_by_budget"] for r in folds),
        "pretrain_s": sum(r["pretrain_s"] for r in folds),
        "loss": float(np.mean([r["loss"] for r in folds])),
        "curve": [],  # per fold, under "folds"
        "folds": runs,
    }
    for key in ("pretrained", "random"):
        if all(r.get(key) for r in folds):
            out[key] = {
                m: {
                    metric: float(np.mean([r[key][m][metric] for r in folds]))
                    for metric in ("linear", "knn1")
                    if all(metric in r[key].get(m, {}) for r in folds)
                }
                for m in MODALITIES
                if all(r[key].get(m) for r in folds)
            }
    for key in ("finetune", "scratch"):
        if all(r.get(key) for r in folds):
            out[key] = {**folds[0][key], "top1": float(np.mean([r[key]["top1"] for r in folds]))}
            clean = [r[key].get("clean_train_top1") for r in folds]
            if all(c is not None for c in clean):
                out[key]["clean_train_top1"] = float(np.mean(clean))
            flags = [r[key].get("underfitting") for r in folds]
            if any(f is not None for f in flags):  # records of older runs have neither figure
                out[key]["underfitting"] = any(flags)
    return out
