#!/usr/bin/env python
"""Parity with the authors' code: UmURL (and optionally CrosSCLR/SkeletonCLR) number for number.

    python benchmarks/parity.py --umurl /path/to/UmURL [--crossclr /path/to/CrosSCLR] [--fusion]

PATH is a local checkout of the authors' repository (HuiGuanLab/UmURL, LinguoLi/CrosSCLR);
nothing is downloaded and none of their code is copied: each checkout is imported in its own
subprocess (`python -I`, so neither this tree nor PYTHONPATH is visible there; the two repos
both have a top-level `feeder` package), which writes its numbers into a temporary folder,
and this process computes ssl_skel's side on the same inputs and prints one table.

Rows (each says what "agree" means):
- encoder: their `UmURL` with random weights (seeded), saved in their checkpoint format,
  imported with `ssl-skel import-weights umurl`, then joint/bone/motion/fused embeddings of
  the same clips in fp32 eval mode: max abs difference < 1e-4. The same for a
  linear-evaluation (`Downstream`) checkpoint.
- loss: their loss terms (pretrain.py's MSE intra/inter and `vc_reg`) against the umurl
  objective's `loss_terms` on the same six projections: relative difference < 1e-5.
- augmentation: their `Feeder` (feeder_pretraining.py) and the ntu60_xsub preset's pipeline on
  the same clips. Random draws cannot be shared (numpy/Python global RNG there, per-clip
  generators here), so distributions are compared: crop lengths, how often a view is
  corrupted, how often a corruption zeroes, joints changed per corruption, shear and mixing
  matrix entries; quantiles side by side and the two-sample KS test (agree: p > 0.001,
  fixed seeds). Their downstream centre view against ours: max abs difference < 1e-5.
- NTU preprocessing: their `ntu_gendata.gendata` (+ `pre_normalization`) against the
  converter's "umurl" profile, on the genuine raw files (--raw) and on generated files in
  the real format with the hard cases (up to 4 bodies, bodies changing position, leading,
  interior and trailing empty frames, clips shorter than 64 frames): max abs difference of
  the (3, 300, 25, 2) arrays < 1e-5 and equal frame counts.
- CrosSCLR (with --crossclr): their `temperal_crop` and `shear` against RandomShift/Shear
  (every shift exactly, shear entries by KS), and their `NTUMotionProcessor` per-sample
  preprocessing against `build_preprocess("crossclr")` (max abs difference).

Needs: torch, numpy, scipy (KS), tensorboard (their pretrain.py imports it). Their
feeder calls `np.random.rand(1)` where numpy 2 needs a scalar; the worker passes their module
a numpy whose `random.rand(1)` returns `rand()` (the same draw). About 25 s of CPU time on 2
cores at the default --hidden 1024. Exit status 1 when a row disagrees.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


# =========================================================================== inputs (this process)
def _skeleton_lines(frames: list[list[np.ndarray]], body_ids: list[list[int]]) -> bytes:
    """A `.skeleton` file in the official format (CRLF, 12 values per joint line)."""
    lines = [str(len(frames))]
    for bodies, ids in zip(frames, body_ids):
        lines.append(str(len(bodies)))
        for xyz, bid in zip(bodies, ids):
            lines += [f"{bid} 0 1 1 1 1 0 0.1 -0.2 2", "25"]
            lines += [f"{x:.7g} {y:.7g} {z:.7g} 250.1 200.2 900.3 500.4 0.5 0.1 0.2 0.3 2" for x, y, z in xyz]
    return ("\r\n".join(lines) + "\r\n").encode()


def _walk(rng: np.random.Generator, frames: int, shift: float, scale: float) -> np.ndarray:
    """(frames, 25, 3) a standing body drifting by a random walk."""
    template = np.stack([np.linspace(-0.3, 0.3, 25), np.linspace(-0.8, 0.9, 25), np.full(25, 3.0)], axis=1)
    template[4] = [-0.2, 0.5, 3.05]  # left shoulder
    template[8] = [0.2, 0.5, 2.95]  # right shoulder
    return np.cumsum(rng.normal(scale=scale, size=(frames, 25, 3)), axis=0) + template + [shift, 0.0, 0.1 * shift]


def write_generated(folder: Path, seed: int) -> list[str]:
    """Raw files with the cases their reader and pre_normalization treat specially; returns the names."""
    rng = np.random.default_rng(seed)
    cases = []
    # (name, frames, bodies present per frame as lists of (body index, walk)), built below
    a, b, c, d = (_walk(rng, 300, s, sc) for s, sc in ((0.0, 0.01), (1.0, 0.02), (-1.5, 0.004), (2.5, 0.03)))
    cases.append(("S001C001P001R001A001", [[(0, a[t])] for t in range(103)]))  # one body
    cases.append(("S001C002P002R001A050", [[(0, a[t]), (1, b[t])] for t in range(90)]))  # two bodies
    cases.append(("S002C003P003R002A051", [[(0, a[t]), (1, b[t]), (2, c[t])] for t in range(80)]))  # 3rd: noise
    cases.append(("S003C001P004R001A052", [[(0, a[t]), (1, b[t]), (2, c[t]), (3, d[t])] for t in range(70)]))
    five = [[(k, w[t]) for k, w in enumerate((a, b, c, d, a + 0.5))] for t in range(40)]  # a 5th body is never read
    cases.append(("S004C002P005R002A053", five))
    cases.append(("S005C003P006R001A002", [[] for _ in range(6)] + [[(0, a[t])] for t in range(60)]))  # leading gap
    gaps = [[(0, a[t])] if not 20 <= t < 30 else [] for t in range(75)]  # interior gap
    cases.append(("S006C001P007R002A003", gaps))
    cases.append(("S007C002P008R001A004", [[(0, a[t])] for t in range(50)] + [[] for _ in range(12)]))  # trailing
    swap = [[(0, a[t]), (1, b[t])] if t % 3 else [(1, b[t]), (0, a[t])] for t in range(66)]  # slots swap
    cases.append(("S008C003P009R002A054", swap))
    late = [[(0, a[t])] + ([(1, b[t])] if t >= 25 else []) for t in range(85)]  # 2nd body appears late
    cases.append(("S009C001P010R001A055", late))
    cases.append(("S010C002P011R002A005", [[(0, a[t])] for t in range(30)]))  # shorter than 64 frames
    cases.append(("S011C003P012R001A006", [[(0, a[t])] for t in range(300)]))  # the longest NTU clip
    names = []
    for name, frames in cases:
        xyz = [[w for _, w in bodies] for bodies in frames]
        ids = [[72057594037927936 + k for k, _ in bodies] for bodies in frames]
        (folder / f"{name}.skeleton").write_bytes(_skeleton_lines(xyz, ids))
        names.append(name)
    return names


def make_augment_clips(path: Path, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, 3, 300, 25, 2) float32 clips (a second body in every other clip) and their frame counts."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(30, 301, size=count)
    data = np.zeros((count, 3, 300, 25, 2), np.float32)
    for i, n in enumerate(frames):
        for m in range(1 + i % 2):
            data[i, :, :n, :, m] = _walk(rng, int(n), m * 0.8, 0.01).transpose(2, 0, 1)
    np.save(path / "aug_data.npy", data)
    np.save(path / "aug_num_frame.npy", frames.astype(np.int64))
    return data, frames


# =========================================================================== workers (their code)
def _numpy_shim():
    """numpy as their feeder expects it: `np.random.rand(1)` gives the scalar numpy 1.x allowed (same draw)."""
    random_shim = types.SimpleNamespace(
        **{k: getattr(np.random, k) for k in dir(np.random) if not k.startswith("__")},
    )
    random_shim.rand = lambda *shape: np.random.rand() if shape == (1,) else np.random.rand(*shape)
    shim = types.ModuleType("numpy_shim")
    shim.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    shim.random = random_shim
    return shim


def _solve_matrix(before: np.ndarray, after: np.ndarray, joints=None) -> np.ndarray:
    """The 3x3 A with after = A before (least squares over all frames/joints/bodies). x: (C, T, V, M)."""
    src = before if joints is None else before[:, :, joints]
    dst = after if joints is None else after[:, :, joints]
    src, dst = src.reshape(3, -1).astype(np.float64), dst.reshape(3, -1).astype(np.float64)
    keep = np.any(src != 0, axis=0)
    return np.linalg.lstsq(src[:, keep].T, dst[:, keep].T, rcond=None)[0].T


def worker_umurl(repo: Path, tmp: Path, seed: int, hidden: int, views_per_clip: int) -> None:
    """Runs inside `python -I` with only their checkout on sys.path; writes tmp/umurl_*.{pt,npz,json}."""
    sys.path.insert(0, str(repo))
    import random

    import torch
    from umurl import Downstream, UmURL

    out: dict = {}
    # ---- encoder: random weights, fp32 eval
    torch.manual_seed(seed)
    model = UmURL(t_input_size=150, s_input_size=192, hidden_size=hidden, num_head=1, num_layer=1, num_class=128)
    model.eval()
    x = torch.load(tmp / "enc_input.pt")
    with torch.no_grad():
        toks = {m: model.modality_generation(x, m) for m in ("joint", "bone", "motion")}
        y_j, y_b, y_m = model.backbone.uni_forward(*toks["joint"], *toks["bone"], *toks["motion"])
        y_u = model.backbone.mm_forward(*toks["joint"], *toks["bone"], *toks["motion"])
    torch.save({"joint": y_j, "bone": y_b, "motion": y_m, "fused": y_u}, tmp / "umurl_embeddings.pt")
    state = {"module." + k: v for k, v in model.state_dict().items()}  # as DDP saved it
    torch.save(
        {"epoch": 451, "state_dict": state, "optimizer": {"state": {}, "param_groups": []}}, tmp / "umurl.pth.tar"
    )
    down = Downstream(t_input_size=150, s_input_size=192, hidden_size=hidden, num_head=1, num_layer=1, num_class=60)
    missing = down.load_state_dict(
        {k: v for k, v in model.state_dict().items() if k.startswith("backbone.")}, strict=False
    )
    assert set(missing.missing_keys) == {"fc.weight", "fc.bias"}, missing
    down.eval()
    with torch.no_grad():
        feats = down(*toks["joint"], *toks["bone"], *toks["motion"], knn_eval=True)
    torch.save({"fused": feats}, tmp / "umurl_downstream_embeddings.pt")
    torch.save({"epoch": 150, "state_dict": down.state_dict(), "best_acc1": 0.0}, tmp / "umurl_downstream.pth.tar")

    # ---- loss terms on the six projections of one training step's forward
    import pretrain  # their pretrain.py: vc_reg; imports tensorboard, no CUDA at import

    model.train()
    views = torch.load(tmp / "loss_views.pt")
    with torch.no_grad():
        z_j, z_b, z_m, z_uj, z_ub, z_um = model(*views)
    mse = torch.nn.MSELoss()
    intra = mse(z_j, z_uj) + mse(z_b, z_ub) + mse(z_m, z_um)
    center = (z_j + z_b + z_m) / 3
    inter = mse(z_j, center) + mse(z_b, center) + mse(z_m, center)
    reg = sum(pretrain.vc_reg(z) for z in (z_j, z_b, z_m, z_uj, z_ub, z_um))
    loss = 5 * (intra + inter) + reg
    torch.save({"z": [z_j, z_b, z_m], "u": [z_uj, z_ub, z_um]}, tmp / "umurl_projections.pt")
    out["loss"] = {"intra": float(intra), "inter": float(inter), "reg": float(reg), "loss": float(loss)}

    # ---- augmentations: their Feeder, instrumented
    from feeder import augmentations, feeder_pretraining

    augmentations.np = _numpy_shim()
    crop_lengths: list[int] = []
    real_interpolate = augmentations.F.interpolate

    def interpolate(tensor, *args, **kwargs):
        crop_lengths.append(int(tensor.shape[2]))
        return real_interpolate(tensor, *args, **kwargs)

    augmentations.F = types.SimpleNamespace(interpolate=interpolate)
    record = {"branch": [], "zero": [], "changed": [], "mix": [], "shear": []}
    real_corrupt, real_shear = augmentations.joint_courruption, augmentations.pose_augmentation

    def corrupt(x):
        y = real_corrupt(x)
        changed = np.flatnonzero(np.any(y != x, axis=(0, 1, 3)))
        record["branch"].append("corrupt")
        zero = bool(np.all(y[:, :, changed] == 0))
        record["zero"].append(zero)
        record["changed"].append(len(changed))
        if not zero:
            record["mix"].append(_solve_matrix(x, y, changed).ravel().tolist())
        return y

    def shear(x):
        y = real_shear(x)
        record["branch"].append("shear")
        a = _solve_matrix(x, y)
        record["shear"].append([a[i, j] for i in range(3) for j in range(3) if i != j])
        return y

    augmentations.joint_courruption, augmentations.pose_augmentation = corrupt, shear
    np.random.seed(seed)
    random.seed(seed)
    feeder = feeder_pretraining.Feeder(str(tmp / "aug_data.npy"), str(tmp / "aug_num_frame.npy"), [0.1, 1], 64)
    dtypes = set()
    for _rep in range(views_per_clip):
        for i in range(len(feeder)):
            dtypes.update(str(v.dtype) for v in feeder[i])
    out["augment"] = {**record, "crop_lengths": list(crop_lengths), "view_dtypes": sorted(dtypes)}
    # downstream view (feeder_downstream's crop_subsequence with l_ratio [1.0])
    data, frames = np.load(tmp / "aug_data.npy"), np.load(tmp / "aug_num_frame.npy")
    centre = np.stack([augmentations.crop_subsequence(data[i], int(frames[i]), [1.0], 64) for i in range(len(data))])
    np.save(tmp / "umurl_centre_views.npy", centre)

    # ---- NTU preprocessing: their gendata (read_xyz + pre_normalization), both xview parts
    from data_gen import ntu_gendata

    per_sample = {}
    for part in ("train", "val"):
        dest = tmp / "umurl_ntu" / part
        dest.mkdir(parents=True, exist_ok=True)
        ntu_gendata.gendata(str(tmp / "raw"), str(dest), None, benchmark="xview", part=part)
        import pickle

        with open(dest / f"{part}_label.pkl", "rb") as fh:
            names, _ = pickle.load(fh)
        joint = np.load(dest / f"{part}_data_joint.npy")
        num = np.load(dest / f"{part}_num_frame.npy")
        for k, name in enumerate(names):
            per_sample[name.replace(".skeleton", "")] = (joint[k], int(num[k]))
    np.savez(tmp / "umurl_ntu.npz", **{n: v[0] for n, v in per_sample.items()})
    out["ntu_frames"] = {n: v[1] for n, v in per_sample.items()}
    (tmp / "umurl.json").write_text(json.dumps(out))


def worker_crossclr(repo: Path, tmp: Path, seed: int) -> None:
    """CrosSCLR's augmentations and per-sample preprocessing; writes tmp/crossclr_*.

    Their NTUDatasets imports cv2 at the top; without opencv installed a stand-in module
    whose `resize(..., INTER_LINEAR)` is half-pixel linear interpolation (what cv2 computes for
    float input) is provided, and the report says so.
    """
    sys.path[:0] = [str(repo), str(repo / "feeder")]
    import random

    import torch

    out: dict = {}
    try:
        import cv2  # noqa: F401

        out["cv2"] = "opencv"
    except ImportError:

        def resize(img, dsize, interpolation=None):  # img (H, W, C) float32 -> (dsize[1], dsize[0], C)
            t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
            y = torch.nn.functional.interpolate(t, size=(dsize[1], dsize[0]), mode="bilinear", align_corners=False)
            return y[0].permute(1, 2, 0).numpy()

        sys.modules["cv2"] = types.SimpleNamespace(resize=resize, INTER_LINEAR=1)
        out["cv2"] = "stand-in (torch half-pixel bilinear; install opencv-python for the genuine resize)"
    from feeder import tools

    x = np.load(tmp / "crossclr_clips.npy")  # (K, 3, 50, 25, 2) ramps: coordinate = frame index
    shifts = {}
    real_randint = tools.np.random.randint
    for start in range(17):
        tools.np.random.randint = lambda lo, hi, s=start: s
        shifts[str(start)] = tools.temperal_crop(x[0].copy(), 6)
    tools.np.random.randint = real_randint
    np.savez(tmp / "crossclr_shifts.npz", **shifts)
    random.seed(seed)
    np.random.seed(seed)
    entries = []
    for i in range(len(x)):
        y = tools.shear(x[i], 0.5)
        a = _solve_matrix(x[i], y)
        entries.append([a[r, c] for r in range(3) for c in range(3) if r != c])
    out["shear"] = entries
    # preprocessing: NTUMotionProcessor's per-sample path (relative, resize to 50, y rotation)
    import NTUDatasets

    shim = _numpy_shim()
    real_reshape = np.reshape
    shim.reshape = lambda a, newshape=None, **kw: real_reshape(a, newshape if newshape is not None else kw.pop("shape"))
    NTUDatasets.np = shim
    raw = np.load(tmp / "crossclr_raw.npy")  # (K, 3, 300, 25, 2)
    proc = NTUDatasets.NTUMotionProcessor.__new__(NTUDatasets.NTUMotionProcessor)  # no label files needed
    proc.data_type, proc.t_length, proc.sampling, proc.y_rotation, proc.displacement = "relative", 50, "resize", True, 1
    proc.max_length, proc.data, proc.label = 300, raw, np.zeros(len(raw), np.int64)
    outs = [proc.__getitem__(i)[0] for i in range(len(raw))]
    np.save(tmp / "crossclr_preprocessed.npy", np.stack(outs).astype(np.float32))
    (tmp / "crossclr.json").write_text(json.dumps(out))


# =========================================================================== ssl_skel's side (this process)
class Table:
    """Rows of (section, check, theirs, ours, difference, criterion, agree)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str, bool]] = []

    def add(self, section: str, check: str, theirs: str, ours: str, diff: str, criterion: str, agree: bool) -> None:
        self.rows.append((section, check, theirs, ours, diff, criterion, bool(agree)))

    def render(self) -> str:
        head = ("section", "check", "authors", "ssl_skel", "difference", "criterion", "agree")
        cells = [head] + [r[:6] + ("yes" if r[6] else "NO",) for r in self.rows]
        widths = [max(len(str(c[i])) for c in cells) for i in range(len(head))]
        lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)


def _q(values, qs=(0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)) -> str:
    v = np.asarray(values, np.float64)
    return "/".join(f"{x:.3g}" for x in np.quantile(v, qs)) if v.size else "-"


def _ks(a, b) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    res = ks_2samp(np.asarray(a, np.float64), np.asarray(b, np.float64))
    return float(res.statistic), float(res.pvalue)


def _share(flags) -> float:
    return float(np.mean(np.asarray(flags, np.float64))) if len(flags) else float("nan")


def _binomial_agree(p_a: float, n_a: int, p_b: float, n_b: int) -> tuple[str, bool]:
    """Two-proportion z-test; agree when abs(z) < 3.3 (p > 0.001)."""
    pooled = (p_a * n_a + p_b * n_b) / max(1, n_a + n_b)
    se = np.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / max(1, n_a) + 1 / max(1, n_b)))
    z = (p_a - p_b) / se
    return f"z={z:+.2f}", abs(z) < 3.3


def compare_encoder(table: Table, tmp: Path, x) -> None:
    import torch

    from ssl_skel.evaluation.api import load_encoder
    from ssl_skel.evaluation.import_weights import import_umurl

    theirs = torch.load(tmp / "umurl_embeddings.pt")
    enc = load_encoder(import_umurl(tmp / "umurl.pth.tar", tmp / "ours_umurl.pt", config="ntu60_xsub"))
    with torch.no_grad():
        ours = enc.embed_modalities(x, ["joint", "bone", "motion", "fused"])
    for name in ("joint", "bone", "motion", "fused"):
        diff = float((ours[name] - theirs[name]).abs().max())
        scale = float(theirs[name].abs().max())
        table.add(
            "encoder",
            f"{name} embedding (N={len(x)}, {enc.dim}-d)",
            f"max abs y {scale:.3g}",
            "imported weights",
            f"{diff:.2e}",
            "< 1e-4",
            diff < 1e-4,
        )
    down = torch.load(tmp / "umurl_downstream_embeddings.pt")["fused"]
    enc2 = load_encoder(import_umurl(tmp / "umurl_downstream.pth.tar", tmp / "ours_down.pt", config="ntu60_xsub"))
    with torch.no_grad():
        diff = float((enc2.embed(x, "fused") - down).abs().max())
    table.add(
        "encoder",
        "fused, from a Downstream (linear-eval) checkpoint",
        "knn_eval=True",
        "import-weights",
        f"{diff:.2e}",
        "< 1e-4",
        diff < 1e-4,
    )


def compare_loss(table: Table, tmp: Path, theirs: dict) -> None:
    import torch

    from ssl_skel.data.spec import InputSpec
    from ssl_skel.models.encoders.unified import UnifiedEncoder, UnifiedParams
    from ssl_skel.objectives.umurl import UmURL, UmURLParams

    proj = torch.load(tmp / "umurl_projections.pt")
    params = UmURLParams()
    tiny = UnifiedEncoder(InputSpec("ntu25", 3, 2, 64), UnifiedParams(hidden_size=8))
    method = UmURL(tiny, params)
    with torch.no_grad():
        terms = method.loss_terms(proj["z"], proj["u"])
    ours = {
        "intra": float(terms["intra"]),
        "inter": float(terms["inter"]),
        "reg": float(params.var_weight * terms["var"] + params.cov_weight * terms["cov"]),
    }
    ours["loss"] = params.intra_weight * ours["intra"] + params.inter_weight * ours["inter"] + ours["reg"]
    labels = {
        "intra": "intra (sum of 3 MSE)",
        "inter": "inter (MSE to the centre)",
        "reg": "5 var + cov (6 x vc_reg)",
        "loss": "total 5(intra+inter)+reg",
    }
    n = proj["z"][0].shape[0]
    for key in ("intra", "inter", "reg", "loss"):
        rel = abs(ours[key] - theirs[key]) / max(abs(theirs[key]), 1e-12)
        table.add(
            "loss",
            f"{labels[key]}, B={n}",
            f"{theirs[key]:.6g}",
            f"{ours[key]:.6g}",
            f"rel {rel:.1e}",
            "< 1e-5",
            rel < 1e-5,
        )


def our_augment_record(data: np.ndarray, frames: np.ndarray, views_per_clip: int, seed: int) -> dict:
    """The ntu60_xsub preset's view pipeline on the same clips, instrumented like theirs."""
    from ssl_skel.core.config import load_config
    from ssl_skel.data import transforms as T
    from ssl_skel.data.layouts import NTU25

    cfg = load_config("ntu60_xsub")
    pipe = T.build_transforms(cfg.data.augment, NTU25, cfg.data.clip_length, resize=cfg.data.resize)
    record: dict = {"branch": [], "zero": [], "changed": [], "mix": [], "shear": [], "crop_lengths": []}
    real_resize = T.resample_half_pixel

    def resize(x, start, length, out):
        record["crop_lengths"].append(int(length))
        return real_resize(x, start, length, out)

    class Corrupt(T.JointCorruption):
        def __call__(self, x, rng):
            y = super().__call__(x, rng)
            changed = np.flatnonzero(np.any(y != x, axis=(0, 1, 3)))
            zero = bool(np.all(y[:, :, changed] == 0))
            record["branch"].append("corrupt")
            record["zero"].append(zero)
            record["changed"].append(len(changed))
            if not zero:
                record["mix"].append(_solve_matrix(x, y, changed).ravel().tolist())
            return y

    class Sheared(T.Shear):
        def __call__(self, x, rng):
            y = super().__call__(x, rng)
            record["branch"].append("shear")
            a = _solve_matrix(x, y)
            record["shear"].append([a[i, j] for i in range(3) for j in range(3) if i != j])
            return y

    one_of = pipe.transforms[1]
    wrapped = tuple(
        Corrupt(t.num_joints, t.zero_prob, t.magnitude) if isinstance(t, T.JointCorruption) else Sheared(t.magnitude)
        for t in one_of.transforms
    )
    pipe = T.Compose((pipe.transforms[0], T.OneOf(wrapped, one_of.probs)) + pipe.transforms[2:])
    T.resample_half_pixel = resize
    try:
        for epoch in range(views_per_clip):
            for i in range(len(data)):
                clip = np.asarray(data[i, :, : int(frames[i])], np.float32)
                rng = np.random.default_rng([seed, epoch, i])
                for _ in range(cfg.data.num_views):
                    pipe(clip, rng)
    finally:
        T.resample_half_pixel = real_resize
    return record


def compare_augment(table: Table, tmp: Path, theirs: dict, data, frames, views_per_clip: int, seed: int) -> None:
    from ssl_skel.data.transforms import build_eval_transform

    ours = our_augment_record(data, frames, views_per_clip, seed)
    d, p = _ks(theirs["crop_lengths"], ours["crop_lengths"])
    n_t, n_o = len(theirs["crop_lengths"]), len(ours["crop_lengths"])
    table.add(
        "augment",
        f"crop length (frames), quantiles 0/5/25/50/75/95/100%, {n_t} vs {n_o} views",
        _q(theirs["crop_lengths"]),
        _q(ours["crop_lengths"]),
        f"KS D={d:.3f} p={p:.2f}",
        "p > 0.001",
        p > 0.001,
    )
    short = [int(f) for f in frames]
    floor_t = min(theirs["crop_lengths"]), min(ours["crop_lengths"])
    table.add(
        "augment",
        "shortest crop (clips of 30-300 frames)",
        str(floor_t[0]),
        str(floor_t[1]),
        f"{abs(floor_t[0] - floor_t[1])}",
        f"= min(64, {min(short)})",
        floor_t[0] == floor_t[1] == min(64, min(short)),
    )
    pc_t, pc_o = _share([b == "corrupt" for b in theirs["branch"]]), _share([b == "corrupt" for b in ours["branch"]])
    z, ok = _binomial_agree(pc_t, len(theirs["branch"]), pc_o, len(ours["branch"]))
    table.add("augment", "share of views corrupted (vs sheared)", f"{pc_t:.3f}", f"{pc_o:.3f}", z, "abs(z) < 3.3", ok)
    pz_t, pz_o = _share(theirs["zero"]), _share(ours["zero"])
    z, ok = _binomial_agree(pz_t, len(theirs["zero"]), pz_o, len(ours["zero"]))
    table.add("augment", "share of corruptions that zero (vs mix)", f"{pz_t:.3f}", f"{pz_o:.3f}", z, "abs(z) < 3.3", ok)
    fr_t, fr_o = np.mean(theirs["changed"]) / 25, np.mean(ours["changed"]) / 25
    table.add(
        "augment",
        "fraction of joints corrupted per corrupted view",
        f"{fr_t:.4f}",
        f"{fr_o:.4f}",
        f"{abs(fr_t - fr_o):.1e}",
        "= 15/25",
        abs(fr_t - 0.6) < 1e-9 and abs(fr_o - 0.6) < 1e-9,
    )
    for key, label in (("shear", "shear off-diagonal entries"), ("mix", "mixing matrix entries")):
        a, b = np.ravel(theirs[key]), np.ravel(ours[key])
        d, p = _ks(a, b)
        table.add(
            "augment",
            f"{label}, quantiles (n={len(a)} vs {len(b)})",
            _q(a),
            _q(b),
            f"KS D={d:.3f} p={p:.2f}",
            "p > 0.001",
            p > 0.001,
        )
    centre_t = np.load(tmp / "umurl_centre_views.npy")
    view = build_eval_transform(64, resize="half_pixel")
    centre_o = np.stack([view(np.asarray(data[i, :, : int(frames[i])], np.float32), None) for i in range(len(data))])
    diff = float(np.abs(centre_t - centre_o).max())
    table.add(
        "augment",
        f"downstream view (whole clip -> 64 frames), {len(data)} clips",
        "crop_subsequence [1.0]",
        "CenterCropResize half_pixel",
        f"{diff:.1e}",
        "< 1e-5",
        diff < 1e-5,
    )
    dtypes = ",".join(theirs["view_dtypes"])
    table.add("augment", "view dtype", dtypes, "float32", "-", "noted", True)


def compare_ntu(table: Table, tmp: Path, theirs_frames: dict, genuine: list[str], generated: list[str]) -> None:
    from ssl_skel.data.formats.ntu import convert_ntu
    from ssl_skel.data.sources import open_arrays

    convert_ntu(tmp / "raw", tmp / "ours_ntu", dataset="ntu60", profile="umurl", progress=False)
    arrays = open_arrays(tmp / "ours_ntu", "xview", "train")
    names = list(arrays.names)
    theirs = np.load(tmp / "umurl_ntu.npz")
    for label, group in (("genuine raw files", genuine), ("generated real-format files", generated)):
        if not group:
            continue
        diffs, frame_ok, scale = [], True, 0.0
        for name in group:
            row = names.index(name)
            ours = np.asarray(arrays.data[row])[:, :300]
            diffs.append(float(np.abs(ours - theirs[name]).max()))
            scale = max(scale, float(np.abs(theirs[name]).max()))
            frame_ok &= int(arrays.num_frames[row]) == int(theirs_frames[name])
        worst = max(diffs) if diffs else float("nan")
        table.add(
            "ntu",
            f"(3,300,25,2) clips + frame counts, {len(group)} {label}",
            f"max abs x {scale:.3g}",
            "convert_ntu profile=umurl",
            f"{worst:.1e}" + ("" if frame_ok else ", frame counts differ"),
            "< 1e-5, equal counts",
            bool(diffs) and worst < 1e-5 and frame_ok,
        )


def compare_crossclr(table: Table, tmp: Path, theirs: dict, seed: int) -> None:
    from ssl_skel.data import transforms as T

    clips = np.load(tmp / "crossclr_clips.npy")
    shifts = np.load(tmp / "crossclr_shifts.npz")

    class Fixed:  # a generator whose `integers` returns the wanted start
        def __init__(self, start: int) -> None:
            self.start = start

        def integers(self, lo, hi):
            return self.start

    worst = max(float(np.abs(T.RandomShift(6)(clips[0], Fixed(s)) - shifts[str(s)]).max()) for s in range(17))
    table.add(
        "crossclr",
        "random shift, every start 0..16 (T=50, pad 8)",
        "temperal_crop(x, 6)",
        "RandomShift(6)",
        f"{worst:.1e}",
        "= 0",
        worst == 0.0,
    )
    shear = T.Shear(0.5)
    ours = []
    for i in range(len(clips)):
        y = shear(clips[i], np.random.default_rng([seed, i]))
        a = _solve_matrix(clips[i], y)
        ours.append([a[r, c] for r in range(3) for c in range(3) if r != c])
    d, p = _ks(np.ravel(theirs["shear"]), np.ravel(ours))
    table.add(
        "crossclr",
        "shear 0.5 off-diagonal entries, quantiles",
        _q(np.ravel(theirs["shear"])),
        _q(np.ravel(ours)),
        f"KS D={d:.3f} p={p:.2f}",
        "p > 0.001",
        p > 0.001,
    )
    raw = np.load(tmp / "crossclr_raw.npy")
    pre = T.Compose(T.build_preprocess("crossclr", 50))
    lengths = (np.abs(raw[:, :, :, 0, 0]).sum(axis=1) != 0).sum(axis=1)
    ours_pre = np.stack([pre(raw[i, :, : lengths[i]], None) for i in range(len(raw))])
    theirs_pre = np.load(tmp / "crossclr_preprocessed.npy")
    diff = float(np.abs(ours_pre - theirs_pre).max())
    table.add(
        "crossclr",
        f"preprocess (centre, resize 50, y-rotation), {len(raw)} clips; cv2: {theirs['cv2'][:9]}",
        f"max abs x {np.abs(theirs_pre).max():.3g}",
        'build_preprocess("crossclr")',
        f"{diff:.1e}",
        "< 1e-4",
        diff < 1e-4,
    )


def run_worker(kind: str, repo: Path, tmp: Path, args: argparse.Namespace) -> None:
    """This file again, isolated (-I: no PYTHONPATH, no script folder on sys.path), as the `kind` worker."""
    cmd = [
        sys.executable,
        "-I",
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--repo",
        str(repo),
        "--tmp",
        str(tmp),
        "--seed",
        str(args.seed),
        "--hidden",
        str(args.hidden),
        "--views-per-clip",
        str(args.views_per_clip),
    ]
    proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-6000:])
        raise SystemExit(f"parity: the {kind} worker failed (exit {proc.returncode}); its output is above")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--umurl", type=Path, help="checkout of HuiGuanLab/UmURL")
    p.add_argument("--crossclr", type=Path, default=None, help="checkout of LinguoLi/CrosSCLR (optional)")
    shared = Path(os.environ.get("SSL_SKEL_SHARED_DATA", ROOT.parent / "shared" / "data"))
    p.add_argument(
        "--raw",
        type=Path,
        default=shared / "ntu_rgbd" / "raw_samples",
        help="folder of genuine NTU .skeleton files (default: $SSL_SKEL_SHARED_DATA/ntu_rgbd/raw_samples, "
        "else ../shared/data/ntu_rgbd/raw_samples)",
    )
    p.add_argument("--clips", type=int, default=400, help="clips for the augmentation statistics")
    p.add_argument("--views-per-clip", type=int, default=1, help="passes over the clips (4 views each)")
    p.add_argument("--hidden", type=int, default=1024, help="UmURL hidden size (1024: the paper's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fusion", action="store_true", help="also run benchmarks/fusion_parity.py's main, if present")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    p.add_argument("--worker", choices=("umurl", "crossclr"), help=argparse.SUPPRESS)
    p.add_argument("--repo", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker == "umurl":
        worker_umurl(args.repo, args.tmp, args.seed, args.hidden, args.views_per_clip)
        return 0
    if args.worker == "crossclr":
        worker_crossclr(args.repo, args.tmp, args.seed)
        return 0
    if args.umurl is None or not (args.umurl / "umurl.py").is_file():
        p.error(f"--umurl must be a checkout of HuiGuanLab/UmURL (no umurl.py in {args.umurl})")
    if args.crossclr is not None and not (args.crossclr / "net" / "crossclr_3views.py").is_file():
        p.error(f"--crossclr must be a checkout of LinguoLi/CrosSCLR (no net/crossclr_3views.py in {args.crossclr})")

    import torch

    table = Table()
    with tempfile.TemporaryDirectory(prefix="ssl_skel_parity_") as name:
        tmp = Path(name)
        (tmp / "raw").mkdir()
        genuine = sorted(f.stem for f in args.raw.glob("*.skeleton")) if args.raw.is_dir() else []
        for stem in genuine:
            (tmp / "raw" / f"{stem}.skeleton").write_bytes((args.raw / f"{stem}.skeleton").read_bytes())
        generated = write_generated(tmp / "raw", args.seed)
        gen = torch.Generator().manual_seed(args.seed)
        x = torch.randn(4, 3, 64, 25, 2, generator=gen) * 0.3
        x[1, ..., 1] = 0.0  # a one-person clip
        torch.save(x, tmp / "enc_input.pt")
        torch.save([torch.randn(16, 3, 64, 25, 2, generator=gen) * 0.3 for _ in range(4)], tmp / "loss_views.pt")
        data, frames = make_augment_clips(tmp, args.clips, args.seed)
        run_worker("umurl", args.umurl, tmp, args)
        theirs = json.loads((tmp / "umurl.json").read_text())
        compare_encoder(table, tmp, x)
        compare_loss(table, tmp, theirs["loss"])
        compare_augment(table, tmp, theirs["augment"], data, frames, args.views_per_clip, args.seed)
        if not genuine:
            print(f"note: no genuine raw files in {args.raw}; the NTU row covers generated files only")
        compare_ntu(table, tmp, theirs["ntu_frames"], genuine, generated)
        if args.crossclr is not None:
            ramps = np.broadcast_to(np.arange(50, dtype=np.float32)[None, None, :, None, None], (1, 3, 50, 25, 2))
            rng = np.random.default_rng(args.seed)
            clips = (ramps + rng.normal(size=(200, 3, 50, 25, 2))).astype(np.float32)
            np.save(tmp / "crossclr_clips.npy", clips)
            raw = np.zeros((24, 3, 300, 25, 2), np.float32)
            for i in range(len(raw)):
                n = int(rng.integers(40, 301))
                for m in range(1 + i % 2):
                    walk = _walk(rng, n, m * 0.8, 0.01)
                    yaw = np.deg2rad(rng.uniform(-40, 40))  # bodies face the camera at a random yaw
                    rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
                    raw[i, :, :n, :, m] = (walk @ rot.T).transpose(2, 0, 1)
            np.save(tmp / "crossclr_raw.npy", raw)
            run_worker("crossclr", args.crossclr, tmp, args)
            compare_crossclr(table, tmp, json.loads((tmp / "crossclr.json").read_text()), args.seed)
    print(f"parity with {args.umurl}" + (f" and {args.crossclr}" if args.crossclr else "") + f" (seed {args.seed})")
    print(table.render())
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    dict(zip(("section", "check", "authors", "ssl_skel", "difference", "criterion", "agree"), r))
                    for r in table.rows
                ],
                indent=1,
            )
        )
    if args.fusion:
        hook = Path(__file__).with_name("fusion_parity.py")
        if hook.is_file():
            import importlib.util

            spec = importlib.util.spec_from_file_location("fusion_parity", hook)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.main()
        else:
            print(f"--fusion: {hook} does not exist yet; skipped")
    failed = [r for r in table.rows if not r[6]]
    print(f"{len(table.rows) - len(failed)} of {len(table.rows)} rows agree")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
