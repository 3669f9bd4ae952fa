"""The dataset's section of BENCHMARKS.md, as markdown, and the writer that replaces it in place.

Why generated: the tables must be exactly what a run measured, from the raw files to the
numbers. Goals and published figures are not printed here: they stay in BENCHMARKS.md's
hand-written text beside each section.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
from collections.abc import Sequence
from pathlib import Path

from .aggregate import aggregate, mean_std


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(threads: int) -> str:
    import torch

    return (
        f"{os.cpu_count()} cores ({cpu_model()}), torch {torch.__version__} with {threads} threads, "
        f"python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def split_text(arrays, by: str, fraction: float, seeds: Sequence[int]) -> str:
    """The validation split each seed's monitor drew (once when the seeds drew the same one)."""
    from ssl_skel.data.splits import split_of

    drawn = []
    for seed in seeds:
        described = split_of(arrays, by=by, fraction=fraction, seed=seed).describe()
        drawn.append(", ".join(f"{k} {v}" for k, v in described.items() if k not in ("by", "seed")))
    if len(set(drawn)) == 1:
        return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}: {drawn[0]}"
    return "; ".join(f"seed {seed}: {text}" for seed, text in zip(seeds, drawn))


def fmt(pair: tuple[float, float] | None) -> str:
    if pair is None or math.isnan(pair[0]):
        return "–"
    return f"{pair[0]:.1f} ± {pair[1]:.1f}"


def _epochs_text(run: dict) -> str:
    """ "done/planned" of one seed; for a cross-validation "seed S: d/p, ..." over its folds."""
    if isinstance(run["epochs_done"], list):
        pairs = ", ".join(f"{d}/{p}" for d, p in zip(run["epochs_done"], run["planned_epochs"]))
        return f"seed {run['seed']}: {pairs}"
    return f"{run['epochs_done']}/{run['planned_epochs']}"


def _sizes_text(ctx: dict) -> str:
    folds = ctx.get("folds") or []
    if not folds:
        return f"train {ctx['sizes'][0]} clips, test {ctx['sizes'][1]} clips"
    of_all = ctx["dataset"].folds
    which = ", ".join(folds) + ("" if list(folds) == list(of_all) else f" only, of {', '.join(of_all)}")
    train, test = zip(*(ctx["fold_sizes"][f] for f in folds))
    return (
        f"{len(folds)} folds run ({which}): per fold train {min(train)}-{max(train)} clips, test "
        f"{min(test)}-{max(test)} clips; every figure below is the mean over these folds"
    )


def _fold_lines(ctx: dict) -> list[str]:
    """Per-fold figures (mean over seeds) and the last validation KNN-1 of each run."""
    folds = ctx.get("folds") or []
    runs = [r for r in ctx["per_seed"] if r.get("folds")]
    if not folds or not runs:
        return []
    cells = []
    for f in folds:
        pre = [r["folds"][f]["pretrained"]["fused"] for r in runs if r["folds"][f].get("pretrained")]
        lin, knn = (mean_std([p.get(k) for p in pre])[0] for k in ("linear", "knn1"))
        cells.append(f"{f} {lin:.1f} / {knn:.1f}")
    fl = ctx.get("fold_floors", {})
    lines = ["", "Per fold, pretrained fused linear / KNN-1 (mean over seeds): " + ", ".join(cells) + "."]
    if fl:
        lines[-1] += (
            " Floors per fold, ridge / 1-NN: "
            + ", ".join(f"{f} {fl[f]['ridge']:.1f} / {fl[f]['knn1']:.1f}" for f in folds if f in fl)
            + "."
        )
    last = []
    for r in runs:
        ends = [r["folds"][f]["curve"][-1] for f in folds if r["folds"][f]["curve"]]
        if ends:
            last.append(f"seed {r['seed']}: " + ", ".join(f"{f} {k:.1f} (epoch {e})" for f, (e, k) in zip(folds, ends)))
    if last:
        lines += ["", "Validation KNN-1 (fused) at the last monitored epoch, per fold: " + "; ".join(last) + "."]
    return lines


def _normalize_text(ev) -> str:
    return ", on unit-length feature rows (`eval.linear_normalize: l2`)" if ev.linear_normalize == "l2" else ""


def report(ctx: dict) -> str:
    """The dataset's section of BENCHMARKS.md (markdown), from what `real_data.main` gathered in `ctx`."""
    ds, cfg, seeds = ctx["dataset"], ctx["cfg"], ctx["seeds"]
    mp = cfg.model.params
    runs = ctx["per_seed"]
    folded = bool(ctx.get("folds"))
    epochs = ("; " if folded else ", ").join(_epochs_text(r) for r in runs)
    budget_note = " (some runs stopped by the budget)" if any(r["stopped_by_budget"] for r in runs) else ""
    per = "per seed and fold" if folded else "per seed"
    lines = [
        f"## {ds.title}",
        "",
        f"Measured {ctx['date']} on {ctx['machine']}.",
        f"Command: `{ctx['command']}`",
        "",
        f"Data: {ctx['data_note']}; {ds.sizes_note}; {_sizes_text(ctx)}.",
        f"Encoder: {cfg.model.name}, hidden {mp.get('hidden_size')}, {ctx['enc_params'] / 1e6:.2f}M parameters, "
        f"{ctx['dim']}-d feature; clips of {cfg.data.clip_length} frames; objective {cfg.objective.name} "
        f"{json.dumps(cfg.objective.params)}; preset `{ctx['config_name']}`.",
        f"Pretraining {per}: epochs done/planned {epochs} from a measured epoch time and a budget of "
        f"{ctx['budget']:g} min{budget_note}; batch {cfg.train.batch_size}, {cfg.train.optimizer} lr "
        f"{cfg.train.lr:g} (per 256).",
        f"Selection: validation split carved from the training split by {ds.val_by} "
        f"({ctx['val_split']}); nothing was chosen on the test split; linear probe read at its final epoch "
        f"({cfg.eval.linear_epochs} epochs, lr {cfg.eval.linear_lr:g}{_normalize_text(cfg.eval)}). "
        f"Seeds {', '.join(map(str, seeds))}: mean ± population std.",
        "",
        "| encoder | feature | linear top-1 (%) | KNN-1 top-1 (%) |",
        "|---|---|---:|---:|",
    ]
    for name, key in (("pretrained", "pretrained"), ("random init", "random")):
        table = aggregate(runs, key)
        for m, row in (table or {}).items():
            lines.append(f"| {name} | {m} | {fmt(row['linear'])} | {fmt(row['knn1'])} |")
    fl = ctx["floors"]
    lines.append(
        f"| floor: raw coordinates ({ctx['floor_frames']} frames, {fl['dim']}-d), no learning"
        f"{' (mean over folds)' if folded else ''} | – | "
        f"{fl['ridge']:.1f} (ridge) | {fl['knn1']:.1f} |"
    )
    for label, key in (
        ("supervised fine-tune of the pretrained encoder", "finetune"),
        ("supervised ST-GCN from scratch", "scratch"),
    ):
        vals = [r[key]["top1"] for r in runs if r.get(key)]
        if vals:
            first = next(r[key] for r in runs if r.get(key))
            recipe = f"{first['epochs']} epochs" + (f", batch {first['batch']}" if "batch" in first else "")
            clean = [r[key]["clean_train_top1"] for r in runs if r.get(key, {}).get("clean_train_top1") is not None]
            fit = f"; clean train {fmt(mean_std(clean))}" if clean else ""
            fit += " – UNDERFITTING" if any(r[key].get("underfitting") for r in runs if r.get(key)) else ""
            lines.append(f"| {label} ({recipe}) | fused | {fmt(mean_std(vals))} (test top-1{fit}) | – |")
    curves = [f"seed {r['seed']}: " + ", ".join(f"{e}: {k:.1f}" for e, k in r["curve"]) for r in runs if r["curve"]]
    lines += _fold_lines(ctx)
    if ctx.get("note"):
        lines += ["", ctx["note"]]
    if curves:
        lines += ["", "Validation KNN-1 (fused) by epoch, from the online monitor: " + "; ".join(curves) + "."]
    lines += [
        "",
        "Wall time per stage (all seeds): "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in ctx["stages"].items())
        + f"; total {sum(ctx['stages'].values()) / 60:.1f} min.",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str, markers: tuple[str, str]) -> None:
    """Replace the section between `markers` in `path`, keeping every other section."""
    from ssl_skel.core.io import atomic_write_bytes

    begin, end = markers
    block = f"{begin}\n{section}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nFigures measured by the scripts in benchmarks/.\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_bytes(path, text.encode())
