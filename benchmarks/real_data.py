#!/usr/bin/env python
"""One real-data benchmark, end to end over seeds: `python benchmarks/real_data.py --dataset D --raw PATH`.

    python benchmarks/real_data.py --dataset nw_ucla --raw ../shared/data/nw_ucla [--seeds 0 1 2]
        [--budget-minutes 45] [--out runs/bench_nw_ucla] [--finetune-epochs N [--scratch-epochs M] | --skip-finetune]
    python benchmarks/real_data.py --dataset penn_action --raw ../shared/data/penn_action
    python benchmarks/real_data.py --dataset sbu --raw ../shared/data/sbu_kinect_interaction [--folds fold1 fold2]

Why one command: the tables in BENCHMARKS.md must be exactly what this printed, from the
raw files to the numbers; it rewrites the dataset's section between its markers. Every stage
calls the toolkit (conversion, pretraining, linear, KNN, fine-tune; benchmarks/realdata/stages.py),
so the benchmark measures the toolkit. Needs ssl_skel importable (`pip install -e .`).

Validation-only choices: the only data that steers anything is a validation split carved
from the training split (`ssl_skel.data.splits`; by view for a cross-view protocol, by
subject for a cross-subject one, by class for a single official split, by actor-pair set for
SBU's cross-validation by set). The online KNN monitor (`eval.monitor_every`) draws the
learning curve on it; epochs come from the time budget (realdata/budget.py), the linear probe
is read at its final epoch, and the test split is read once per seed, at the end.

Cross-validation (SBU: 5 folds by actor-pair set): each seed runs every fold (pretraining,
evaluation, supervised rows, one folder per fold), a seed's figure is the mean over its folds
(the protocol's number), and mean and spread are taken over the seeds; `--folds` runs a subset,
which the section then names.

Reported on the test split, mean and spread (population std) over the seeds: linear probe
and KNN-1 top-1 for the fused feature and each modality, for the pretrained encoder and a
randomly initialised one; two floors without learning (raw coordinates resampled to
`--floor-frames`, centred and scaled per clip: cosine 1-NN and a ridge classifier);
supervised fine-tuning of the pretrained encoder; and a supervised ST-GCN trained from
scratch with the same recipe, as the supervised reference.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ssl_skel.commands import ArgumentParser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realdata import records, report, stages  # noqa: E402
from realdata.datasets import DATASETS, RealDataset, chosen_folds  # noqa: E402
from realdata.floors import floors  # noqa: E402
from realdata.run import RunSettings, run_seed  # noqa: E402

PROG = "python benchmarks/real_data.py"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--raw", required=True, help="the dataset's raw folder (e.g. ../shared/data/nw_ucla)")
    p.add_argument("--out", default=None, help="work folder (default: runs/bench_DATASET); reruns resume")
    p.add_argument("--data", default=None, help="converted dataset folder (default: OUT/data)")
    p.add_argument("--config", default=None, help="preset name or YAML (default: the dataset's preset)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--folds", nargs="+", default=None, help="cross-validation only (sbu): run these folds (default all)"
    )
    p.add_argument(
        "--budget-minutes", type=float, default=45.0, help="wall-time cap of pretraining, per seed (and fold)"
    )
    p.add_argument("--epochs", type=int, default=None, help="plan this many epochs (default: what fits the budget)")
    p.add_argument("--monitor-points", type=int, default=6, help="validation KNN-1 points per pretraining run")
    p.add_argument("--finetune-epochs", type=int, default=10, help="epochs of each supervised run")
    p.add_argument(
        "--scratch-epochs",
        type=int,
        default=None,
        help="epochs of the ST-GCN from scratch (default: --finetune-epochs)",
    )
    p.add_argument("--finetune-lr", type=float, default=None, help="supervised lr per 256 clips (default: config lr)")
    p.add_argument("--finetune-batch", type=int, default=None, help="supervised batch size (default: config batch)")
    p.add_argument("--skip-finetune", action="store_true", help="leave out both supervised rows")
    p.add_argument("--skip-random", action="store_true", help="leave out the random-encoder rows")
    p.add_argument("--floor-frames", type=int, default=32, help="frames of the raw-coordinate floors")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    p.add_argument("--num-workers", type=int, default=None, help="data loader workers (default: the config's)")
    p.add_argument("--benchmarks-md", default="BENCHMARKS.md", help="file to write the section into")
    p.add_argument("--no-write", action="store_true", help="print the section only; leave BENCHMARKS.md alone")
    p.add_argument("--note", default="", help="a paragraph for the section (e.g. what the budget means)")
    p.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. model.params.hidden_size=128")
    return p.parse_args(argv)


def describe_splits(
    cfgs: dict, ds: RealDataset, floor_frames: int, seeds: Sequence[int], times: records.StageTimes
) -> tuple[dict, dict, list[str]]:
    """Per benchmark split (a fold, or the preset's one: None): the floors, [train, test] sizes, and the
    validation split each seed's monitor drew."""
    from ssl_skel.data.datasets import build_dataset

    fold_floors, sizes, vals = {}, {}, []
    for b, c in cfgs.items():
        with times.time("floors"):
            fold_floors[b] = floors(c.data, floor_frames, c.seed)
        train = build_dataset(c.data, "train", train=False, seed=c.seed)
        sizes[b] = [len(train), len(build_dataset(c.data, "test", train=False, seed=c.seed))]
        described = report.split_text(train.arrays, ds.val_by, c.eval.monitor_fraction, seeds)
        vals.append(f"{b} [{described}]" if b else described)
    return fold_floors, sizes, vals


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    from ssl_skel.core.config import load_config
    from ssl_skel.data.storage import DataFormatError
    from ssl_skel.evaluation.api import load_encoder

    ds = DATASETS[args.dataset]
    folds = chosen_folds(args.dataset, ds, args.folds)
    config = args.config or ds.config
    raw = Path(args.raw)
    if not raw.is_dir():
        raise DataFormatError(f"{raw}: raw folder not found (--raw: the {args.dataset} folder as distributed)")
    out = Path(args.out or f"runs/bench_{args.dataset}")
    data = Path(args.data) if args.data else out / "data"
    out.mkdir(parents=True, exist_ok=True)
    base = [*args.overrides, f"data.root={data}"]
    if args.num_workers is not None:
        base.append(f"data.num_workers={args.num_workers}")
    benches = folds or [None]
    cfgs = {
        b: load_config(config, [*base, *([f"data.benchmark={b}"] if b else []), f"run_dir={out / 'cfg'}"])
        for b in benches
    }
    times = records.StageTimes()
    with times.time("convert"):
        data_note = stages.prepare_data(args.dataset, raw, data)
    settings = RunSettings.from_args(args)
    per_seed = []
    for seed in args.seeds:
        res, seed_times = run_seed(settings, ds, config, base, seed, out, folds)
        per_seed.append(res)
        times.add(seed_times)
    fold_floors, sizes, vals = describe_splits(cfgs, ds, args.floor_frames, args.seeds, times)
    floor = fold_floors[benches[0]]
    if folds:
        floor = {k: float(np.mean([fold_floors[f][k] for f in folds])) for k in ("knn1", "ridge")}
        floor["dim"] = fold_floors[folds[0]]["dim"]
    enc = load_encoder(out / f"seed{args.seeds[0]}" / (folds[0] if folds else "") / "pretrain" / "last.pt")
    command = f"{PROG} " + " ".join(without_note(sys_argv(argv)))
    ctx = {
        "dataset": ds,
        "cfg": cfgs[benches[0]],
        "seeds": args.seeds,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": report.machine_line(threads),
        "command": command.strip(),
        "data_note": data_note,
        "sizes": sizes[benches[0]],
        "folds": folds,
        "fold_sizes": sizes if folds else {},
        "fold_floors": fold_floors if folds else {},
        "note": args.note,
        "enc_params": enc.encoder.num_parameters(),
        "dim": enc.dim,
        "config_name": config,
        "budget": args.budget_minutes,
        "val_split": "; ".join(vals),
        "per_seed": per_seed,
        "floors": floor,
        "floor_frames": args.floor_frames,
        "stages": times.seconds,
    }
    section = report.report(ctx)
    print(section)
    summary = {k: v for k, v in ctx.items() if k not in ("cfg", "dataset")}
    records.write_json(out / "results.json", summary)
    if not args.no_write:
        report.write_section(Path(args.benchmarks_md), section, ds.markers)
        print(f"\nwritten to {args.benchmarks_md}")
    return 0


def without_note(argv: list[str]) -> list[str]:
    """The command line as printed in the section: `--note TEXT` is the section's own paragraph."""
    out, skip = [], False
    for a in argv:
        if skip or a.startswith("--note="):
            skip = False
            continue
        if a == "--note":
            skip = True
            continue
        out.append(a)
    return out


def sys_argv(argv: Sequence[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)


def cli(argv: Sequence[str] | None = None) -> int:
    """`main` as a command: an error the user can fix is one line and exit status 2 (as for `ssl-skel`)."""
    from ssl_skel.cli import one_line, user_errors

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return main(argv)
    except user_errors() as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
