"""The results file every evaluation writes, plus its TensorBoard scalars and its printed table.

One JSON per evaluation says what was measured on what: dataset, split, checkpoint,
protocol and metrics, with a `selection` line stating how the reported epoch was chosen
(final epoch, never the best on the test split), so numbers can be compared with papers.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from pathlib import Path
from typing import Any

from ssl_skel.core.io import atomic_write_bytes

log = logging.getLogger(__name__)

FORMAT = "ssl_skel/results"


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
