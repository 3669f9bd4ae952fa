"""Every call from the benchmark into the toolkit: conversion, pretraining, linear / KNN / fine-tune.

Why one module: the driver measures the toolkit, so each stage must run exactly what a user
runs, and when a toolkit entry changes only this file follows. Conversion and pretraining call
the library directly. The evaluation protocols (`run_linear`, `run_knn`, `run_finetune`) still
run the `ssl-skel` command mains with an argument list: THIS IS THE ONE PLACE that builds
command lines, to be switched to the typed `ssl_skel.evaluation` API (settings dataclasses, one
function per protocol) once it exists; no other benchmark module may build one.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("real_data")


# --------------------------------------------------------------------------- conversion
FORMAT_OF = {"nw_ucla": "ucla", "penn_action": "penn", "sbu": "sbu"}  # benchmark dataset -> converter registry name


def convert(dataset: str, raw: Path, out: Path) -> str:
    """Convert the raw `dataset` folder into a dataset folder at `out` through the converter registry;
    returns what was done, in one line."""
    from ssl_skel.data.formats.registry import CONVERTERS

    if dataset not in FORMAT_OF:
        raise ValueError(f"no converter for dataset {dataset!r}")
    if dataset == "nw_ucla":
        report = CONVERTERS["ucla"].convert(raw, out)
        sizes = report.split_sizes
        return f"converted {report.num_samples} clips (train {sizes['train']}, test {sizes['test']})"
    if dataset == "penn_action":
        report = CONVERTERS["penn"].convert(raw, out, workers=1, progress=False)
        return f"converted {report.num_samples} clips ({_split_sizes(report)}; invisible joints interpolated in time)"
    report = CONVERTERS["sbu"].convert(raw, out, progress=False)
    return f"converted {report.num_samples} clips ({_split_sizes(report)})"


def _split_sizes(report) -> str:
    return ", ".join(f"{b}: train {s['train']}, test {s['test']}" for b, s in report.splits.items())


def prepare_data(dataset: str, raw: Path, data: Path) -> str:
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
    return convert(dataset, raw, data)


# --------------------------------------------------------------------------- pretraining
def pretrain(config: str, overrides: list[str], *, resume: bool | str = "auto", stop_after_epoch: int | None = None):
    """Pretrain the preset `config` with `overrides` (key=value) as `ssl-skel pretrain` does, online monitor
    included; the checkpoints go to the config's run_dir. Returns the engine's FitResult; a bad input or a
    non-finite loss stops the benchmark."""
    from ssl_skel.core.checkpoint import CheckpointError
    from ssl_skel.core.config import ConfigError, load_config
    from ssl_skel.data.storage import DataFormatError
    from ssl_skel.engine.pretrain import NonFiniteLossError
    from ssl_skel.engine.pretrain import pretrain as run_pretrain
    from ssl_skel.evaluation.monitor import KNN_KEY, KnnMonitor

    log.info("pretrain %s %s (stop after epoch %s)", config, " ".join(overrides), stop_after_epoch)
    try:
        cfg = load_config(config, overrides)
        hook, best = None, None
        if cfg.eval.monitor_every:
            hook, best = KnnMonitor(cfg), (KNN_KEY if cfg.eval.keep_best else None)
        result, _ = run_pretrain(
            cfg, resume=resume, stop_after_epoch=stop_after_epoch, eval_hook=hook, best_metric=best
        )
    except (CheckpointError, ConfigError, DataFormatError) as exc:
        raise SystemExit(f"pretrain failed: {exc}") from None
    except NonFiniteLossError as exc:
        raise SystemExit(f"pretrain stopped: {exc}") from None
    log.info("pretrained %d/%d epochs -> %s", result.epochs_completed, cfg.train.epochs, result.last_checkpoint)
    return result


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


# --------------------------------------------------------------------------- evaluation (typed in, argv inside)
@dataclass(frozen=True)
class FrozenFeatures:
    """The frozen encoder the linear probe and KNN read: its checkpoint (or a random one of its architecture)."""

    checkpoint: Path
    random_init: bool
    seed: int
    workers: int  # data loader workers
    cache_dir: Path  # features computed once, shared by the probe and KNN
    modalities: tuple[str, ...]


@dataclass(frozen=True)
class LinearProbe:
    """The linear probe's settings, named as the probe's results.json records them."""

    epochs: int
    lr: float
    batch_size: int
    normalize: str

    @staticmethod
    def from_eval(ev) -> LinearProbe:
        """The preset's probe now (a checkpoint stores the one of its pretraining time)."""
        return LinearProbe(ev.linear_epochs, ev.linear_lr, ev.linear_batch_size, ev.linear_normalize)

    def differs_from(self, used: dict) -> bool:
        """Whether a finished probe's recorded settings are other than these."""
        return any(used.get(name) != value for name, value in dataclasses.asdict(self).items())


@dataclass(frozen=True)
class Supervised:
    """One supervised run: the fused feature and a linear head, trained end to end."""

    epochs: int
    lr: float  # per 256 clips
    batch_size: int | None  # None: the config's
    workers: int
    label_smoothing: float = 0.1


def run_linear(features: FrozenFeatures, probe: LinearProbe, out: Path) -> None:
    """Linear probe per modality on the test split; writes OUT/results.json."""
    overrides = [f"eval.linear_{name}={value}" for name, value in dataclasses.asdict(probe).items()]
    _command("linear", [*_feature_args(features), "--out", str(out), *overrides])


def run_knn(features: FrozenFeatures, k: int, out: Path) -> None:
    """KNN-k per modality on the test split; writes OUT/results.json."""
    _command("knn", [*_feature_args(features), "--out", str(out), "--k", str(k)])


def run_finetune(checkpoint: Path, random_init: bool, seed: int, settings: Supervised, out: Path) -> None:
    """Supervised fine-tuning of `checkpoint`'s encoder (or a random one); writes OUT/results.json."""
    s = settings
    overrides = [f"train.epochs={s.epochs}", f"train.lr={s.lr}", f"train.warmup_epochs={min(1, s.epochs)}"]
    overrides += [f"train.batch_size={s.batch_size}"] if s.batch_size else []
    overrides += [f"train.save_every={s.epochs}", f"data.num_workers={s.workers}"]
    argv = ["--checkpoint", str(checkpoint), "--out", str(out), "--no-plots", "--seed", str(seed)]
    argv += ["--label-smoothing", str(s.label_smoothing), *(["--random-init"] if random_init else []), *overrides]
    _command("finetune", argv)


def _feature_args(f: FrozenFeatures) -> list[str]:
    argv = ["--checkpoint", str(f.checkpoint), "--no-plots", "--num-workers", str(f.workers), "--seed", str(f.seed)]
    argv += ["--cache-dir", str(f.cache_dir), "--modalities", ",".join(f.modalities)]
    return argv + (["--random-init"] if f.random_init else [])


def _command(name: str, argv: list[str]) -> None:
    """`ssl-skel <name> argv` in this process; a non-zero status stops the benchmark."""
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
