"""Top-1 accuracy of a fusion adapter on a split, per stream, plus throughput.

Why per stream: the designs promise that fusion beats its single streams (or, for
IntegralAction, that it stays robust when the RGB stream fails); reporting every stream
from the same forward pass makes that claim checkable on any data.
"""

from __future__ import annotations

import time
from collections import defaultdict

import torch
from torch.utils.data import DataLoader, Dataset

from ssl_skel.fusion.base import FusionAdapter


def _to(batch: dict, device: torch.device) -> dict:
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.to(device)
        elif isinstance(value, list):
            out[key] = [v.to(device) if isinstance(v, torch.Tensor) else v for v in value]
        else:
            out[key] = value
    return out


@torch.no_grad()
def evaluate_adapter(
    adapter: FusionAdapter,
    dataset: Dataset,
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    keys: tuple[str, ...] | None = None,
) -> dict:
    """{"top1": {stream: accuracy}, "stats": {name: mean}, "num_clips", "clips_per_s"}.

    keys: batch entries passed to the adapter (None = all); e.g. ("views",) checks that a
    model runs on skeletons alone.
    """
    was_training = adapter.training
    adapter.eval()
    device = next(adapter.parameters()).device
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    correct: dict[str, float] = defaultdict(float)
    stats: dict[str, float] = defaultdict(float)
    total, seconds = 0, 0.0
    for batch in loader:
        label = batch["label"].to(device)
        if keys is not None:
            batch = {k: v for k, v in batch.items() if k in keys}
        batch = _to(batch, device)
        start = time.perf_counter()
        scores = adapter.predict(batch)
        seconds += time.perf_counter() - start
        for stream, logits in scores.items():
            correct[stream] += float((logits.argmax(-1) == label).sum())
        for name, values in adapter.extra_stats(batch).items():
            stats[name] += float(values.sum())
        total += int(label.shape[0])
    adapter.train(was_training)
    if total == 0:
        raise ValueError("evaluation split is empty")
    return {
        "top1": {k: v / total for k, v in correct.items()},
        "stats": {k: v / total for k, v in stats.items()},
        "num_clips": total,
        "clips_per_s": total / max(seconds, 1e-9),
    }
