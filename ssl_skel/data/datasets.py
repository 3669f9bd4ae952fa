"""Array-backed clip datasets: fixed-length clips and augmented views for SSL.

Why memory-mapped: NTU-120 is ~30 GB as float32; `SkeletonClips` reads one sample's
valid frames from the memory map per item and never copies the array, so memory does
not grow with the dataset. Why per-item generators: an item's randomness is
`np.random.default_rng([seed, epoch, index])`, so the views of a sample depend only on
(seed, epoch, index), not on the worker count, the batch order or where a run resumed.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ssl_skel.core.config import ConfigError, DataConfig
from ssl_skel.data.batched import ViewPlanner, apply_linear_numpy, apply_linear_torch, unplanned_steps
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.spec import InputSpec
from ssl_skel.data.storage import DataFormatError, SkeletonArrays, read_manifest
from ssl_skel.data.synthetic import check_version
from ssl_skel.data.transforms import Compose, build_eval_transform, build_transforms


class SkeletonClips(Dataset):
    """One split as items {"views": [(C, T, V, M) float32 tensors], "label": int, "index": int}.

    train=True: `num_views` independently augmented views (transform); train=False: one
    deterministic view (eval_transform). `index` is the position in the split. `repeat` (training
    only): the split passes `repeat` times per epoch, as one set of N * repeat items (item i is clip
    i % N with draws of its own), as CTR-GCN's NW-UCLA feeder does.

    A crop-resize + linear-steps pipeline (the UmURL recipe) makes a clip's views together
    (`ssl_skel.data.batched`: the same draws and values as view by view). augment_on="device":
    the views are only cropped and resized here; each item also carries "aug_matrix" (K, S, C, C)
    and "aug_joints" (K, S, V), and `batch_transform(batch)` applies them on the batch's device.
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
        augment_on: Literal["loader", "device"] = "loader",
        repeat: int = 1,
    ) -> None:
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        self.arrays = arrays
        self.train = train
        self.repeat = int(repeat) if train else 1
        self.num_views = num_views if train else 1
        self.transform = transform if train else eval_transform
        self.seed = int(seed)
        self.planner = ViewPlanner.of(self.transform) if train else None
        on_device = train and augment_on == "device"
        if on_device and self.planner is None:
            raise ConfigError(
                "data.augment_on: device needs a crop-resize + shear/rotate/yaw/corrupt pipeline; this one has "
                f"{', '.join(unplanned_steps(self.transform))} (use data.augment_on: loader)"
            )
        self.batch_transform = self._augment_batch if on_device else None
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
        return len(self.arrays) * self.repeat

    def subset(self, rows: np.ndarray) -> SkeletonClips:
        """The same clips pipeline over `rows` (positions 0..N-1) of this split only: the memory map is shared."""
        part = copy.copy(self)
        part.arrays = dataclasses.replace(self.arrays, indices=self.arrays.indices[np.asarray(rows, dtype=np.int64)])
        part.labels = self.labels[np.asarray(rows, dtype=np.int64)]
        part._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        part.set_epoch(self.epoch)
        return part

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
        pos = i % len(self.arrays)  # the clip's split position; i (which names its pass too) seeds the draws
        clip = self.valid_frames(pos)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        item = {"label": int(self.labels[pos]), "index": pos}
        if self.planner is None:
            item["views"] = [torch.from_numpy(self.transform(clip, rng)) for _ in range(self.num_views)]
            return item
        plans = self.planner.draw(rng, clip.shape, self.num_views)
        views = self.planner.crops(clip, plans)
        if self.batch_transform is None:
            item["views"] = list(torch.from_numpy(apply_linear_numpy(views, plans.matrices, plans.joints)))
        else:  # views as strided slices: the collation's stack copies them anyway
            item["views"] = list(torch.from_numpy(views).unbind(1))
            item["aug_matrix"], item["aug_joints"] = torch.from_numpy(plans.matrices), torch.from_numpy(plans.joints)
        return item

    def _augment_batch(self, batch: dict) -> dict:
        """A collated batch on its device -> the same batch with the linear steps applied to its views."""
        out = {k: v for k, v in batch.items() if k not in ("aug_matrix", "aug_joints")}
        out["views"] = apply_linear_torch(batch["views"], batch["aug_matrix"], batch["aug_joints"])
        return out


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
        transform=build_transforms(
            cfg.augment,
            layout,
            cfg.clip_length,
            resize=cfg.resize,
            preprocess=cfg.preprocess,
            normalize=cfg.normalize,
        ),
        eval_transform=build_eval_transform(
            cfg.clip_length,
            resize=cfg.resize,
            preprocess=cfg.preprocess,
            normalize=cfg.normalize,
            frames=cfg.eval_frames,
        ),
        train=train,
        seed=seed,
        augment_on=cfg.augment_on,
        repeat=cfg.repeat,
    )
