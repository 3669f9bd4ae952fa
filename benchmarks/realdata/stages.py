"""Every call from the benchmark into the toolkit: conversion, pretraining, linear / KNN / fine-tune.

Why one module: the driver measures the toolkit, so each stage must run exactly what a user
runs, and when a toolkit entry changes only this file follows. Every stage calls the library:
the format registry, the pretraining entry, and the typed evaluation API (`EvalRun` +
`run_protocol` with `LinearSettings` / `KnnSettings` / `FinetuneSettings`), the calls the
`ssl-skel` commands make; no benchmark module builds a command line.
"""

from __future__ import annotations

import contextlib
import dataclasses
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


# --------------------------------------------------------------------------- evaluation (the typed library API)
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
    from ssl_skel.evaluation import LinearSettings

    with _evaluation("linear") as ev:
        run = ev.open(_request(features, out))
        settings = LinearSettings.from_config(run.cfg.eval, seed=run.seed, modalities=features.modalities)
        chosen = dataclasses.replace(settings.probe, **dataclasses.asdict(probe))
        ev.protocol(run, dataclasses.replace(settings, probe=chosen), out)


def run_knn(features: FrozenFeatures, k: int, out: Path) -> None:
    """KNN-k per modality on the test split; writes OUT/results.json."""
    from ssl_skel.evaluation import KnnSettings

    with _evaluation("knn") as ev:
        run = ev.open(_request(features, out))
        ev.protocol(run, KnnSettings.from_config(run.cfg.eval, k=k, modalities=features.modalities), out)


def run_finetune(checkpoint: Path, random_init: bool, seed: int, settings: Supervised, out: Path) -> None:
    """Supervised fine-tuning of `checkpoint`'s encoder (or a random one); writes OUT/results.json."""
    from ssl_skel.evaluation import EvalRequest, FinetuneSettings

    s = settings
    request = EvalRequest(checkpoint, out=out, seed=seed, num_workers=s.workers, random_init=random_init, plots=False)
    with _evaluation("finetune") as ev:
        run = ev.open(request)
        train = dataclasses.replace(
            run.cfg.train, epochs=s.epochs, lr=s.lr, warmup_epochs=min(1, s.epochs), save_every=s.epochs
        )
        if s.batch_size:
            train = dataclasses.replace(train, batch_size=s.batch_size)
        supervised = dataclasses.replace(run.cfg.supervised, label_smoothing=s.label_smoothing)
        ev.protocol(run, FinetuneSettings(train=train, supervised=supervised), out)


def _request(f: FrozenFeatures, out: Path):
    from ssl_skel.evaluation import EvalRequest

    return EvalRequest(
        f.checkpoint,
        out=out,
        seed=f.seed,
        num_workers=f.workers,
        random_init=f.random_init,
        plots=False,
        cache_dir=f.cache_dir,
    )


class _Evaluation:
    """The two library calls of one evaluation stage, so a test can stand in for them."""

    @staticmethod
    def open(request):
        from ssl_skel.evaluation import EvalRun

        return EvalRun.open(request)

    @staticmethod
    def protocol(run, settings, out: Path) -> None:
        from ssl_skel.evaluation import run_protocol

        written = run_protocol(run, settings, out=out)
        if written is not None:
            log.info("%s", written.table)


EVALUATION = _Evaluation()


@contextlib.contextmanager
def _evaluation(name: str):
    """A user error inside an evaluation stage stops the benchmark with one line naming the stage."""
    from ssl_skel.core.checkpoint import CheckpointError
    from ssl_skel.core.config import ConfigError
    from ssl_skel.data.storage import DataFormatError

    try:
        yield EVALUATION
    except (CheckpointError, ConfigError, DataFormatError) as exc:
        raise SystemExit(f"{name} failed: {exc}") from None
