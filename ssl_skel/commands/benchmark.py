"""`ssl-skel benchmark --dataset {nw_ucla,penn_action,sbu} --raw PATH`: one real-data benchmark, end to end, over seeds.

    ssl-skel benchmark --dataset nw_ucla --raw ../shared/data/nw_ucla [--seeds 0 1 2]
        [--budget-minutes 45] [--out runs/bench_nw_ucla] [--finetune-epochs N [--scratch-epochs M] | --skip-finetune]
    ssl-skel benchmark --dataset penn_action --raw ../shared/data/penn_action
    ssl-skel benchmark --dataset sbu --raw ../shared/data/sbu_kinect_interaction [--folds fold1 fold2]

Why one command: the tables in BENCHMARKS.md must be exactly what this printed, from the
raw files to the numbers. Every stage calls the toolkit's own commands (`gendata`,
`pretrain`, `linear`, `knn`, `finetune`), so the benchmark measures the toolkit.

Validation-only choices: the only data that steers anything is a validation split carved
from the training split (`ssl_skel.data.splits`; by view for a cross-view protocol, by
subject for a cross-subject one, by class for a single official split, by actor-pair set for
SBU's cross-validation by set). The online KNN monitor (`eval.monitor_every`) draws the
learning curve on it; epochs come from the time budget, the linear probe is read at its
final epoch, and the test split is read once per seed, at the end.

Budget: pretraining first measures a few steps, plans the epochs that fit the budget
(capped by the config's `train.epochs`; the cosine schedule spans the planned epochs), and
runs in resumable chunks (`--stop-after-epoch`), stopping after a completed epoch when the
next would overrun. A rerun with the same `--out` resumes where it stopped.

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
import contextlib
import datetime as dt
import json
import logging
import math
import os
import platform
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssl_skel.commands import ArgumentParser
from ssl_skel.core.io import atomic_write_bytes

MODALITIES = ("fused", "joint", "bone", "motion")
log = logging.getLogger("ssl_skel.benchmark")


# --------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class RealDataset:
    """What the benchmark needs to know of one real dataset."""

    title: str
    config: str  # preset
    val_by: str  # how the validation split is carved from the training split
    markers: tuple[str, str]  # the BENCHMARKS.md section
    convert: Callable[[Path, Path], str]
    sizes_note: str
    goals: str
    folds: tuple[str, ...] = ()  # benchmarks of a cross-validation protocol, averaged; () = the preset's one


def _split_sizes(report) -> str:
    return ", ".join(f"{b}: train {s['train']}, test {s['test']}" for b, s in report.splits.items())


def _convert_ucla(raw: Path, data: Path) -> str:
    from ssl_skel.data.formats.nw_ucla import convert_ucla

    report = convert_ucla(raw, data)
    return (
        f"converted {report.num_samples} clips (train {report.split_sizes['train']}, test {report.split_sizes['test']})"
    )


def _convert_penn(raw: Path, data: Path) -> str:
    from ssl_skel.data.formats.penn_action import convert_penn

    report = convert_penn(raw, data, workers=1, progress=False)
    return f"converted {report.num_samples} clips ({_split_sizes(report)}; invisible joints interpolated in time)"


def _convert_sbu(raw: Path, data: Path) -> str:
    from ssl_skel.data.formats.sbu import convert_sbu

    report = convert_sbu(raw, data, progress=False)
    return f"converted {report.num_samples} clips ({_split_sizes(report)})"


DATASETS: dict[str, RealDataset] = {
    "nw_ucla": RealDataset(
        title="NW-UCLA (cross-view, real data)",
        config="nwucla_cpu",
        val_by="view",
        markers=("<!-- nwucla:begin -->", "<!-- nwucla:end -->"),
        convert=_convert_ucla,
        sizes_note="train views 1+2, test view 3, 10 classes, 20 Kinect v1 joints",
        goals="Goals (issue 12): fused linear >= 91 %, KNN-1 >= 88 % (mean of 3 seeds). Published frozen SSL "
        "linear: SOfA 92.9, GL-Transformer 90.4, P&C 84.9; supervised GCNs 96.5-97 (CTR-GCN, InfoGCN).",
    ),
    "penn_action": RealDataset(
        title="Penn Action (official split, 2D, real data)",
        config="penn_action_cpu",
        val_by="class",
        markers=("<!-- penn_action:begin -->", "<!-- penn_action:end -->"),
        convert=_convert_penn,
        sizes_note="official train/test flag, 15 classes, 13 annotated 2D joints (x, y), one person",
        goals="Goals (issue 12): fused linear >= 94 % (mean of 3 seeds). References: supervised PGCN skeleton "
        "stream 95.2 % (computed from the authors' released test scores); 1-NN on normalised raw coordinates "
        "about 90 % (SOURCE.md's check; the floor rows above are this benchmark's own). No published "
        "self-supervised skeleton result on Penn Action is known.",
    ),
    "sbu": RealDataset(
        title="SBU Kinect Interaction (5-fold cross-validation by set, real data)",
        config="sbu_cpu",
        val_by="set",
        markers=("<!-- sbu:begin -->", "<!-- sbu:end -->"),
        convert=_convert_sbu,
        sizes_note="clean version, 8 two-person interactions, 15 Kinect joints x 2 persons, 21 actor-pair sets",
        goals="Goals (issue 12): fused linear >= 90 % (mean over the folds, mean of 3 seeds). References: "
        "supervised IRN 94.6-98.2 % (LSTM-IRN variants, 5-fold); 1-NN on raw coordinates about 81 % "
        "(SOURCE.md's check). No published self-supervised result on SBU is known.",
        folds=tuple(f"fold{k}" for k in range(1, 6)),
    ),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(prog="ssl-skel benchmark", description=__doc__.split("\n\n")[0])
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


# --------------------------------------------------------------------------- small helpers
@dataclass
class Stages:
    """Wall time of each stage, summed over seeds, in the order they first ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def load(path: Path) -> Stages:
        """The stage times a previous invocation saved (a resumed or parallel seed keeps its real cost)."""
        return Stages(json.loads(path.read_text())) if path.exists() else Stages()

    def save(self, path: Path) -> None:
        write_json(path, self.seconds)

    def add(self, other: Stages) -> None:
        for name, sec in other.seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + sec

    @contextlib.contextmanager
    def time(self, name: str):
        start = time.perf_counter()
        log.info("stage %s ...", name)
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            log.info("stage %s: %.1f s so far", name, self.seconds[name])


def write_json(path: Path, obj) -> None:
    """Atomically (a rerun resumes from these files, so an interrupted write must not leave half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(obj, indent=1, default=str).encode())


def run_command(name: str, argv: list[str]) -> None:
    """`ssl-skel <name> argv` in this process; a non-zero status stops the benchmark."""
    import importlib

    from ssl_skel.core.checkpoint import CheckpointError
    from ssl_skel.core.config import ConfigError
    from ssl_skel.data.storage import DataFormatError

    log.info("ssl-skel %s %s", name, " ".join(argv))
    try:
        status = importlib.import_module(f"ssl_skel.commands.{name}").main(argv)
    except (CheckpointError, ConfigError, DataFormatError) as exc:
        raise SystemExit(f"ssl-skel {name} failed: {exc}") from None
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


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation; NaN for no values."""
    v = np.asarray([x for x in values if x is not None], np.float64)
    return (float(v.mean()), float(v.std())) if v.size else (math.nan, math.nan)


# --------------------------------------------------------------------------- data
def convert(ds: RealDataset, raw: Path, data: Path) -> str:
    """Convert unless `data` already holds a finished conversion of `raw`; returns what was done."""
    manifest = data / "manifest.json"
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        source = meta.get("source", {})
        done = Path(source.get("raw", "")).resolve()
        if done == raw.resolve() or raw.resolve() in done.parents:  # Penn records its labels/ subfolder
            splits = meta.get("splits", {}).items()
            sizes = "; ".join(f"{name}: " + ", ".join(f"{p} {n}" for p, n in parts.items()) for name, parts in splits)
            return f"reused an earlier conversion of {meta.get('num_samples')} clips ({sizes})"
        raise SystemExit(f"{data}: holds another dataset ({source.get('raw')}); pass another --data or --out")
    return ds.convert(raw, data)


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


# --------------------------------------------------------------------------- pretraining
def _checkpoint(path: Path) -> dict:
    from ssl_skel.core.checkpoint import load_checkpoint

    return load_checkpoint(path)


def checkpoint_epoch(path: Path) -> int:
    return int(_checkpoint(path)["epoch"]) if path.exists() else 0


@dataclass
class PretrainPlan:
    """What the budget allowed; kept in RUN/bench_plan.json so a rerun resumes the same plan."""

    planned_epochs: int
    first_epoch_s: float
    seconds: float = 0.0  # pretraining wall time so far, over all invocations
    stopped_by_budget: bool = False

    @staticmethod
    def load(path: Path) -> PretrainPlan | None:
        return PretrainPlan(**json.loads(path.read_text())) if path.exists() else None

    def save(self, path: Path) -> None:
        write_json(path, self.__dict__)


def probe_epoch_seconds(config: str, cfg, base: list[str], steps: int = 6, repeats: int = 2) -> tuple[float, float]:
    """(seconds per pretraining epoch, start-up seconds per pretrain call), from short probes.

    Why a probe: the schedule spans the planned epochs and the engine refuses to resume a
    run whose schedule changed, so the epochs must be known before the real run starts.
    Why the fastest of `repeats`: the first pretraining of a process runs cold (first reads
    of the memory-mapped data, thread pools, lazy imports); on Penn Action it measured 65
    clips/s against 400 for the warm ones, which planned a sixth of the epochs that fit.
    """
    from ssl_skel.data.datasets import build_dataset

    probe = Path(cfg.run_dir).parent / "pretrain_probe"
    ov = [f"run_dir={probe}", "train.epochs=1", "train.warmup_epochs=0", f"train.max_steps_per_epoch={steps}"]
    per_epoch = len(build_dataset(cfg.data, "train", train=True, seed=cfg.seed)) // cfg.train.batch_size
    best = None
    for _ in range(max(1, repeats)):
        shutil.rmtree(probe, ignore_errors=True)
        start = time.perf_counter()
        run_command("pretrain", ["--config", config, "--resume", "none", *base, *ov, "eval.monitor_every=0"])
        total = time.perf_counter() - start
        rate = _checkpoint(probe / "last.pt")["metrics"]["last"]["samples_per_s"]
        shutil.rmtree(probe, ignore_errors=True)
        loop = min(steps, per_epoch) * cfg.train.batch_size / rate
        measured = (per_epoch * cfg.train.batch_size / rate, max(0.0, total - loop))
        best = measured if best is None or measured[0] < best[0] else best
    return best


def pretrain(args, config: str, cfg, base: list[str], stages: Stages) -> tuple[Path, PretrainPlan]:
    """`ssl-skel pretrain` with the online monitor, in budgeted chunks (see module docstring)."""
    run_dir = Path(cfg.run_dir)
    last, plan_file = run_dir / "last.pt", run_dir / "bench_plan.json"
    budget = args.budget_minutes * 60.0
    plan = PretrainPlan.load(plan_file) if last.exists() else None
    if plan is None:
        start = time.perf_counter()
        with stages.time("pretrain"):
            first_s, startup = probe_epoch_seconds(config, cfg, base)
        chunks = 4
        fits = max(1, int((0.9 * budget - chunks * startup) // first_s))
        plan = PretrainPlan(
            planned_epochs=args.epochs or min(cfg.train.epochs, fits),
            first_epoch_s=first_s,
            seconds=time.perf_counter() - start,
        )
        log.info(
            "epoch %.1f s (+%.1f s per call): %d epochs fit; planned %d", first_s, startup, fits, plan.planned_epochs
        )
        plan.save(plan_file)
    epochs = plan.planned_epochs
    every = max(1, math.ceil(epochs / max(1, args.monitor_points)))
    ov = [
        f"train.epochs={epochs}",
        f"train.warmup_epochs={min(cfg.train.warmup_epochs, epochs)}",
        f"eval.monitor_every={every}",
        f"eval.monitor_split={DATASETS[args.dataset].val_by}",
    ]
    done = checkpoint_epoch(last)
    chunk = max(1, math.ceil(epochs / 4))
    while done < epochs:
        per_epoch = plan.seconds / done if done else plan.first_epoch_s  # measured, start-ups included
        fit_now = int((budget - plan.seconds) // per_epoch)
        if fit_now < 1:
            plan.stopped_by_budget = True
            log.warning("budget of %.0f min reached after %d/%d epochs", args.budget_minutes, done, epochs)
            break
        target = min(epochs, done + fit_now, done + chunk)
        start = time.perf_counter()
        with stages.time("pretrain"):
            run_command("pretrain", ["--config", config, "--stop-after-epoch", str(target), *base, *ov])
        plan.seconds += time.perf_counter() - start
        done = checkpoint_epoch(last)
        plan.save(plan_file)
    return last, plan


def curve(checkpoint: Path) -> list[list[float]]:
    """[epoch, validation KNN-1] of every monitored epoch, from the checkpoint's history."""
    history = _checkpoint(checkpoint).get("metrics", {}).get("history", [])
    return [[int(h["epoch"]), float(h["val/knn1"])] for h in history if "val/knn1" in h]


def last_loss(checkpoint: Path) -> float:
    return float(_checkpoint(checkpoint).get("metrics", {}).get("last", {}).get("loss", float("nan")))


# --------------------------------------------------------------------------- evaluation
PROBE_KEYS = {
    "linear_epochs": "epochs",
    "linear_lr": "lr",
    "linear_batch_size": "batch_size",
    "linear_normalize": "normalize",
}


def probe_settings(ev) -> dict:
    """The preset's linear-probe settings now (a checkpoint stores those of its pretraining time)."""
    return {setting: getattr(ev, key) for key, setting in PROBE_KEYS.items()}


def evaluate(
    checkpoint: Path, out: Path, workers: int, random_init: bool, seed: int, probe: dict
) -> dict[str, dict[str, float]]:
    """Linear probe and KNN-1 top-1 per modality via `ssl-skel linear` / `ssl-skel knn` (test split).

    `probe` (`probe_settings`) is passed as overrides, and a finished probe with other settings is redone,
    so a changed preset probe never mixes with results of the old one."""
    tag = "random" if random_init else "pretrained"
    common = ["--checkpoint", str(checkpoint), "--no-plots", "--num-workers", str(workers), "--seed", str(seed)]
    common += ["--cache-dir", str(out / f"features_{tag}"), "--modalities", ",".join(MODALITIES)]
    common += ["--random-init"] if random_init else []
    probe_ov = [f"eval.{key}={probe[setting]}" for key, setting in PROBE_KEYS.items()]
    results: dict[str, dict[str, float]] = {m: {} for m in MODALITIES}
    for protocol, key in (("linear", "linear"), ("knn", "knn1")):
        folder = out / f"{protocol}_{tag}"
        done = folder / "results.json"
        if done.exists() and protocol == "linear":
            used = json.loads(done.read_text()).get("settings", {})
            if any(used.get(setting) != value for setting, value in probe.items()):
                log.info("%s: probe settings changed (%s); probing again", folder, probe)
                done.unlink()
        if not done.exists():
            extra = probe_ov if protocol == "linear" else ["--k", "1"]
            run_command(protocol, [*common, "--out", str(folder), *extra])
        metrics = json.loads(done.read_text())["metrics"]
        for m in MODALITIES:
            if m in metrics:
                results[m][key] = float(metrics[m]["top1"])
    return results


def stgcn_init(cfg, out: Path) -> Path:
    """An encoder-only checkpoint of an untrained ST-GCN for this data (the supervised reference's start)."""
    import torch

    from ssl_skel.core.checkpoint import FORMAT, VERSION, encoder_entry, save_checkpoint
    from ssl_skel.core.config import to_dict
    from ssl_skel.data.datasets import build_dataset
    from ssl_skel.models.encoders import build_encoder

    spec = build_dataset(cfg.data, "train", train=False, seed=cfg.seed).spec
    torch.manual_seed(cfg.seed)
    encoder = build_encoder("stgcn", {}, spec)
    config = to_dict(cfg)
    config["model"] = {"name": "stgcn", "params": {}}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "encoder",
        "config": config,
        "encoder": encoder_entry(encoder),
        "model": {"encoder." + k: v for k, v in encoder.state_dict().items()},
        "epoch": 0,
        "step": 0,
        "metrics": {},
    }
    return save_checkpoint(payload, out)


def supervised(args, cfg, checkpoint: Path, folder: Path, workers: int, seed: int, random_init: bool) -> dict:
    """`ssl-skel finetune` (fused feature + linear head) of `checkpoint`'s encoder, or from scratch.

    A finished run of another length is redone (e.g. a rerun with a longer `--scratch-epochs`)."""
    epochs = (args.scratch_epochs or args.finetune_epochs) if random_init else args.finetune_epochs
    lr = args.finetune_lr or cfg.train.lr
    done = folder / "results.json"
    if done.exists() and json.loads(done.read_text()).get("settings", {}).get("train", {}).get("epochs") != epochs:
        log.info("%s: trained for other than %d epochs; training again", folder, epochs)
        shutil.rmtree(folder)
    if not done.exists():
        ov = [f"train.epochs={epochs}", f"train.lr={lr}", f"train.warmup_epochs={min(1, epochs)}"]
        ov += [f"train.batch_size={args.finetune_batch}"] if args.finetune_batch else []
        ov += [f"train.save_every={epochs}", f"data.num_workers={workers}"]
        extra = ["--random-init"] if random_init else []
        run_command(
            "finetune",
            ["--checkpoint", str(checkpoint), "--out", str(folder), "--no-plots", "--seed", str(seed)]
            + ["--label-smoothing", "0.1", *extra, *ov],
        )
    metrics = json.loads((folder / "results.json").read_text())["metrics"]
    first = next(iter(metrics.values()))
    return {
        "top1": float(first["top1"]),
        "epochs": epochs,
        "lr": lr,
        "batch": args.finetune_batch or cfg.train.batch_size,
    }


# --------------------------------------------------------------------------- report
def fmt(pair: tuple[float, float] | None) -> str:
    if pair is None or math.isnan(pair[0]):
        return "–"
    return f"{pair[0]:.1f} ± {pair[1]:.1f}"


def aggregate(per_seed: list[dict], key: str) -> dict[str, dict[str, tuple[float, float]]] | None:
    """{modality: {metric: (mean, std)}} of per_seed[i][key] over the seeds that have it."""
    tables = [r[key] for r in per_seed if r.get(key)]
    if not tables:
        return None
    return {
        m: {metric: mean_std([t[m].get(metric) for t in tables if metric in t[m]]) for metric in ("linear", "knn1")}
        for m in MODALITIES
        if any(t.get(m) for t in tables)
    }


def fold_mean(runs: dict[str, dict]) -> dict:
    """One seed's figures over the folds of a cross-validation, {fold: run_fold result} -> one result.

    Each metric is the mean over the folds (the protocol's number); a table or a supervised row
    is kept only when every fold has it. The per-fold results stay under "folds".
    """
    folds = list(runs.values())
    out = {
        "seed": folds[0]["seed"],
        "epochs_done": [r["epochs_done"] for r in folds],
        "planned_epochs": [r["planned_epochs"] for r in folds],
        "stopped_by_budget": any(r["stopped_by_budget"] for r in folds),
        "pretrain_s": sum(r["pretrain_s"] for r in folds),
        "loss": float(np.mean([r["loss"] for r in folds])),
        "curve": [],  # per fold, under "folds"
        "folds": runs,
    }
    for key in ("pretrained", "random"):
        if all(r.get(key) for r in folds):
            out[key] = {
                m: {
                    metric: float(np.mean([r[key][m][metric] for r in folds]))
                    for metric in ("linear", "knn1")
                    if all(metric in r[key].get(m, {}) for r in folds)
                }
                for m in MODALITIES
                if all(r[key].get(m) for r in folds)
            }
    for key in ("finetune", "scratch"):
        if all(r.get(key) for r in folds):
            out[key] = {**folds[0][key], "top1": float(np.mean([r[key]["top1"] for r in folds]))}
    return out


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
    """The dataset's section of BENCHMARKS.md (markdown), also printed."""
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
            lines.append(f"| {label} ({recipe}) | fused | {fmt(mean_std(vals))} (test top-1) | – |")
    curves = [f"seed {r['seed']}: " + ", ".join(f"{e}: {k:.1f}" for e, k in r["curve"]) for r in runs if r["curve"]]
    lines += _fold_lines(ctx)
    if ctx.get("note"):
        lines += ["", ctx["note"]]
    lines += ["", ds.goals]
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
    begin, end = markers
    block = f"{begin}\n{section}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nFigures measured by the scripts in benchmarks/.\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_bytes(path, text.encode())


# --------------------------------------------------------------------------- main
def run_seed(
    args, ds: RealDataset, config: str, base: list[str], seed: int, out: Path, folds: Sequence[str] = ()
) -> tuple[dict, Stages]:
    """One seed: the single split, or every fold of a cross-validation and their mean (`fold_mean`);
    returns its figures and stage times (summed over the folds)."""
    folder = out / f"seed{seed}"
    if not folds:
        return run_fold(args, ds, config, base, seed, folder)
    runs, stages = {}, Stages()
    for f in folds:
        runs[f], fold_stages = run_fold(args, ds, config, [*base, f"data.benchmark={f}"], seed, folder / f)
        stages.add(fold_stages)
    res = fold_mean(runs)
    write_json(folder / "results.json", res)
    return res, stages


def chosen_folds(name: str, ds: RealDataset, requested: Sequence[str] | None) -> list[str]:
    """The folds to run: all of a cross-validation's by default, or the `--folds` subset (in the protocol's order)."""
    from ssl_skel.commands import UserError

    if requested is None:
        return list(ds.folds)
    if not ds.folds:
        raise UserError(f"--folds: {name} has one official split, no folds (only a cross-validation has folds)")
    unknown = [f for f in requested if f not in ds.folds]
    if unknown:
        raise UserError(f"--folds: {name} has no fold {', '.join(unknown)}; its folds are {', '.join(ds.folds)}")
    if len(set(requested)) != len(requested):
        raise UserError(f"--folds: a fold is named twice in {' '.join(requested)}")
    return [f for f in ds.folds if f in requested]


def run_fold(args, ds: RealDataset, config: str, base: list[str], seed: int, folder: Path) -> tuple[dict, Stages]:
    """Pretrain, evaluate and fine-tune for one seed (on one fold); returns its figures and stage times (resumable).

    Stage times accumulate in FOLDER/stages.json over every invocation that worked on the seed, so
    seeds run by separate processes (e.g. two at once, one per core) are reported at their cost.
    """
    from ssl_skel.core.config import load_config

    stages_file = folder / "stages.json"
    stages = Stages.load(stages_file)
    seed_base = [*base, f"seed={seed}", f"run_dir={folder / 'pretrain'}"]
    cfg = load_config(config, seed_base)
    workers = cfg.data.num_workers
    last, plan = pretrain(args, config, cfg, seed_base, stages)
    stages.save(stages_file)
    res = {
        "seed": seed,
        "epochs_done": checkpoint_epoch(last),
        "planned_epochs": plan.planned_epochs,
        "stopped_by_budget": plan.stopped_by_budget,
        "pretrain_s": plan.seconds,
        "loss": last_loss(last),
        "curve": curve(last),
    }
    probe = probe_settings(cfg.eval)  # both encoders get the same probe
    with stages.time("evaluate pretrained"):
        res["pretrained"] = evaluate(last, folder / "eval", workers, False, seed, probe)
    if not args.skip_random:
        with stages.time("evaluate random init"):
            res["random"] = evaluate(last, folder / "eval", workers, True, seed, probe)
    if not args.skip_finetune:
        with stages.time("finetune"):
            res["finetune"] = supervised(args, cfg, last, folder / "eval" / "finetune", workers, seed, False)
        with stages.time("supervised from scratch"):
            init = folder / "eval" / "stgcn_init.pt"
            if not init.exists():
                stgcn_init(cfg, init)
            res["scratch"] = supervised(args, cfg, init, folder / "eval" / "stgcn_scratch", workers, seed, True)
    write_json(folder / "results.json", res)
    stages.save(stages_file)
    return res, stages


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    from ssl_skel.core.config import load_config
    from ssl_skel.data.datasets import build_dataset
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
    cfg = cfgs[benches[0]]
    stages = Stages()
    with stages.time("convert"):
        data_note = convert(ds, raw, data)
    per_seed = []
    for seed in args.seeds:
        res, seed_stages = run_seed(args, ds, config, base, seed, out, folds)
        per_seed.append(res)
        stages.add(seed_stages)
    fold_floors, sizes, vals = {}, {}, []
    for b, c in cfgs.items():
        with stages.time("floors"):
            fold_floors[b] = floors(c.data, args.floor_frames, c.seed)
        train = build_dataset(c.data, "train", train=False, seed=c.seed)
        sizes[b] = [len(train), len(build_dataset(c.data, "test", train=False, seed=c.seed))]
        described = split_text(train.arrays, ds.val_by, c.eval.monitor_fraction, args.seeds)
        vals.append(f"{b} [{described}]" if b else described)
    floor = fold_floors[benches[0]]
    if folds:
        floor = {k: float(np.mean([fold_floors[f][k] for f in folds])) for k in ("knn1", "ridge")}
        floor["dim"] = fold_floors[folds[0]]["dim"]
    enc = load_encoder(out / f"seed{args.seeds[0]}" / (folds[0] if folds else "") / "pretrain" / "last.pt")
    command = "ssl-skel benchmark " + " ".join(without_note(sys_argv(argv)))
    ctx = {
        "dataset": ds,
        "cfg": cfg,
        "seeds": args.seeds,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_line(threads),
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
        "stages": stages.seconds,
    }
    section = report(ctx)
    print(section)
    summary = {k: v for k, v in ctx.items() if k not in ("cfg", "dataset")}
    write_json(out / "results.json", summary)
    if not args.no_write:
        write_section(Path(args.benchmarks_md), section, ds.markers)
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
    import sys

    return list(sys.argv[1:] if argv is None else argv)
