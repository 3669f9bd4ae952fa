#!/usr/bin/env python
"""Pretraining data per worker core: ssl_skel's loader vs the UmURL authors' feeder, side by side.

    python benchmarks/feeder_speed.py --reference /path/to/UmURL [--clips 400] [--rounds 3] [--batch 128]

The one loader measurement of the project (pretrain_throughput.py times the training step only).
What one DataLoader worker does, on one core, in one process per side (OMP, MKL and OpenBLAS at
1 thread, torch at 1 thread), on the same UmURL-format arrays read in place by both sides
(`{train,val}_data_joint.npy` (N, 3, 300, 25, 2) memory-mapped, `*_num_frame.npy`, `*_label.pkl`;
N clips of 40-300 valid frames, one or two bodies), in the same clip order, in batches collated
the way each trainer consumes them:

  authors: `feeder_pretraining.Feeder(data, num_frame, l_ratio=[0.1, 1], input_size=64)` (four
    views: crop-resize with torch's interpolate, then joint corruption or shear), torch's
    `default_collate` over the 4-tuples, then `.float()` per view as their `pretrain.py` does
    (their sheared views are float64). NumPy 2 needs one token changed in their
    `temporal_cropresize` (`np.random.rand(1)` -> `np.random.rand()`, the same draw): a module shim
    gives their `augmentations` module a numpy whose `random.rand(1)` returns the scalar; none of
    their code is edited or copied.
  ssl_skel, loader: `build_dataset` with the `ntu60_xsub` preset's data section (the same
    recipe, parity in BENCHMARKS.md), `default_collate` over the item dicts: what the trainer's
    DataLoader yields.
  ssl_skel, per view: the same, with the views made one at a time (the path before batching).
  ssl_skel, data.augment_on: device: the workers only crop and resize (and send the draws); the
    linear steps then run on the collated batch (`batch_transform`), timed apart, here on the
    CPU at 1 thread (no GPU on this machine: on a GPU this step moves off the worker cores).

Rounds alternate the sides (order flipped every round) after an untimed warm-up pass on each,
so all see the same machine load; printed: clips/s and CPU-s per clip per round, medians and
the ratios of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import side_by_side as sbs  # noqa: E402

ONE_THREAD = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

OURS_MODES = ("loader", "per_view", "device")


def write_umurl_arrays(folder: str | Path, clips: int, seed: int = 0) -> None:
    """UmURL-format arrays: {train,val}_data_joint.npy (N, 3, 300, 25, 2), *_num_frame.npy, *_label.pkl.

    Clip i has 40-300 valid frames (uniform) of 1 + i % 2 bodies, random-walk coordinates, zeros after.
    """
    rng = np.random.default_rng(seed)
    frames = rng.integers(40, 301, clips)
    data = np.zeros((clips, 3, 300, 25, 2), np.float32)
    for i, n in enumerate(frames):
        bodies = 1 + i % 2
        walk = np.cumsum(rng.normal(scale=0.01, size=(3, n, 25, bodies)), axis=1)
        data[i, :, :n, :, :bodies] = walk + rng.normal(size=(3, 1, 25, bodies))
    names = [f"S001C001P001R001A{1 + i % 60:03d}.skeleton" for i in range(clips)]
    for part in ("train", "val"):
        np.save(f"{folder}/{part}_data_joint.npy", data)
        np.save(f"{folder}/{part}_num_frame.npy", frames.astype(np.int64))
        with open(f"{folder}/{part}_label.pkl", "wb") as fh:
            pickle.dump((names, [i % 60 for i in range(clips)]), fh)


def clip_order(clips: int, seed: int = 0) -> list[int]:
    """The shuffled order both sides read the clips in (a sampler's)."""
    return np.random.default_rng(seed + 1).permutation(clips).tolist()


def _timed(batches, consume) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    n = 0
    for idx in batches:
        n += consume(idx)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"clips_per_s": n / wall, "cpu_s_per_clip": cpu / n}


def _thread_env() -> dict:
    import torch

    return {**{name: os.environ.get(name) for name in ONE_THREAD}, "torch_threads": torch.get_num_threads()}


def _batches(order: list[int], batch: int) -> list[list[int]]:
    return [order[b : b + batch] for b in range(0, len(order), batch)]


# --------------------------------------------------------------------------- the authors' side
def reference_worker(args: argparse.Namespace) -> int:
    import contextlib
    import io
    import types

    import torch
    from torch.utils.data import default_collate

    torch.set_num_threads(1)
    from feeder import augmentations
    from feeder.feeder_pretraining import Feeder

    rnd = types.SimpleNamespace(**{k: getattr(np.random, k) for k in dir(np.random) if not k.startswith("_")})
    rnd.rand = lambda *shape: np.random.rand() if shape == (1,) else np.random.rand(*shape)
    shim = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("_")})
    shim.random = rnd
    augmentations.np = shim  # NumPy 2: their rand(1) -> rand(), the same draw
    folder = args.folder
    with contextlib.redirect_stdout(io.StringIO()):  # their constructor prints shapes
        feeder = Feeder(f"{folder}/train_data_joint.npy", f"{folder}/train_num_frame.npy", [0.1, 1], 64)
    np.random.seed(0)

    def consume(idx: list[int]) -> int:
        views = default_collate([feeder[i] for i in idx])
        views = [v.float() for v in views]  # pretrain.py: data_v1.float() ...
        return len(views[0])

    def epoch(order: list[int], batch: int) -> dict:
        return {"authors": _timed(_batches(order, batch), consume)}

    return sbs.serve({"epoch": epoch}, {"side": "authors", "clips": len(feeder), "env": _thread_env()})


# --------------------------------------------------------------------------- our side
def ours_worker(args: argparse.Namespace) -> int:
    import dataclasses

    import torch
    from torch.utils.data import default_collate

    from ssl_skel.core.config import load_config
    from ssl_skel.data.datasets import build_dataset

    torch.set_num_threads(1)
    data = dataclasses.replace(load_config("ntu60_xsub").data, root=str(args.folder), make_command="")
    loader = build_dataset(data, "train", train=True, seed=0)
    per_view = build_dataset(data, "train", train=True, seed=0)
    per_view.planner = None  # the views one at a time: the path before batching
    device = build_dataset(dataclasses.replace(data, augment_on="device"), "train", train=True, seed=0)
    collated: list[dict] = []

    def consume_with(ds, keep: bool):
        def consume(idx: list[int]) -> int:
            batch = default_collate([ds[i] for i in idx])
            if keep:
                collated.append(batch)
            return len(batch["index"])

        return consume

    def stage(_: list[int]) -> int:
        batch = collated.pop(0)
        return len(device.batch_transform(batch)["views"][0])

    def epoch(order: list[int], batch: int) -> dict:
        batches = _batches(order, batch)
        out = {
            "loader": _timed(batches, consume_with(loader, False)),
            "per_view": _timed(batches, consume_with(per_view, False)),
            "device": _timed(batches, consume_with(device, True)),
        }
        out["device_stage"] = _timed(batches, stage)
        for ds in (loader, per_view, device):
            ds.set_epoch(ds.epoch + 1)
        return out

    return sbs.serve({"epoch": epoch}, {"side": "ssl_skel", "clips": len(loader), "env": _thread_env()})


# --------------------------------------------------------------------------- driver
def measure(reference: str | Path, clips: int = 400, rounds: int = 3, batch: int = 128, seed: int = 0) -> dict:
    """Both sides over the same arrays, alternating rounds -> per-round figures, medians and ratios."""
    reference = Path(reference).resolve()
    script = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory(prefix="ssl_skel_feeder_") as tmp:
        write_umurl_arrays(tmp, clips, seed)
        order = clip_order(clips, seed)
        saved = {name: os.environ.get(name) for name in ONE_THREAD}
        os.environ.update(dict.fromkeys(ONE_THREAD, "1"))  # the workers load numpy / torch with 1-thread pools
        try:
            workers = [
                sbs.Worker([script, "--worker", "ours", "--folder", tmp], "ours"),
                sbs.Worker([script, "--worker", "reference", "--folder", tmp], "reference", extra_path=str(reference)),
            ]
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        try:
            sbs.alternate(workers, 1, "epoch", probe=False, order=order, batch=batch)  # warm-up pass each
            run = sbs.alternate(workers, rounds, "epoch", probe=False, order=order, batch=batch)["rounds"]
            env = {w.name: w.ready["env"] for w in workers}
        finally:
            for w in workers:
                w.close()
    rows: dict[str, list[dict]] = {}
    for side in run.values():
        for reply in side:
            for name, fig in reply.items():
                if isinstance(fig, dict):
                    rows.setdefault(name, []).append(fig)
    med = {name: sbs.median([r["clips_per_s"] for r in rs]) for name, rs in rows.items()}
    # on one core the worker part and the device step of augment_on=device add up
    combined = [
        1.0 / (1.0 / a["clips_per_s"] + 1.0 / b["clips_per_s"]) for a, b in zip(rows["device"], rows["device_stage"])
    ]
    rows["device_on_one_core"] = [{"clips_per_s": c} for c in combined]
    med["device_on_one_core"] = sbs.median(combined)
    import torch

    return {
        "command": "python benchmarks/feeder_speed.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": sbs.describe_machine(1),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "clips": clips,
        "batch": batch,
        "worker_threads": env,
        "rounds": rows,
        "median_clips_per_s": med,
        "ratio_vs_authors": {k: med[k] / med["authors"] for k in med if k != "authors"},
    }


LABELS = {
    "authors": "authors' Feeder + default_collate + .float()",
    "loader": "ssl_skel, data.augment_on: loader",
    "per_view": "ssl_skel, views one at a time (before batching)",
    "device": "ssl_skel, augment_on: device, worker part (crop/resize + collate)",
    "device_stage": "ssl_skel, augment_on: device, batch step on CPU, 1 thread",
    "device_on_one_core": "ssl_skel, augment_on: device, both parts on one core",
}


def print_table(out: dict) -> None:
    print(f"{out['command']}\n{out['date']}; {out['machine']}; numpy {out['numpy']}")
    print(
        f"{out['clips']} UmURL-format clips of 40-300 frames, 4 views each, batches of {out['batch']}, "
        "1 thread, one process per side"
    )
    print("| side | clips/s per round | CPU-s per clip per round | median clips/s | ratio to the authors' |")
    print("|---|---|---|---:|---:|")
    for name, label in LABELS.items():
        rs = out["rounds"][name]
        cpu = ", ".join(f"{r['cpu_s_per_clip'] * 1e3:.3f} ms" for r in rs if "cpu_s_per_clip" in r) or "-"
        ratio = "1" if name == "authors" else f"{out['ratio_vs_authors'][name]:.2f}x"
        rates = ", ".join(f"{r['clips_per_s']:.0f}" for r in rs)
        print(f"| {label} | {rates} | {cpu} | {out['median_clips_per_s'][name]:.0f} | {ratio} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", "--umurl", dest="reference", type=Path, help="checkout of HuiGuanLab/UmURL")
    p.add_argument("--clips", type=int, default=400)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=128, help="clips per batch (the NTU-60 preset's per-GPU batch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    p.add_argument("--worker", choices=["ours", "reference"], help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker == "ours":
        return ours_worker(args)
    if args.worker == "reference":
        return reference_worker(args)
    if args.reference is None or not (args.reference / "feeder" / "feeder_pretraining.py").is_file():
        p.error(f"--reference: no feeder/feeder_pretraining.py in {args.reference} (a HuiGuanLab/UmURL checkout)")
    if args.clips < 1 or args.rounds < 1 or args.batch < 1:
        p.error("--clips, --rounds and --batch must be >= 1")
    out = measure(args.reference, args.clips, args.rounds, args.batch, args.seed)
    print_table(out)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
