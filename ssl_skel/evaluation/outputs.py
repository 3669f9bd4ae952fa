"""What a protocol returns (`EvalResult`) and the files made of it, the same for every protocol.

Every protocol (linear, KNN, fine-tune, semi) returns an `EvalResult`; `write_outputs` turns any of
them into results.json, per-modality scores, TensorBoard scalars and the confusion / t-SNE PNGs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssl_skel.evaluation.ensemble import Scores, save_scores
from ssl_skel.evaluation.results import log_scalars, write_results


@dataclass
class EvalResult:
    """One protocol's outcome on the test split, before anything is written.

    metrics: {modality: {"top1": %, "top5": %, ...}}; scores: {modality: (N, K) class scores};
    labels, indices: (N,) of the test clips; embeddings: (N, D) of the first modality (t-SNE), or None;
    settings / selection: what results.json states about how the figures were made;
    held_out: {modality: scores of a held-out part of the train split} (written as scores/val_<modality>);
    extra: further top-level entries of results.json (e.g. the fine-tuned checkpoint).
    """

    protocol: str  # results.json "protocol" and the output folder's prefix: linear, knn, finetune, semi10
    title: str  # the printed table's title
    metrics: dict[str, dict[str, float]]
    scores: dict[str, np.ndarray]
    labels: np.ndarray
    indices: np.ndarray
    class_names: list[str]
    embeddings: np.ndarray | None
    settings: dict
    selection: str
    split: str = "test"
    held_out: dict[str, Scores] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def write_outputs(
    result: EvalResult,
    out_dir: str | Path,
    *,
    checkpoint: str,
    dataset: dict,
    encoder: dict,
    plots: bool = True,
    seed: int = 0,
) -> Path:
    """results.json + TensorBoard scalars + per-modality scores + confusion/t-SNE PNGs under `out_dir`.

    dataset: root, benchmark, layout, clip_length; encoder: random_init, dim, modalities (both stored
    in results.json as given). Returns the results file.
    """
    from ssl_skel.engine.plots import plot_confusion, plot_tsne

    out = Path(out_dir)
    for name, held in result.held_out.items():
        save_scores(out / "scores" / f"val_{name}", held.scores, held.labels, held.indices, held.meta)
    files = {}
    for name, s in result.scores.items():
        meta = {
            "protocol": result.protocol,
            "modality": name,
            "split": result.split,
            "checkpoint": checkpoint,
            "class_names": result.class_names,
            "dataset": dataset,
        }
        files[name] = str(
            save_scores(out / "scores" / f"{result.split}_{name}", s, result.labels, result.indices, meta)
        )
    if plots and result.scores:
        main = next(iter(result.scores))
        predictions = result.scores[main].argmax(1)
        title = f"{result.protocol} ({main})"
        files["confusion_png"] = str(
            plot_confusion(result.labels, predictions, out / "confusion.png", result.class_names, title=title)
        )
        if result.embeddings is not None and len(result.embeddings) >= 3:
            files["tsne_png"] = str(
                plot_tsne(
                    result.embeddings,
                    result.labels,
                    out / "tsne.png",
                    seed=seed,
                    title=f"t-SNE of {result.split} embeddings ({main})",
                    class_names=result.class_names,
                )
            )
    log_scalars(out / "tb", result.metrics, result.protocol)
    return write_results(
        out / "results.json",
        protocol=result.protocol,
        dataset=dataset,
        split=result.split,
        checkpoint=checkpoint,
        metrics=result.metrics,
        settings=result.settings,
        selection=result.selection,
        extra={"encoder": encoder, "files": files, **result.extra},
    )
