"""NW-UCLA end to end on real recordings: convert, pretrain under a time budget, evaluate.

    python benchmarks/nwucla.py --raw ../shared/data/nw_ucla [--budget-minutes 45]
        [--out runs/nwucla_bench] [--config nwucla_cpu] [--finetune-minutes 8 | --skip-finetune]

Why one command: the table in BENCHMARKS.md must be exactly what this printed, from the
raw json files to the numbers, on the machine it names. Every stage calls the library the
way a user would: the converter (`ssl-skel gendata ucla`), `ssl-skel pretrain`,
`ssl-skel linear`, `ssl-skel knn` and `ssl-skel finetune` (their `main(argv)`), so the
benchmark measures the toolkit, not a private copy of it.

Budget: pretraining runs its first epoch, plans the number of epochs that fits the
budget from that epoch's wall time (capped by the config's `train.epochs`; the cosine
schedule spans the planned epochs), then continues in chunks through the pretrain
command's `--stop-after-epoch` and resume, stopping after a completed epoch when the next
would overrun. A rerun with the same `--out` resumes where it stopped. Between chunks a
fused-feature KNN-1 on the test split is recorded (the learning curve; its time is not
part of the pretraining budget and is reported on its own line).

Reported on the cross-view test split (view 3): linear probe top-1 (final epoch) and
KNN-1 top-1 for the fused feature and each modality, for the pretrained encoder and for
a randomly initialised one of the same config; two floors without learning (raw
coordinates resampled to `--floor-frames`, centred and scaled per clip, flattened:
cosine 1-NN and a ridge classifier); supervised fine-tuning of the same encoder with the
evaluation issue's supervised head as the upper reference.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import math
import os
import platform
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODALITIES = ("fused", "joint", "bone", "motion")
BEGIN, END = "<!-- nwucla:begin -->", "<!-- nwucla:end -->"
log = logging.getLogger("nwucla")


# --------------------------------------------------------------------------- arguments
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--raw", required=True, help="NW-UCLA folder: all_sqe/*.json, train_split.json, val_split.json")
    p.add_argument("--out", default="runs/nwucla_bench", help="work folder (data, runs, results); reruns resume")
    p.add_argument("--data", default=None, help="converted dataset folder (default: OUT/data)")
    p.add_argument("--config", default="nwucla_cpu", help="preset name or YAML path")
    p.add_argument("--budget-minutes", type=float, default=45.0, help="wall-time cap of pretraining")
    p.add_argument("--epochs", type=int, default=None, help="plan this many epochs (default: what fits the budget)")
    p.add_argument("--finetune-minutes", type=float, default=8.0, help="wall-time target of supervised fine-tuning")
    p.add_argument(
        "--finetune-epochs", type=int, default=None, help="fixed fine-tuning epochs (default: from the budget)"
    )
    p.add_argument(
        "--finetune-lr", type=float, default=None, help="fine-tuning lr for a batch of 256 (default: config lr)"
    )
    p.add_argument("--skip-finetune", action="store_true", help="leave out the supervised upper reference")
    p.add_argument("--skip-random", action="store_true", help="leave out the random-encoder rows")
    p.add_argument("--curve-points", type=int, default=8, help="KNN-1 curve points during pretraining (0 = none)")
    p.add_argument("--floor-frames", type=int, default=32, help="frames of the raw-coordinate floors")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    p.add_argument("--num-workers", type=int, default=None, help="data loader workers (default: the config's)")
    p.add_argument("--benchmarks-md", default=str(REPO / "BENCHMARKS.md"), help="file to write the table into")
    p.add_argument("--no-write", action="store_true", help="print the table only; leave BENCHMARKS.md alone")
    p.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. model.params.hidden_size=128")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- small helpers
@dataclass
class Stages:
    """Wall time of each stage, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def time(self, name: str):
        start = time.perf_counter()
        log.info("stage %s ...", name)
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            log.info("stage %s: %.1f s", name, self.seconds[name])


def run_command(name: str, argv: list[str]) -> None:
    """`ssl-skel <name> argv` in this process; a non-zero status stops the benchmark."""
    from ssl_skel.cli import main

    log.info("ssl-skel %s %s", name, " ".join(argv))
    status = main([name, *argv])
    if status != 0:
        raise SystemExit(f"ssl-skel {name} failed with status {status}")


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


# --------------------------------------------------------------------------- data
def convert(raw: Path, data: Path) -> str:
    """Convert unless `data` already holds a finished conversion of `raw`; returns what was done."""
    from ssl_skel.data.formats.nw_ucla import convert_ucla

    manifest = data / "manifest.json"
    if manifest.exists():
        source = json.loads(manifest.read_text()).get("source", {})
        if source.get("dataset") == "nw_ucla" and Path(source.get("raw", "")) == raw.resolve():
            return "reused"
        raise SystemExit(f"{data}: holds another dataset ({source.get('raw')}); pass another --data or --out")
    report = convert_ucla(raw, data)
    return (
        f"converted {report.num_samples} clips (train {report.split_sizes['train']}, test {report.split_sizes['test']})"
    )


# --------------------------------------------------------------------------- floors
def raw_features(dataset, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Each clip's valid frames resampled to `frames`, centred and scaled per clip, flattened.

    dataset: a SkeletonClips split; returns ((N, C * frames * V * M) float32, labels (N,)).
    Centred on the clip's mean joint position, divided by the clip's RMS distance to it.
    """
    from ssl_skel.data.transforms import CenterCropResize

    resize = CenterCropResize(frames)
    rows = []
    for i in range(len(dataset)):
        x = resize(dataset.valid_frames(i)).astype(np.float64)  # (C, frames, V, M)
        x = x - x.mean(axis=(1, 2, 3), keepdims=True)
        x = x / max(float(np.sqrt((x**2).sum(0).mean())), 1e-8)
        rows.append(x.reshape(-1))
    return np.asarray(rows, np.float32), np.asarray(dataset.labels, np.int64)


def floors(cfg_data, frames: int, seed: int) -> dict[str, float]:
    """Top-1 of cosine 1-NN and of a ridge classifier on raw coordinates (no learned features)."""
    from sklearn.linear_model import RidgeClassifier

    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.evaluation.knn import knn_classify

    train = build_dataset(cfg_data, "train", train=False, seed=seed)
    test = build_dataset(cfg_data, "test", train=False, seed=seed)
    xtr, ytr = raw_features(train, frames)
    xte, yte = raw_features(test, frames)
    knn = knn_classify(xtr, ytr, xte, train.num_classes, k=1)
    ridge = RidgeClassifier(alpha=1.0).fit(xtr, ytr)
    return {
        "knn1": 100.0 * float(np.mean(knn.predictions == yte)),
        "ridge": 100.0 * float(np.mean(ridge.predict(xte) == yte)),
        "dim": int(xtr.shape[1]),
    }


# --------------------------------------------------------------------------- pretraining
def checkpoint_epoch(path: Path) -> int:
    if not path.exists():
        return 0
    from ssl_skel.core.checkpoint import load_checkpoint

    return int(load_checkpoint(path)["epoch"])


def knn_curve_point(checkpoint: Path, cfg_data, seed: int) -> float:
    """Fused-feature KNN-1 top-1 on the test split for one checkpoint (the learning curve)."""
    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.evaluation.api import load_encoder
    from ssl_skel.evaluation.features import extract_features
    from ssl_skel.evaluation.knn import knn_classify

    enc = load_encoder(checkpoint)
    sets = [build_dataset(cfg_data, part, train=False, seed=seed) for part in ("train", "test")]
    tr, te = (extract_features(enc, ds, ("fused",), batch_size=256, progress=False) for ds in sets)
    res = knn_classify(tr.embeddings["fused"], tr.labels, te.embeddings["fused"], sets[0].num_classes, k=1)
    return 100.0 * float(np.mean(res.predictions == te.labels))


@dataclass
class PretrainPlan:
    """What the budget allowed; kept in RUN/bench_plan.json so a rerun resumes the same plan."""

    planned_epochs: int
    first_epoch_s: float
    seconds: float = 0.0  # pretraining wall time so far, over all invocations
    curve: list[list[float]] = field(default_factory=list)  # [epoch, knn1, loss]
    stopped_by_budget: bool = False

    @staticmethod
    def load(path: Path) -> PretrainPlan | None:
        return PretrainPlan(**json.loads(path.read_text())) if path.exists() else None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=1))


def probe_epoch_seconds(args: argparse.Namespace, cfg, base: list[str], steps: int = 6) -> tuple[float, float]:
    """(seconds per pretraining epoch, start-up seconds per pretrain call), from a short probe.

    Why a probe: the learning-rate schedule spans the planned epochs, and the engine
    (rightly) refuses to resume a run whose schedule length changed, so the number of
    epochs must be known before the real run starts. A few steps run in a throwaway run
    folder; the epoch estimate is the probe's training-loop speed (first, slower steps
    included: it errs on the safe side) times the steps of an epoch, and the rest of the
    probe's wall time is the start-up that every `ssl-skel pretrain` call pays once.
    """
    import shutil

    from ssl_skel.core.checkpoint import load_checkpoint

    probe = Path(cfg.run_dir).parent / "pretrain_probe"
    shutil.rmtree(probe, ignore_errors=True)
    ov = [f"run_dir={probe}", "train.epochs=1", "train.warmup_epochs=0", f"train.max_steps_per_epoch={steps}"]
    start = time.perf_counter()
    run_command("pretrain", ["--config", args.config, "--resume", "none", *base, *ov])
    total = time.perf_counter() - start
    stats = load_checkpoint(probe / "last.pt")["metrics"]["last"]
    shutil.rmtree(probe, ignore_errors=True)
    per_epoch = len(build_train_split(cfg)) // cfg.train.batch_size
    loop = min(steps, per_epoch) * cfg.train.batch_size / stats["samples_per_s"]
    return per_epoch * cfg.train.batch_size / stats["samples_per_s"], max(0.0, total - loop)


def build_train_split(cfg):
    from ssl_skel.data.datasets import build_dataset

    return build_dataset(cfg.data, "train", train=True, seed=cfg.seed)


def pretrain(args: argparse.Namespace, cfg, base: list[str], stages: Stages) -> tuple[Path, PretrainPlan]:
    """Run `ssl-skel pretrain` in budgeted chunks (see module docstring)."""
    run_dir = Path(cfg.run_dir)
    last, plan_file = run_dir / "last.pt", run_dir / "bench_plan.json"
    budget = args.budget_minutes * 60.0
    plan = PretrainPlan.load(plan_file) if last.exists() else None
    warmup = cfg.train.warmup_epochs

    def chunk(stop: int, epochs: int) -> float:
        ov = [f"train.epochs={epochs}", f"train.warmup_epochs={min(warmup, epochs)}"]
        start = time.perf_counter()
        with stages.time("pretrain"):
            run_command("pretrain", ["--config", args.config, "--stop-after-epoch", str(stop), *base, *ov])
        return time.perf_counter() - start

    if plan is None:
        start = time.perf_counter()
        with stages.time("pretrain"):
            first_s, startup = probe_epoch_seconds(args, cfg, base)
        probe_s = time.perf_counter() - start
        calls = args.curve_points or 1  # pretrain calls: one per curve point
        fits = max(1, int((0.97 * budget - calls * startup) // first_s))
        epochs = args.epochs or min(cfg.train.epochs, fits)
        plan = PretrainPlan(planned_epochs=epochs, first_epoch_s=first_s, seconds=probe_s)
        log.info(
            "measured epoch %.1f s (+ %.1f s start-up per call): %d epochs fit %.0f min; planned %d (config: %d)",
            first_s,
            startup,
            fits,
            args.budget_minutes,
            epochs,
            cfg.train.epochs,
        )
        plan.save(plan_file)
    every = max(1, math.ceil(plan.planned_epochs / args.curve_points)) if args.curve_points else 0
    done = checkpoint_epoch(last)
    while done < plan.planned_epochs:
        per_epoch = plan.seconds / done if done else plan.first_epoch_s  # measured, start-ups included
        fit_now = int((budget - plan.seconds) // per_epoch)
        if fit_now < 1:
            plan.stopped_by_budget = True
            log.warning("budget of %.0f min reached after %d/%d epochs", args.budget_minutes, done, plan.planned_epochs)
            break
        target = min(plan.planned_epochs, done + fit_now)
        if every:
            target = min(target, (done // every + 1) * every)
        plan.seconds += chunk(target, plan.planned_epochs)
        done = checkpoint_epoch(last)
        if every and (done % every == 0 or done == plan.planned_epochs):
            with stages.time("knn curve"):
                plan.curve.append([done, knn_curve_point(last, cfg.data, cfg.seed), last_loss(last)])
            log.info("curve: epoch %d KNN-1 %.2f loss %.4f", *plan.curve[-1])
        plan.save(plan_file)
    return last, plan


def last_loss(checkpoint: Path) -> float:
    from ssl_skel.core.checkpoint import load_checkpoint

    return float(load_checkpoint(checkpoint).get("metrics", {}).get("last", {}).get("loss", float("nan")))


# --------------------------------------------------------------------------- evaluation
def evaluate(checkpoint: Path, out: Path, workers: int, random_init: bool) -> dict[str, dict[str, float]]:
    """Linear probe and KNN-1 top-1 per modality via `ssl-skel linear` / `ssl-skel knn`."""
    tag = "random" if random_init else "pretrained"
    common = [
        "--checkpoint",
        str(checkpoint),
        "--no-plots",
        "--num-workers",
        str(workers),
        "--cache-dir",
        str(out / f"features_{tag}"),
        "--modalities",
        ",".join(MODALITIES),
    ] + (["--random-init"] if random_init else [])
    results: dict[str, dict[str, float]] = {m: {} for m in MODALITIES}
    for protocol, key in (("linear", "linear"), ("knn", "knn1")):
        folder = out / f"{protocol}_{tag}"
        run_command(protocol, [*common, "--out", str(folder)] + (["--k", "1"] if protocol == "knn" else []))
        metrics = json.loads((folder / "results.json").read_text())["metrics"]
        for m in MODALITIES:
            results[m][key] = float(metrics[m]["top1"])
    return results


def finetune(args: argparse.Namespace, cfg, checkpoint: Path, out: Path, pretrain_epoch_s: float, workers: int) -> dict:
    """`ssl-skel finetune` of the pretrained encoder (fused feature + linear head)."""
    # one supervised step runs the fused stream once (three embeddings, one transformer pass
    # per token stream); a UmURL step runs four streams, so an epoch costs about 0.4 of one
    epochs = args.finetune_epochs or max(1, int(args.finetune_minutes * 60 // (0.4 * pretrain_epoch_s)))
    lr = args.finetune_lr or cfg.train.lr
    ov = [
        f"train.epochs={epochs}",
        f"train.lr={lr}",
        f"train.warmup_epochs={min(1, epochs)}",
        f"train.save_every={epochs}",
        f"data.num_workers={workers}",
    ]
    folder = out / "finetune"
    run_command(
        "finetune",
        ["--checkpoint", str(checkpoint), "--out", str(folder), "--no-plots", "--label-smoothing", "0.1", *ov],
    )
    metrics = json.loads((folder / "results.json").read_text())["metrics"]
    return {"top1": float(metrics["fused"]["top1"]), "epochs": epochs, "lr": lr}


# --------------------------------------------------------------------------- report
def fmt(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def report(ctx: dict) -> str:
    """The NW-UCLA section of BENCHMARKS.md (markdown), also printed."""
    cfg, plan = ctx["cfg"], ctx["plan"]
    mp = cfg.model.params
    lines = [
        "## NW-UCLA (cross-view, real data)",
        "",
        f"Measured {ctx['date']} on {ctx['machine']}.",
        f"Command: `{ctx['command']}`",
        "",
        f"Data: {ctx['data_note']}; train views 1+2 = {ctx['sizes'][0]} clips, test view 3 = {ctx['sizes'][1]} clips, "
        "10 classes, 20 Kinect v1 joints.",
        f"Encoder: unified (UmURL), hidden {mp.get('hidden_size')}, {mp.get('num_layers', 1)} layer(s), "
        f"{mp.get('num_heads', 1)} head(s), {ctx['enc_params'] / 1e6:.2f}M encoder parameters, "
        f"{ctx['dim']}-d feature; clips of {cfg.data.clip_length} frames; objective umurl "
        f"{json.dumps(cfg.objective.params)}; preset `{ctx['config_name']}`.",
        f"Pretraining: {ctx['epochs_done']}/{plan.planned_epochs} epochs planned from a measured epoch time "
        f"({plan.first_epoch_s:.0f} s) and a budget of {ctx['budget']:.0f} min; batch {cfg.train.batch_size}, "
        f"{cfg.train.optimizer} lr {cfg.train.lr:g} (per 256), final loss {ctx['loss']:.3f}"
        + (" — stopped by the budget before the planned epochs" if plan.stopped_by_budget else "")
        + ".",
        "",
        "| encoder | feature | linear top-1 (%) | KNN-1 top-1 (%) |",
        "|---|---|---:|---:|",
    ]
    for name, res in (("UmURL pretrained", ctx["pretrained"]), ("random init", ctx.get("random"))):
        if not res:
            continue
        for m in MODALITIES:
            lines.append(f"| {name} | {m} | {fmt(res[m].get('linear'))} | {fmt(res[m].get('knn1'))} |")
    fl = ctx["floors"]
    lines.append(
        f"| floor: raw coordinates ({ctx['floor_frames']} frames, {fl['dim']}-d), no learning | – | "
        f"{fmt(fl['ridge'])} (ridge) | {fmt(fl['knn1'])} |"
    )
    ft = ctx.get("finetune")
    if ft:
        lines.append(
            f"| supervised fine-tune of the pretrained encoder ({ft['epochs']} epochs, upper reference) "
            f"| fused | {fmt(ft['top1'])} (test top-1) | – |"
        )
    lines += [
        "",
        "Goal on 2 CPU cores: linear >= 85 %, KNN-1 >= 80 % (published frozen SSL on NW-UCLA: mid 70s "
        "to mid 80s; supervised GCNs about 95 %). Linear: final epoch of "
        f"{cfg.eval.linear_epochs} probe epochs, never the best test epoch.",
    ]
    if plan.curve:
        pts = ", ".join(f"{int(e)}: {k:.1f}" for e, k, _ in plan.curve)
        lines += ["", f"Learning curve, fused KNN-1 top-1 by epoch: {pts}."]
    lines += [
        "",
        "Wall time per stage: "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in ctx["stages"].items())
        + f"; total {sum(ctx['stages'].values()) / 60:.1f} min.",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the NW-UCLA section of `path` (between markers), keeping every other section."""
    block = f"{BEGIN}\n{section}\n{END}"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nFigures measured by the scripts in benchmarks/.\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    from ssl_skel.core.config import load_config
    from ssl_skel.data.datasets import build_dataset

    raw, out = Path(args.raw), Path(args.out)
    data = Path(args.data) if args.data else out / "data"
    out.mkdir(parents=True, exist_ok=True)
    base = [*args.overrides, f"data.root={data}", f"run_dir={out / 'pretrain'}"]
    if args.num_workers is not None:
        base.append(f"data.num_workers={args.num_workers}")
    cfg = load_config(args.config, base)
    workers = cfg.data.num_workers
    stages = Stages()

    with stages.time("convert"):
        data_note = convert(raw, data)
    last, plan = pretrain(args, cfg, base, stages)
    eval_dir = out / "eval"
    with stages.time("evaluate pretrained"):
        pretrained = evaluate(last, eval_dir, workers, random_init=False)
    random_res = None
    if not args.skip_random:
        with stages.time("evaluate random init"):
            random_res = evaluate(last, eval_dir, workers, random_init=True)
    with stages.time("floors"):
        floor = floors(cfg.data, args.floor_frames, cfg.seed)
    ft = None
    if not args.skip_finetune:
        with stages.time("finetune"):
            epoch_s = plan.seconds / max(1, checkpoint_epoch(last))
            ft = finetune(args, cfg, last, eval_dir, epoch_s, workers)

    from ssl_skel.evaluation.api import load_encoder

    enc = load_encoder(last)
    sizes = [len(build_dataset(cfg.data, part, train=False, seed=cfg.seed)) for part in ("train", "test")]
    command = "python benchmarks/nwucla.py " + " ".join(sys.argv[1:] if argv is None else argv)
    ctx = {
        "cfg": cfg,
        "plan": plan,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_line(threads),
        "command": command.strip(),
        "data_note": data_note,
        "sizes": sizes,
        "enc_params": enc.encoder.num_parameters(),
        "dim": enc.dim,
        "config_name": args.config,
        "epochs_done": checkpoint_epoch(last),
        "budget": args.budget_minutes,
        "loss": last_loss(last),
        "pretrained": pretrained,
        "random": random_res,
        "floors": floor,
        "floor_frames": args.floor_frames,
        "finetune": ft,
        "stages": stages.seconds,
    }
    section = report(ctx)
    print(section)
    (out / "results.json").write_text(
        json.dumps(
            {k: v for k, v in ctx.items() if k not in ("cfg", "plan")} | {"plan": plan.__dict__}, indent=1, default=str
        )
    )
    if not args.no_write:
        write_section(Path(args.benchmarks_md), section)
        print(f"\nwritten to {args.benchmarks_md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
