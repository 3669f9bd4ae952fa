"""One seed of the benchmark: pretrain, evaluate and fine-tune on the single split, or on every fold.

Cross-validation (SBU: 5 folds by actor-pair set): the seed runs every fold (one folder per
fold) and its figure is the mean over its folds, the protocol's number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from . import aggregate, budget, evaluate, records, stages
from .datasets import RealDataset


@dataclass(frozen=True)
class RunSettings:
    """What the command line sets for every seed and fold (see real_data.py's options of the same names)."""

    budget_minutes: float
    epochs: int | None
    monitor_points: int
    finetune_epochs: int
    scratch_epochs: int | None
    finetune_lr: float | None
    finetune_batch: int | None
    skip_finetune: bool
    skip_random: bool

    @classmethod
    def from_args(cls, args) -> RunSettings:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def run_seed(
    settings: RunSettings,
    ds: RealDataset,
    config: str,
    base: list[str],
    seed: int,
    out: Path,
    folds: Sequence[str] = (),
) -> tuple[dict, records.StageTimes]:
    """One seed: the single split, or every fold of a cross-validation and their mean (`fold_mean`);
    returns its figures and stage times (summed over the folds)."""
    folder = out / f"seed{seed}"
    if not folds:
        return run_fold(settings, ds, config, base, seed, folder)
    runs, times = {}, records.StageTimes()
    for f in folds:
        runs[f], fold_times = run_fold(settings, ds, config, [*base, f"data.benchmark={f}"], seed, folder / f)
        times.add(fold_times)
    res = aggregate.fold_mean(runs)
    records.write_json(folder / "results.json", res)
    return res, times


def run_fold(
    settings: RunSettings, ds: RealDataset, config: str, base: list[str], seed: int, folder: Path
) -> tuple[dict, records.StageTimes]:
    """Pretrain, evaluate and fine-tune for one seed (on one fold); returns its figures and stage times (resumable).

    Stage times accumulate in FOLDER/stages.json over every invocation that worked on the seed, so
    seeds run by separate processes (e.g. two at once, one per core) are reported at their cost.
    """
    from ssl_skel.core.config import load_config

    times_file = folder / "stages.json"
    times = records.StageTimes.load(times_file)
    seed_base = [*base, f"seed={seed}", f"run_dir={folder / 'pretrain'}"]
    cfg = load_config(config, seed_base)
    workers = cfg.data.num_workers
    last, plan = budget.budgeted_pretrain(
        config,
        cfg,
        seed_base,
        times,
        budget_minutes=settings.budget_minutes,
        epochs=settings.epochs,
        monitor_points=settings.monitor_points,
        val_by=ds.val_by,
    )
    times.save(times_file)
    res = {
        "seed": seed,
        "epochs_done": records.checkpoint_epoch(last),
        "planned_epochs": plan.planned_epochs,
        "stopped_by_budget": plan.stopped_by_budget,
        "pretrain_s": plan.seconds,
        "loss": records.last_loss(last),
        "curve": records.curve(last),
    }
    probe = stages.LinearProbe.from_eval(cfg.eval)  # both encoders get the same probe
    with times.time("evaluate pretrained"):
        res["pretrained"] = evaluate.evaluate(last, folder / "eval", workers, False, seed, probe)
    if not settings.skip_random:
        with times.time("evaluate random init"):
            res["random"] = evaluate.evaluate(last, folder / "eval", workers, True, seed, probe)
    if not settings.skip_finetune:
        lr, batch = settings.finetune_lr or cfg.train.lr, settings.finetune_batch
        tuned = stages.Supervised(settings.finetune_epochs, lr, batch, workers)
        scratch = stages.Supervised(settings.scratch_epochs or settings.finetune_epochs, lr, batch, workers)
        with times.time("finetune"):
            res["finetune"] = evaluate.supervised(
                last, folder / "eval" / "finetune", seed, False, tuned, cfg.train.batch_size
            )
        with times.time("supervised from scratch"):
            init = folder / "eval" / "stgcn_init.pt"
            if not init.exists():
                stages.stgcn_init(cfg, init)
            res["scratch"] = evaluate.supervised(
                init, folder / "eval" / "stgcn_scratch", seed, True, scratch, cfg.train.batch_size
            )
    records.write_json(folder / "results.json", res)
    times.save(times_file)
    return res, times
