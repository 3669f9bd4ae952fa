"""Frozen-feature extraction: one function with batching, a progress bar and a disk cache.

Why a cache: the linear probe, KNN, plots and ensembles of one checkpoint all read the
same features; extracting them is the slow part on CPU, so they are stored once under a
key made of the checkpoint's bytes, the data split and the modalities.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ssl_skel.core.io import atomic_save_npy

log = logging.getLogger(__name__)


@dataclass
class Features:
    """Embeddings of one split: {modality: (N, D) float32}, labels (N,), dataset indices (N,)."""

    embeddings: dict[str, np.ndarray]
    labels: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: np.ndarray) -> Features:
        return Features({k: v[rows] for k, v in self.embeddings.items()}, self.labels[rows], self.indices[rows])


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (16 hex digits are plenty for a cache key)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]


def cache_key(checkpoint: str | Path, data: dict, modalities: Sequence[str]) -> str:
    """Key of a feature file: checkpoint bytes + data identity (root, split, clip length...)."""
    ident = {"checkpoint": file_digest(checkpoint), "data": data, "modalities": list(modalities)}
    root = Path(data["root"]) if data.get("root") else None
    manifest = root / "manifest.json" if root else None
    if manifest is not None and manifest.exists():  # converters write a hash of the data bytes into it
        ident["manifest"] = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    if root is not None and root.exists():  # and for folders without one (legacy, older): size + mtime of each file
        files = (
            [root] if root.is_file() else sorted(p for p in [*root.iterdir(), *root.glob("splits/*")] if p.is_file())
        )
        ident["files"] = [(str(p.relative_to(root.parent)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]


def _collate(items: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.stack([it["views"][0] for it in items])
    y = torch.as_tensor([int(it["label"]) for it in items], dtype=torch.int64)
    idx = torch.as_tensor([int(it["index"]) for it in items], dtype=torch.int64)
    return x, y, idx


def _load_cache(folder: Path, modalities: Sequence[str]) -> Features | None:
    try:
        emb = {m: np.load(folder / f"{m}.npy") for m in modalities}
        return Features(emb, np.load(folder / "labels.npy"), np.load(folder / "indices.npy"))
    except (OSError, ValueError):
        return None


def extract_features(
    encoder,
    dataset: Dataset,
    modalities: Sequence[str] = ("fused",),
    *,
    batch_size: int = 256,
    num_workers: int = 0,
    cache_dir: str | Path | None = None,
    key: str | None = None,
    progress: bool = True,
    desc: str = "features",
) -> Features:
    """Embed every clip of `dataset` (items {"views": [(C, T, V, M)], "label", "index"}).

    `encoder` is a FrozenEncoder (anything with `embed_modalities(x, names)`); the first
    view of each item is used, so pass a dataset built with `train=False` (un-augmented).
    With `cache_dir` and `key`, features are read from / written to `cache_dir/key/`.
    """
    folder = Path(cache_dir) / key if cache_dir is not None and key else None
    if folder is not None and (folder / "done").exists():
        cached = _load_cache(folder, modalities)
        if cached is not None and len(cached) == len(dataset):
            log.info("features from cache %s", folder)
            return cached
    device = getattr(encoder, "device", torch.device("cpu"))
    if device.type == "cpu" and num_workers > 1:
        # the encoder keeps every core busy; the eval transform needs a small share of one core
        # (benchmarks/eval_speed.py), so more worker processes only compete with it
        log.info("feature extraction on CPU: %d loader workers instead of %d", 1, num_workers)
        num_workers = 1
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate,
        persistent_workers=False,
        pin_memory=device.type == "cuda",
    )
    n = len(dataset)
    dim = getattr(encoder, "dim", 0)
    emb: dict[str, np.ndarray] = {}  # filled in place: no per-batch lists, no final concatenation
    labels = np.zeros(n, np.int64)
    indices = np.zeros(n, np.int64)
    from ssl_skel.core.progress import Progress

    done = 0
    for x, y, idx in Progress(loader, desc=desc, unit="batch", enabled=progress):
        out = encoder.embed_modalities(x.to(device, non_blocking=True), modalities)
        end = done + len(y)
        for m in modalities:
            if m not in emb:
                emb[m] = np.empty((n, out[m].shape[1]), np.float32)
            emb[m][done:end] = out[m].detach().cpu().numpy()
        labels[done:end] = y.numpy()
        indices[done:end] = idx.numpy()
        done = end
    if done != n:
        raise RuntimeError(f"feature extraction: the loader gave {done} clips, the dataset has {n}")
    feats = Features({m: emb.get(m, np.zeros((0, dim), np.float32)) for m in modalities}, labels, indices)
    if folder is not None:
        for m, arr in feats.embeddings.items():
            atomic_save_npy(folder / f"{m}.npy", arr)
        atomic_save_npy(folder / "labels.npy", feats.labels)
        atomic_save_npy(folder / "indices.npy", feats.indices)
        (folder / "done").write_text("ok\n")
    return feats
