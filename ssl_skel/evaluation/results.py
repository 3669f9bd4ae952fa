"""What an evaluation measured (`EvalResult`) and the files it writes: results JSON, scores, scalars, PNGs.

One JSON per evaluation says what was measured on what: dataset, split, checkpoint,
protocol and metrics, with a `selection` line stating how the reported epoch was chosen
(final epoch, never the best on the test split), so numbers can be compared with papers.
Every protocol returns an `EvalResult`; `write_outputs` turns any of them into the same files
and `format_table` into the same printed table.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssl_skel.core.io import atomic_write_bytes

if TYPE_CHECKING:
    import numpy as np

    from ssl_skel.evaluation.ensemble import Scores

log = logging.getLogger(__name__)

FORMAT = "ssl_skel/results"


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


def write_results(
    path: str | Path,
    *,
    protocol: str,
    dataset: dict,
    split: str,
    checkpoint: str,
    metrics: dict,
    settings: dict | None = None,
    selection: str = "",
    extra: dict | None = None,
) -> Path:
    """Write the results JSON atomically and return its path."""
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "protocol": protocol,
        "dataset": dataset,
        "split": split,
        "checkpoint": str(checkpoint),
        "metrics": metrics,
        "settings": settings or {},
        "selection": selection,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(payload, indent=2, default=str) + "\n").encode())
    log.info("results: %s", path)
    return path


def _flat(metrics: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(_flat(v, key))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    return out


def log_scalars(log_dir: str | Path, metrics: dict, prefix: str, step: int = 0) -> None:
    """Nested metrics -> TensorBoard scalars `<prefix>/<modality>/<metric>`."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(log_dir))
    try:
        for key, value in _flat(metrics, prefix).items():
            writer.add_scalar(key, value, step)
    finally:
        writer.close()


def read_results(run_dir: str | Path) -> list[dict]:
    """Every results JSON under `<run_dir>/eval/`, oldest first."""
    found = []
    for path in sorted(Path(run_dir).glob("eval/*/results.json")):
        try:
            payload = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("skipping unreadable results file %s (%s)", path, exc)
            continue
        if payload.get("format") == FORMAT:
            payload["_path"] = str(path)
            found.append(payload)
    return found


def results_table(results: list[dict]) -> str:
    """Plain-text table: one row per (protocol, encoder), one column per modality's top-1.

    Why: the quickstart and benchmarks end by showing the pretrained encoder next to a random
    one under the same protocols; this is that view, read back from the results files.
    """
    if not results:
        return "(no evaluation results found)"
    modalities: list[str] = []
    rows = []
    for r in results:
        encoder = "random init" if r.get("encoder", {}).get("random_init") else "pretrained"
        protocol = r.get("protocol", "?")
        if protocol == "knn":
            protocol = f"knn (k={r.get('settings', {}).get('k', 1)})"
        top1 = {m: v["top1"] for m, v in r.get("metrics", {}).items() if isinstance(v, dict) and "top1" in v}
        modalities += [m for m in top1 if m not in modalities]
        rows.append((f"{protocol}, {encoder}", top1))
    width = max(len(name) for name, _ in rows)
    lines = [f"{'top-1 (%)':<{width}}  " + "  ".join(f"{m:>7}" for m in modalities)]
    for name, top1 in rows:
        cells = [f"{top1[m]:7.2f}" if m in top1 else f"{'-':>7}" for m in modalities]
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def format_table(title: str, metrics: dict) -> str:
    """The table an evaluation prints: one row per modality, top-1 and top-5 (%)."""
    lines = [f"{title}: {'modality':<8} {'top1':>7} {'top5':>7}"]
    for m, v in metrics.items():
        top5 = f"{v['top5']:7.2f}" if "top5" in v else f"{'-':>7}"
        lines.append(f"{'':<{len(title) + 1}} {m:<8} {v['top1']:7.2f} {top5}")
    return "\n".join(lines)


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
    from ssl_skel.evaluation.ensemble import save_scores

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
