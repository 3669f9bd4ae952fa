"""Accuracy of each fusion adapter and of each of its single streams on the synthetic
RGB-D data, plus inference clips/s; prints one table.

    .venv/bin/python benchmarks/fusion.py [--adapters umdr integral epam mmcl] [--root DIR] [key=value ...]

Each adapter trains with its preset (configs/fusion_<name>.yaml) through the one engine;
extra key=value overrides apply to every preset (e.g. train.epochs=5 for a quick look).
MMCL is also run with `params.guide=none`: the skeleton-only model it should beat.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ssl_skel.core.config import load_fusion_config
from ssl_skel.fusion.run import run_fusion


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--adapters", nargs="+", default=["umdr", "integral", "epam", "mmcl"])
    p.add_argument("--root", default="data/synthetic_rgbd", help="synthetic RGB-D folder (rendered if absent)")
    p.add_argument("--runs", default="runs/bench_fusion")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    jobs = [(a, a, []) for a in args.adapters]
    if "mmcl" in args.adapters:
        jobs.append(("mmcl", "mmcl (guide=none)", ["params.guide=none"]))
    rows = []
    for adapter, label, extra in jobs:
        run_dir = Path(args.runs) / label.replace(" ", "_").replace("(", "").replace(")", "").replace("=", "-")
        cfg = load_fusion_config(
            f"configs/fusion_{adapter}.yaml", [f"data.root={args.root}", f"run_dir={run_dir}", *extra, *args.overrides]
        )
        start = time.perf_counter()
        res = run_fusion(cfg, resume="none")
        rows.append((label, res["top1"], res["clips_per_s"], time.perf_counter() - start, res["stats"]))
    streams = ["fused", "rgb", "depth", "pose"]
    print(f"\nsynthetic RGB-D ({args.root}), test top-1 per stream; clips/s = inference on CPU")
    print(f"{'adapter':<20}" + "".join(f"{s:>8}" for s in streams) + f"{'clips/s':>10}{'train s':>9}  notes")
    for label, top1, cps, secs, stats in rows:
        cells = "".join(f"{top1[s]:>8.3f}" if s in top1 else f"{'-':>8}" for s in streams)
        notes = ", ".join(f"{k}={v:.3f}" for k, v in stats.items())
        print(f"{label:<20}{cells}{cps:>10.0f}{secs:>9.0f}  {notes}")


if __name__ == "__main__":
    main()
