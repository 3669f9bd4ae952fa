"""Accuracy of each fusion adapter and of each of its single streams on the synthetic
RGB-D data, over seeds, plus the gate/attention statistics; prints one markdown table.

    .venv/bin/python benchmarks/fusion.py [--adapters umdr integral epam mmcl] [--seeds 0 1 2]
        [--validation 0.2 | --test] [--root DIR] [key=value ...]

Each adapter trains with its preset (configs/fusion_<name>.yaml) through the one engine.
By default it is evaluated on a stratified 20% of the *training* split held out from
training (`--validation`), the split for choosing settings; `--test` trains on the whole
training split and evaluates on the test split (once, at the end). Extra key=value
overrides apply to every preset (e.g. train.epochs=5 for a quick look). MMCL is also run
with `params.guide=none`: the skeleton-only model it should beat.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

from ssl_skel.core.config import load_fusion_config
from ssl_skel.fusion.run import run_fusion

STREAMS = ("fused", "rgb", "depth", "pose")


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--adapters", nargs="+", default=["umdr", "integral", "epam", "mmcl"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--validation", type=float, default=0.2, help="held-out share of the training split")
    p.add_argument("--test", action="store_true", help="evaluate on the test split instead (final figures)")
    p.add_argument("--no-baseline", action="store_true", help="skip the skeleton-only MMCL row")
    p.add_argument("--label", default="", help="suffix for the row labels (e.g. the override being tried)")
    p.add_argument("--root", default="data/synthetic_rgbd", help="synthetic RGB-D folder (rendered if absent)")
    p.add_argument("--runs", default="runs/bench_fusion")
    p.add_argument("overrides", nargs="*")
    args = p.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.WARNING)
    validation = 0.0 if args.test else args.validation
    jobs = [(a, a, []) for a in args.adapters]
    if "mmcl" in args.adapters and not args.no_baseline:
        jobs.append(("mmcl", "mmcl (guide=none)", ["params.guide=none"]))
    rows = []
    for adapter, label, extra in jobs:
        label = f"{label} {args.label}".strip()
        per_seed = []
        for seed in args.seeds:
            slug = label.replace(" ", "_").replace("(", "").replace(")", "").replace("=", "-")
            run_dir = Path(args.runs) / f"{slug}_s{seed}"
            cfg = load_fusion_config(
                f"configs/fusion_{adapter}.yaml",
                [f"data.root={args.root}", f"run_dir={run_dir}", f"seed={seed}", *extra, *args.overrides],
            )
            start = time.perf_counter()
            res = run_fusion(cfg, resume="none", validation=validation)
            res["seconds"] = time.perf_counter() - start
            per_seed.append(res)
            print(f"{label} seed {seed}: {res['split']} top-1 {res['top1']} stats {res['stats']}", flush=True)
        rows.append({"label": label, "runs": per_seed})
    split = "test split" if args.test else f"validation ({validation:g} of train, held out)"
    print(f"\nsynthetic RGB-D ({args.root}), {split} top-1 per stream, mean ± std over seeds {args.seeds}")
    print("| adapter | " + " | ".join(STREAMS) + " | train s/run | statistics (mean over seeds) |")
    print("|---|" + "---:|" * len(STREAMS) + "---:|---|")
    for row in rows:
        runs = row["runs"]
        cells = [_cell([r["top1"][s] for r in runs if s in r["top1"]]) for s in STREAMS]
        names = sorted({k for r in runs for k in r["stats"]})
        stats = ", ".join(f"{k} {statistics.mean(r['stats'][k] for r in runs):.3f}" for k in names)
        secs = statistics.mean(r["seconds"] for r in runs)
        print(f"| {row['label']} | " + " | ".join(cells) + f" | {secs:.0f} | {stats} |")
    return rows


if __name__ == "__main__":
    main()
