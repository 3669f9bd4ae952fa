"""RGB frame folders and masked-depth folders aligned by sample name with skeleton arrays.

Why: fusion adapters need the video of the very clip whose skeleton they see. NTU users
already hold frames in per-sample folders (`<rgb_root>/<sample>_rgb/000000.jpg`, masked
depth `<depth_root>/<sample>/MDepth-00000000.png`, 16-bit millimetres), so this module
reads that layout directly: it lists a sample's frames, samples `num_frames` of them
(TSN-style segments: random inside each segment when training, segment centres when
testing), crops one box for the whole clip and resizes it. Images are decoded with
Pillow. Every problem names the sample and the file, because a corrupt frame in a
dataset of 100k folders is otherwise impossible to find.

Item of `RGBDClips`: {"views": [(C, T, V, M) skeleton], "rgb": (3, F, H, W) float32 in
[0, 1], "depth": (1, F, H, W) float32 in [0, 1], "label": int, "index": int}, plus
"text": (E,) float32 when per-sample features are attached (`attach_sample_features`:
one `<sample>.npy` per sample, e.g. an offline captioning model's output for MMCL's FRM).
`split_validation` carves a stratified validation part out of a training split.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ssl_skel.core.config import RGBDDataConfig
from ssl_skel.data.storage import DataFormatError

log = logging.getLogger(__name__)

RGB_EXTENSIONS = (".jpg", ".jpeg", ".png")


# --------------------------------------------------------------------------- frames
def list_frames(folder: Path, sample: str, kind: str, extensions: Sequence[str]) -> list[Path]:
    """Sorted frame files of one sample; an error names the sample when there are none."""
    if not folder.is_dir():
        raise DataFormatError(f"sample {sample}: {kind} frame folder {folder} not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in extensions and not p.name.startswith("."))
    if not files:
        raise DataFormatError(f"sample {sample}: {kind} frame folder {folder} holds no {'/'.join(extensions)} frames")
    return files


def sample_frame_indices(available: int, num_frames: int, rng: np.random.Generator | None) -> np.ndarray:
    """TSN segments: split `available` frames into `num_frames` equal segments and take one
    frame from each (random with `rng`, the centre without). Short clips repeat frames."""
    if available < 1:
        raise ValueError("a clip needs at least one frame")
    edges = np.linspace(0, available, num_frames + 1)
    if rng is None:
        picks = (edges[:-1] + edges[1:]) / 2
    else:
        picks = edges[:-1] + rng.random(num_frames) * (edges[1:] - edges[:-1])
    return np.clip(np.floor(picks).astype(np.int64), 0, available - 1)


def crop_box(width: int, height: int, scale: float, rng: np.random.Generator | None) -> tuple[int, int, int, int]:
    """A square box of side `scale * min(width, height)`: random position with `rng`, centred without."""
    side = max(1, int(round(scale * min(width, height))))
    if rng is None:
        left, top = (width - side) // 2, (height - side) // 2
    else:
        left = int(rng.integers(0, width - side + 1))
        top = int(rng.integers(0, height - side + 1))
    return left, top, left + side, top + side


def _open(path: Path, sample: str, kind: str) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataFormatError(f"sample {sample}: cannot decode {kind} frame {path} ({exc})") from None
    return image


def read_rgb_frames(
    files: Sequence[Path], sample: str, size: int, box: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """Decode, crop (one box for all frames) and resize: -> (3, F, size, size) float32 in [0, 1]."""
    frames = []
    for path in files:
        image = _open(path, sample, "RGB").convert("RGB")
        if box is not None:
            image = image.crop(box)
        frames.append(np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.float32))
    return np.stack(frames, 0).transpose(3, 0, 1, 2) / 255.0


def read_depth_frames(
    files: Sequence[Path], sample: str, size: int, depth_max: float, box: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """Decode 16-bit masked depth (millimetres, 0 = background): -> (1, F, size, size) in [0, 1]."""
    frames = []
    for path in files:
        image = _open(path, sample, "depth")
        if image.mode not in ("I;16", "I;16B", "I", "L"):
            raise DataFormatError(f"sample {sample}: depth frame {path} has mode {image.mode}, expected 16-bit grey")
        array = np.asarray(image, dtype=np.float32)
        image = Image.fromarray(array, mode="F")
        if box is not None:
            image = image.crop(box)
        frames.append(np.asarray(image.resize((size, size), Image.NEAREST), dtype=np.float32))
    return np.clip(np.stack(frames, 0)[None] / depth_max, 0.0, 1.0)


def frame_box(files: Sequence[Path], sample: str, scale: float, rng: np.random.Generator | None):
    """Crop box shared by every frame of a clip (taken from the first frame's size)."""
    with _open(files[0], sample, "RGB") as first:
        width, height = first.size
    return crop_box(width, height, scale, rng)


# --------------------------------------------------------------------------- dataset
@dataclass
class RGBDSpec:
    """What the video side of an adapter is built for."""

    num_frames: int
    size: int
    use_rgb: bool
    use_depth: bool
    extra: dict = field(default_factory=dict)


class RGBDClips(Dataset):
    """Skeleton clips (from `ssl_skel.data.datasets.build_dataset`) plus their frames.

    Randomness (frame choice, crop) comes from (seed, epoch, index), like the skeleton
    datasets, so results do not depend on the number of workers.
    """

    def __init__(self, cfg: RGBDDataConfig, part: str, *, train: bool, seed: int) -> None:
        from ssl_skel.core.config import DataConfig
        from ssl_skel.data.datasets import build_dataset
        from ssl_skel.data.sources import open_arrays

        self.cfg, self.part, self.train, self.seed, self.epoch = cfg, part, train, seed, 0
        skeleton_root = cfg.path(cfg.skeleton)
        if not Path(cfg.root).exists():
            hint = f"; make it with: {cfg.make_command}" if cfg.make_command else ""
            raise DataFormatError(f"{cfg.root}: RGB-D data folder not found{hint}")
        skel_cfg = DataConfig(
            root=str(skeleton_root),
            benchmark=cfg.benchmark,
            clip_length=cfg.clip_length,
            num_views=1,
            num_workers=cfg.num_workers,
            make_command=cfg.make_command,
        )
        self.skeleton = build_dataset(skel_cfg, part, train=False, seed=seed)
        self.arrays = open_arrays(skeleton_root, cfg.benchmark, part)
        if len(self.arrays) != len(self.skeleton):
            raise DataFormatError(
                f"{skeleton_root}: {len(self.skeleton)} skeleton clips but {len(self.arrays)} split rows"
            )
        self.spec = self.skeleton.spec
        self.num_classes = self.skeleton.num_classes
        self.class_names = self.skeleton.class_names
        self.labels = np.asarray(self.skeleton.labels)
        self.rgbd_spec = RGBDSpec(cfg.num_frames, cfg.size, bool(cfg.rgb), bool(cfg.depth))
        for kind, sub in (("RGB", cfg.rgb), ("depth", cfg.depth)):
            if sub and not cfg.path(sub).is_dir():
                hint = f"; make it with: {cfg.make_command}" if cfg.make_command else ""
                raise DataFormatError(f"{cfg.path(sub)}: {kind} frame root not found{hint}")

    def __len__(self) -> int:
        return len(self.skeleton)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.skeleton, "set_epoch"):
            self.skeleton.set_epoch(epoch)

    def sample_name(self, i: int) -> str:
        return self.arrays.names[int(self.arrays.indices[i])]

    def _rng(self, i: int) -> np.random.Generator | None:
        if not self.train:
            return None
        return np.random.default_rng([self.seed, self.epoch, int(i), 0x5D])

    def read_video(self, i: int) -> dict[str, torch.Tensor]:
        """Frames of split position `i`: {"rgb": (3, F, S, S), "depth": (1, F, S, S)} as present."""
        cfg, name, rng = self.cfg, self.sample_name(i), self._rng(i)
        out: dict[str, torch.Tensor] = {}
        rgb_files = depth_files = None
        if cfg.rgb:
            rgb_files = list_frames(cfg.path(cfg.rgb) / cfg.rgb_dir.format(name=name), name, "RGB", RGB_EXTENSIONS)
        if cfg.depth:
            depth_files = list_frames(cfg.path(cfg.depth) / cfg.depth_dir.format(name=name), name, "depth", (".png",))
        if rgb_files and depth_files and len(rgb_files) != len(depth_files):
            log.debug(
                "sample %s: %d RGB vs %d depth frames; sampling each by its own length",
                name,
                len(rgb_files),
                len(depth_files),
            )
        scale = float(rng.uniform(*cfg.crop_scale)) if rng is not None else cfg.test_crop
        fractions = sample_frame_indices(10_000, cfg.num_frames, rng) / 10_000.0  # shared temporal positions
        box_rng_state = None if rng is None else int(rng.integers(1 << 31))
        if rgb_files:
            picks = [rgb_files[min(int(f * len(rgb_files)), len(rgb_files) - 1)] for f in fractions]
            box = frame_box(picks, name, scale, None if box_rng_state is None else np.random.default_rng(box_rng_state))
            out["rgb"] = torch.from_numpy(read_rgb_frames(picks, name, cfg.size, box))
        if depth_files:
            picks = [depth_files[min(int(f * len(depth_files)), len(depth_files) - 1)] for f in fractions]
            with _open(picks[0], name, "depth") as first:
                width, height = first.size
            box = crop_box(
                width, height, scale, None if box_rng_state is None else np.random.default_rng(box_rng_state)
            )
            out["depth"] = torch.from_numpy(read_depth_frames(picks, name, cfg.size, cfg.depth_max, box))
        return out

    def attach_sample_features(self, folder: str | Path, dim: int) -> None:
        """Serve `<folder>/<sample>.npy` ((dim,) or (1, dim)) as item["text"]."""
        folder = Path(folder)
        if not folder.is_dir():
            raise DataFormatError(f"{folder}: per-sample feature folder not found (one <sample>.npy per sample)")
        self.sample_features = (folder, int(dim))

    def read_sample_features(self, i: int) -> torch.Tensor:
        folder, dim = self.sample_features
        name = self.sample_name(i)
        path = folder / f"{name}.npy"
        if not path.exists():
            raise DataFormatError(f"sample {name}: per-sample feature file {path} not found")
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"sample {name}: cannot read per-sample features {path} ({exc})") from None
        if array.size != dim or array.ndim > 2 or not np.issubdtype(array.dtype, np.number):
            raise DataFormatError(
                f"sample {name}: per-sample features {path} must be {dim} numbers, got {array.dtype} {array.shape}"
            )
        return torch.from_numpy(array.reshape(dim).astype(np.float32))

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.skeleton[i]
        views = item["views"]
        out: dict[str, Any] = {"views": [views[0]], "label": int(item["label"]), "index": int(i)}
        out.update(self.read_video(i))
        if getattr(self, "sample_features", None) is not None:
            out["text"] = self.read_sample_features(i)
        return out


class RGBDSubset(Dataset):
    """Some positions of an `RGBDClips` (a validation carve-out), with its epoch and attributes."""

    def __init__(self, clips: RGBDClips, positions: Sequence[int]) -> None:
        self.clips, self.positions = clips, np.asarray(positions, dtype=np.int64)
        self.spec, self.num_classes, self.rgbd_spec = clips.spec, clips.num_classes, clips.rgbd_spec
        self.class_names, self.labels = clips.class_names, clips.labels[self.positions]

    def __len__(self) -> int:
        return len(self.positions)

    def set_epoch(self, epoch: int) -> None:
        self.clips.set_epoch(epoch)

    def sample_name(self, i: int) -> str:
        return self.clips.sample_name(int(self.positions[i]))

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.clips[int(self.positions[i])]


def validation_positions(labels: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of a training part: (train positions, validation positions).

    Per class, round(fraction * count) clips (at least one when the class has two or
    more) go to validation, chosen by `seed` alone so every training seed sees one split.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng([seed, 0x7A1])
    train, val = [], []
    for k in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == k))
        n_val = min(max(int(round(fraction * len(rows))), int(len(rows) >= 2)), len(rows) - 1)
        val.extend(rows[:n_val].tolist())
        train.extend(rows[n_val:].tolist())
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(val, dtype=np.int64))


def build_rgbd_dataset(cfg: RGBDDataConfig, part: str, *, train: bool, seed: int) -> RGBDClips:
    """The fusion counterpart of `build_dataset`: skeleton clips with aligned frames."""
    if part not in ("train", "test"):
        raise DataFormatError(f"{cfg.root}: split part {part!r} must be train or test")
    return RGBDClips(cfg, part, train=train, seed=seed)
