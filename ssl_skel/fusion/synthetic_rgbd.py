"""Render skeleton clips into small RGB and masked-depth frame folders.

Why: fusion adapters need video beside the skeletons, and this machine has no NTU
videos. The renderer draws each body from its joints (bones as thick lines, joints as
dots) over a textured background with noise, and writes the folders in the NTU layout
that `ssl_skel.fusion.rgbd` reads (`rgb/<sample>/000000.jpg`, 16-bit
`depth/<sample>/MDepth-00000000.png`, millimetres, background 0). The video therefore
carries the same action as the skeleton, seen at low resolution and with appearance
nuisances, which is the situation the fusion designs are for.

`corrupt_fraction` corrupts the RGB of a seeded share of clips (strong noise and a large
occluding block in every frame; depth and skeleton untouched), so that pose-driven
designs can be shown to fall back on the pose stream when appearance fails.

Class "text embeddings" for the co-learning adapter are written as
`text_embeddings.npy` (K, 64): hashed character-trigram bags of the class names. They
are honest text features (similar names give similar vectors) without any downloaded
language model. Per-sample "answers" for MMCL's FRM are written as
`frm_features/<sample>.npy`: the token ids [BOS=1, yes=3 | no=4, EOS=2] of a one-word
answer to "is more than one person in the frame?", read off the clip's skeleton (a
second person present) and flipped for a seeded `answer_noise` share of clips, standing
in for an offline captioning model (no model is run).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ssl_skel.core.io import atomic_save_npy, atomic_write_bytes
from ssl_skel.data.layouts import get_layout
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError, read_manifest

log = logging.getLogger(__name__)

FORMAT = "ssl_skel/synthetic-rgbd"
VERSION = 2
FRM_ANSWER = {"yes": 3.0, "no": 4.0}
MANIFEST = "rgbd_manifest.json"


def text_embeddings(names: Sequence[str], dim: int = 64) -> np.ndarray:
    """(K, dim) unit vectors: each class name as a signed hashed bag of character trigrams."""
    out = np.zeros((len(names), dim), dtype=np.float32)
    for k, name in enumerate(names):
        padded = f"  {name.lower()}  "
        for i in range(len(padded) - 2):
            digest = hashlib.blake2b(padded[i : i + 3].encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % dim
            out[k, slot] += 1.0 if digest[4] & 1 else -1.0
        out[k] /= max(np.linalg.norm(out[k]), 1e-6)
    return out


def _scale(data: np.ndarray, num_frames: np.ndarray, rows: np.ndarray) -> float:
    """One pixels-per-unit factor for the dataset: the 99th percentile body extent."""
    extents = []
    for row in rows[: min(len(rows), 64)]:
        clip = data[row, :2, : max(int(num_frames[row]), 1), :, 0]  # (2, T, V)
        centre = clip.reshape(2, -1).mean(1)
        extents.append(np.abs(clip.reshape(2, -1) - centre[:, None]).max())
    return float(np.percentile(extents, 99)) if extents else 1.0


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth two-colour gradient with a coarse texture: (size, size, 3) float in [0, 255]."""
    a, b = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    ramp = np.linspace(0.0, 1.0, size)[None, :, None]
    angle = rng.uniform(0, 2 * np.pi)
    grid = np.cos(angle) * ramp + np.sin(angle) * ramp.transpose(1, 0, 2)
    grid = (grid - grid.min()) / max(np.ptp(grid), 1e-6)
    texture = rng.normal(0, 12, (size // 4 + 1, size // 4 + 1, 1)).repeat(4, 0).repeat(4, 1)[:size, :size]
    return a * (1 - grid) + b * grid + texture


def render_clip(
    clip: np.ndarray,
    length: int,
    frames: int,
    size: int,
    scale: float,
    bones: Sequence[tuple[int, int]],
    rng: np.random.Generator,
    corrupt_noise: float | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """clip: (C, T, V, M) joints -> `frames` RGB (size, size, 3) uint8 and depth uint16 images."""
    c, _, _, m = clip.shape
    length = max(int(length), 1)
    times = np.linspace(0, length - 1, frames).round().astype(int)
    valid = clip[:, :length]
    centre = valid[:2, :, :, 0].reshape(2, -1).mean(1)
    pix = 0.42 * size / max(scale, 1e-6)
    background = _background(rng, size)
    colours = [tuple(int(v) for v in rng.integers(30, 256, 3)) for _ in range(m)]
    width = max(1, size // 14)
    rgb_frames, depth_frames = [], []
    for t in times:
        rgb = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
        depth = Image.new("I", (size, size), 0)
        draw_rgb, draw_depth = ImageDraw.Draw(rgb), ImageDraw.Draw(depth)
        for person in range(m):
            joints = clip[:, t, :, person]  # (C, V)
            if not np.any(joints):
                continue
            cols = size / 2 + (joints[0] - centre[0]) * pix
            rows = size / 2 - (joints[1] - centre[1]) * pix
            z = joints[2] if c > 2 else np.zeros_like(joints[0])
            mm = np.clip(3000.0 + 1000.0 * z, 500, 8000)
            for child, parent in bones:
                line = [(cols[child], rows[child]), (cols[parent], rows[parent])]
                draw_rgb.line(line, fill=colours[person], width=width)
                draw_depth.line(line, fill=int((mm[child] + mm[parent]) / 2), width=width)
            for v in range(len(cols)):
                box = [cols[v] - width / 2, rows[v] - width / 2, cols[v] + width / 2, rows[v] + width / 2]
                draw_rgb.ellipse(box, fill=colours[person])
        image = np.asarray(rgb, dtype=np.float32) + rng.normal(0, 6, (size, size, 3))
        if corrupt_noise is not None:
            image = image + rng.normal(0, 255 * corrupt_noise, image.shape)
            side = int(size * rng.uniform(0.45, 0.7))
            top, left = rng.integers(0, size - side + 1, 2)
            image[top : top + side, left : left + side] = rng.uniform(0, 255, 3)
        rgb_frames.append(np.clip(image, 0, 255).astype(np.uint8))
        depth_frames.append(np.asarray(depth, dtype=np.int64).clip(0, 65535).astype(np.uint16))
    return rgb_frames, depth_frames


def render_rgbd(
    skeleton_root: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    render_frames: int = 16,
    size: int = 32,
    corrupt_fraction: float = 0.0,
    corrupt_parts: Sequence[str] = ("train", "test"),
    corrupt_noise: float = 0.35,
    benchmark: str | None = None,
    answer_noise: float = 0.1,
) -> Path:
    """Render every sample of an arrays folder into `out/rgb` and `out/depth`.

    Deterministic by `seed`: each clip's background, colours, noise and corruption come
    from (seed, row). The manifest is written last, so a folder with one is complete.
    """
    skeleton_root, out = Path(skeleton_root), Path(out)
    manifest = read_manifest(skeleton_root)
    benchmark = benchmark or sorted(manifest["splits"])[0]
    layout = get_layout(manifest["layout"])
    parts = {part: open_arrays(skeleton_root, benchmark, part) for part in ("train", "test")}
    arrays = parts["train"]
    rows = np.arange(len(arrays.names))
    scale = _scale(arrays.data, arrays.num_frames, rows)
    pick = np.random.default_rng([seed, 0xC0]).random(len(rows)) < corrupt_fraction
    eligible = np.zeros(len(rows), dtype=bool)
    for part in corrupt_parts:
        eligible[parts[part].indices] = True
    corrupted = pick & eligible
    flips = np.random.default_rng([seed, 0xA5]).random(len(rows)) < answer_noise
    (out / MANIFEST).unlink(missing_ok=True)
    (out / "frm_features").mkdir(parents=True, exist_ok=True)
    for row in rows:
        name = arrays.names[row]
        rng = np.random.default_rng([seed, int(row)])
        rgb, depth = render_clip(
            np.asarray(arrays.data[row]),
            int(arrays.num_frames[row]),
            render_frames,
            size,
            scale,
            layout.bones,
            rng,
            corrupt_noise if corrupted[row] else None,
        )
        (out / "rgb" / name).mkdir(parents=True, exist_ok=True)
        (out / "depth" / name).mkdir(parents=True, exist_ok=True)
        for f, (image, dmap) in enumerate(zip(rgb, depth)):
            Image.fromarray(image).save(out / "rgb" / name / f"{f:06d}.jpg", quality=95)
            Image.fromarray(dmap).save(out / "depth" / name / f"MDepth-{f:08d}.png")
        two = bool(np.any(arrays.data[row, ..., 1])) if arrays.data.shape[-1] > 1 else False
        answer = FRM_ANSWER["yes" if two != bool(flips[row]) else "no"]
        np.save(out / "frm_features" / f"{name}.npy", np.asarray([1.0, answer, 2.0], dtype=np.float32))
    class_names = manifest.get("class_names") or [f"class {k}" for k in range(int(manifest["num_classes"]))]
    atomic_save_npy(out / "text_embeddings.npy", text_embeddings(class_names))
    info = {
        "format": FORMAT,
        "version": VERSION,
        "seed": seed,
        "size": size,
        "render_frames": render_frames,
        "skeleton": str(skeleton_root),
        "corrupt_fraction": corrupt_fraction,
        "corrupt_parts": list(corrupt_parts),
        "corrupt_noise": corrupt_noise,
        "answer_noise": answer_noise,
        "corrupted": [arrays.names[r] for r in rows[corrupted]],
    }
    atomic_write_bytes(out / MANIFEST, json.dumps(info, indent=1).encode())
    log.info("rendered %d clips (%d corrupted) into %s", len(rows), int(corrupted.sum()), out)
    return out


def generate_rgbd_dataset(
    out: str | Path,
    *,
    seed: int = 0,
    clips_per_class: int = 12,
    render_frames: int = 16,
    size: int = 32,
    corrupt_fraction: float = 0.0,
    corrupt_parts: Sequence[str] = ("train", "test"),
    corrupt_noise: float = 0.35,
) -> Path:
    """Built-in skeleton actions (`ssl_skel.data.synthetic`) in `out/skeleton`, rendered to RGB-D."""
    from ssl_skel.data.synthetic import generate_dataset

    out = Path(out)
    generate_dataset(out / "skeleton", seed=seed, clips_per_class=clips_per_class)
    return render_rgbd(
        out / "skeleton",
        out,
        seed=seed,
        render_frames=render_frames,
        size=size,
        corrupt_fraction=corrupt_fraction,
        corrupt_parts=corrupt_parts,
        corrupt_noise=corrupt_noise,
    )


def is_complete(out: str | Path) -> bool:
    """A manifest of this format version is there (written last by `render_rgbd`) and the
    skeletons under it come from the current built-in generator (else: render again)."""
    from ssl_skel.data.synthetic.generator import check_version

    path = Path(out) / MANIFEST
    if not path.exists():
        return False
    try:
        if json.loads(path.read_text()).get("version") != VERSION:
            return False
        check_version(read_manifest(Path(out) / "skeleton").get("source", {}), Path(out) / "skeleton")
    except (OSError, ValueError, DataFormatError):
        return False
    return True
