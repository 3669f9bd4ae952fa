"""Per-clip class scores on disk, and weighted ensembles of them.

Why: the field reports multi-stream results (joint + bone + motion, or several seeds) by
adding the class scores of separate runs with weights (the "ensemble.py" scripts of
CTR-GCN / InfoGCN / pyskl). Every evaluation here saves `<name>.npy` (N, K) float32 scores
plus `<name>.json` naming the clips (dataset indices), their labels and the classes, so
scores of different runs can be checked to describe the same clips before adding them.
`run_ensemble` is the ensemble protocol: inputs in, results.json / scores / PNG / scalars out.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssl_skel.core.io import atomic_save_npy, atomic_write_bytes
from ssl_skel.engine.metrics import topk_accuracy

FORMAT = "ssl_skel/scores"


@dataclass
class Scores:
    scores: np.ndarray  # (N, K)
    labels: np.ndarray  # (N,)
    indices: np.ndarray  # (N,) dataset indices of the clips
    meta: dict  # source, split, protocol, class_names...
    path: Path | None = None


def save_scores(
    path: str | Path, scores: np.ndarray, labels: np.ndarray, indices: np.ndarray, meta: dict | None = None
) -> Path:
    """Write `path` (.npy scores) and the matching `.json`; returns the .npy path."""
    path = Path(path).with_suffix(".npy")
    scores = np.asarray(scores, np.float32)
    if scores.ndim != 2 or len(scores) != len(labels) or len(labels) != len(indices):
        raise ValueError(f"scores {scores.shape}, labels {len(labels)}, indices {len(indices)} do not line up")
    atomic_save_npy(path, scores)
    info = {"format": FORMAT, "labels": [int(v) for v in labels], "indices": [int(v) for v in indices], **(meta or {})}
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(info).encode())
    return path


def load_scores(path: str | Path) -> Scores:
    path = Path(path).with_suffix(".npy")
    side = path.with_suffix(".json")
    for p in (path, side):
        if not p.exists():
            raise FileNotFoundError(f"{p}: scores file not found (write it with an evaluation's --save-scores)")
    try:
        info = json.loads(side.read_text())
        scores = np.load(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read scores ({exc})") from None
    if info.get("format") != FORMAT:
        raise ValueError(f"{side}: not an ssl_skel scores file")
    labels, indices = np.asarray(info.pop("labels"), np.int64), np.asarray(info.pop("indices"), np.int64)
    if scores.shape[0] != len(labels):
        raise ValueError(f"{path}: {scores.shape[0]} score rows but {len(labels)} labels in {side.name}")
    return Scores(scores, labels, indices, info, path)


def align(runs: Sequence[Scores]) -> list[Scores]:
    """Reorder every run to the first one's clip order; fail if they cover different clips."""
    if not runs:
        raise ValueError("no scores to combine")
    ref = runs[0]
    out = [ref]
    for run in runs[1:]:
        if run.scores.shape[1] != ref.scores.shape[1]:
            raise ValueError(f"{run.path}: {run.scores.shape[1]} classes, {ref.path}: {ref.scores.shape[1]}")
        if set(run.indices.tolist()) != set(ref.indices.tolist()) or len(run.indices) != len(ref.indices):
            raise ValueError(f"{run.path} and {ref.path} score different clips")
        pos = {int(v): i for i, v in enumerate(run.indices)}
        order = np.asarray([pos[int(v)] for v in ref.indices])
        if not np.array_equal(run.labels[order], ref.labels):
            raise ValueError(f"{run.path} and {ref.path} disagree on labels of the same clips")
        out.append(Scores(run.scores[order], ref.labels, ref.indices, run.meta, run.path))
    return out


def combine(runs: Sequence[Scores], weights: Sequence[float]) -> np.ndarray:
    """sum_i w_i * scores_i over aligned runs -> (N, K)."""
    if len(weights) != len(runs):
        raise ValueError(f"{len(runs)} score files but {len(weights)} weights")
    runs = align(runs)
    return sum(float(w) * r.scores.astype(np.float64) for w, r in zip(weights, runs))


def search_weights(
    runs: Sequence[Scores], grid: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
) -> tuple[list[float], float]:
    """Weights maximising top-1 on these (validation) scores: exhaustive grid search.

    The first run's weight is fixed to 1 (scaling all weights changes nothing). Ties keep
    the first combination found, so the result is deterministic.
    """
    runs = align(runs)
    labels = runs[0].labels
    best_w, best_acc = [1.0] * len(runs), -1.0
    if len(runs) > 5:
        raise ValueError("grid search supports up to 5 score files; pass --weights for more")
    for rest in itertools.product(grid, repeat=len(runs) - 1):
        w = [1.0, *rest]
        acc = topk_accuracy(combine(runs, w), labels, (1,))["top1"]
        if acc > best_acc + 1e-9:
            best_w, best_acc = w, acc
    return best_w, best_acc


# --------------------------------------------------------------------------- the protocol
@dataclass(frozen=True)
class EnsembleSettings:
    """How the inputs are weighted: `weights` (one per input; None: 1 each), or searched on `search`
    (validation score files, one per input, e.g. those a linear probe with a val_fraction writes;
    the test split never picks weights)."""

    weights: tuple[float, ...] | None = None
    search: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and self.search is not None:
            raise ValueError("give either weights or a validation search, not both")


@dataclass
class EnsembleResult:
    """metrics: "ensemble" and "input1".. (the inputs in the order given); scores: (N, K) combined;
    val_top1: the searched weights' top-1 on the validation scores; path: results.json."""

    metrics: dict[str, dict[str, float]]
    weights: list[float]
    val_top1: float | None
    scores: np.ndarray
    path: Path


def run_ensemble(
    inputs: Sequence[str | Path], settings: EnsembleSettings = EnsembleSettings(), out: str | Path | None = None
) -> EnsembleResult:
    """Combine the inputs' scores and write results.json, scores/ensemble, confusion.png and TensorBoard
    scalars to `out` (default: <first input's run folder>/ensemble). ValueError when the inputs do not line up."""
    from ssl_skel.engine.plots import plot_confusion
    from ssl_skel.evaluation.results import log_scalars, write_results

    runs = [load_scores(s) for s in inputs]
    if settings.search is not None:
        if len(settings.search) != len(runs):
            raise ValueError(f"a weight search needs {len(runs)} validation files, one per score file")
        weights, val_acc = search_weights([load_scores(s) for s in settings.search])
    else:
        weights, val_acc = list(settings.weights or [1.0] * len(runs)), None
    combined = combine(runs, weights)
    runs = align(runs)
    labels = runs[0].labels
    metrics = {"ensemble": topk_accuracy(combined, labels)}
    for i, r in enumerate(runs):  # inputs named input1.. in the order given (paths in settings)
        metrics[f"input{i + 1}"] = topk_accuracy(r.scores, labels)
    out = Path(out) if out else runs[0].path.parent.parent / "ensemble"
    inputs_meta = [str(r.path) for r in runs]
    save_scores(
        out / "scores" / "ensemble",
        combined,
        labels,
        runs[0].indices,
        {"protocol": "ensemble", "inputs": inputs_meta, "weights": weights},
    )
    path = write_results(
        out / "results.json",
        protocol="ensemble",
        dataset=runs[0].meta.get("dataset", {}),
        split=str(runs[0].meta.get("split", "test")),
        checkpoint="",
        metrics=metrics,
        settings={
            "inputs": inputs_meta,
            "weights": weights,
            "searched_on": list(settings.search) if settings.search is not None else None,
            "val_top1": val_acc,
        },
        selection="weights given" if settings.search is None else "weights searched on validation scores",
    )
    plot_confusion(labels, combined.argmax(1), out / "confusion.png", runs[0].meta.get("class_names"), title="ensemble")
    log_scalars(out / "tb", metrics, "ensemble")
    return EnsembleResult(metrics, weights, val_acc, combined, path)
