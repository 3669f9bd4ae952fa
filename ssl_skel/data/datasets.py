"""Array-backed clip datasets: fixed-length clips and augmented views for SSL.

Why memory-mapped: NTU-120 is ~30 GB as float32; `SkeletonClips` reads one sample's
valid frames from the memory map per item and never copies the array, so memory does
not grow with the dataset. Why per-item generators: an item's randomness is
`np.random.default_rng([seed, epoch, index])`, so the views of a sample depend only on
(seed, epoch, index), not on the worker count, the batch order or where a run resumed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ssl_skel.core.config import DataConfig
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.spec import InputSpec
from ssl_skel.data.storage import DataFormatError, SkeletonArrays, read_manifest
from ssl_skel.data.synthetic import check_version
from ssl_skel.data.transforms import Compose, build_eval_transform, build_transforms


class SkeletonClips(Dataset):
    """One split as items {"views": [(C, T, V, M) float32 tensors], "label": int, "index": int}.

    train=True: `num_views` independently augmented views (transform); train=False: one
    deterministic view (eval_transform). `index` is the position in the split.
    """

    def __init__(
        self,
        arrays: SkeletonArrays,
        *,
        clip_length: int,
        num_views: int,
        transform: Compose,
        eval_transform: Compose,
        train: bool,
        seed: int,
    ) -> None:
        self.arrays = arrays
        self.train = train
        self.num_views = num_views if train else 1
        self.transform = transform if train else eval_transform
        self.seed = int(seed)
        _, c, _, v, m = arrays.data.shape
        self.spec = InputSpec.for_layout(arrays.skeleton, int(c), int(m), clip_length, arrays.preprocess)
        self.num_classes = arrays.num_classes
        self.class_names = list(arrays.class_names or [str(k) for k in range(arrays.num_classes)])
        self.labels = np.asarray(arrays.split_labels, dtype=np.int64)
        # shared memory, so DataLoader workers (also persistent ones) see set_epoch
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's augmentations; call before iterating a DataLoader."""
        self._epoch.fill_(int(epoch))

    def __len__(self) -> int:
        return len(self.arrays)

    def valid_frames(self, i: int) -> np.ndarray:
        """Split position i -> its valid frames (C, T_i, V, M) as float32, read from the memory map."""
        row = int(self.arrays.indices[i])
        t_max = self.arrays.data.shape[2]
        n = int(self.arrays.num_frames[row])
        if n < 1:
            name = self.arrays.names[row] if row < len(self.arrays.names) else str(row)
            raise DataFormatError(f"{self.arrays.root}: sample {row} ({name}) has no valid frames")
        return self.arrays.checked(row, np.asarray(self.arrays.data[row, :, : min(n, t_max)], dtype=np.float32))

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for a split of {len(self)} clips")
        i = int(i) % len(self)
        clip = self.valid_frames(i)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        views = [torch.from_numpy(self.transform(clip, rng)) for _ in range(self.num_views)]
        return {"views": views, "label": int(self.labels[i]), "index": i}


def _missing(root: Path, cfg: DataConfig, reason: str = "dataset not found") -> DataFormatError:
    hint = f"; make it with: {cfg.make_command}" if cfg.make_command else ""
    return DataFormatError(f"{root}: {reason}{hint}")


def build_dataset(cfg: DataConfig, part: Literal["train", "test"], *, train: bool, seed: int) -> SkeletonClips:
    """Open `cfg.root`'s `cfg.benchmark` split `part` as clips of `cfg.clip_length` frames.

    Missing data raises DataFormatError naming the folder and `cfg.make_command`.
    """
    root = Path(cfg.root)
    if not root.is_dir() or not any(root.iterdir()):
        raise _missing(root, cfg)
    try:
        arrays = open_arrays(root, cfg.benchmark, part)
    except DataFormatError as exc:
        if "no manifest.json" in str(exc):
            raise _missing(root, cfg, "dataset not found or unfinished (no manifest.json)") from None
        raise
    if (root / "manifest.json").exists():
        check_version(read_manifest(root).get("source", {}), root)
    layout = arrays.skeleton
    if arrays.data.ndim != 5 or arrays.data.shape[3] != layout.num_joints:
        raise DataFormatError(
            f"{root}: data shape {tuple(arrays.data.shape)} does not fit (N, C, T, {layout.num_joints}, M) "
            f"of layout {layout.name}"
        )
    return SkeletonClips(
        arrays,
        clip_length=cfg.clip_length,
        num_views=cfg.num_views,
        transform=build_transforms(cfg.augment, layout, cfg.clip_length, resize=cfg.resize, preprocess=cfg.preprocess),
        eval_transform=build_eval_transform(cfg.clip_length, resize=cfg.resize, preprocess=cfg.preprocess),
        train=train,
        seed=seed,
    )
