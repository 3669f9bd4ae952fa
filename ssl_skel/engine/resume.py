"""Continuing a run: the state each epoch leaves (`save_loop`), which checkpoint a run continues
from (`find_resume`), whether it may (`check_resume`), and reading the state back (`restore_loop`).

Why refuse: a resume that silently keeps the old learning rate while `config.yaml` says the new
one reports a run that never happened, so a checkpoint whose stored config differs from this
run's is refused, naming the keys (FREE_KEYS may differ: they do not change what is trained);
one whose weights hold NaN/inf is refused too (the run that wrote it diverged), and so is one
trained on other data than the dataset folder now holds (regenerated under the same name and
size: the manifest's content digest, recorded in every checkpoint as `data_sha256`, differs).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ssl_skel.core.checkpoint import (
    CheckpointError,
    capture_rng,
    check_finite_weights,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from ssl_skel.core.config import ConfigError
from ssl_skel.core.io import copy_atomic
from ssl_skel.engine.loop import Loop

# keys that may change between a run and its resume: they do not change what is trained
FREE_KEYS = ("name", "run_dir", "data.num_workers", "data.make_command", "train.log_every", "eval.")


def find_resume(run_dir: str | Path, resume: bool | str | Path | None) -> Path | None:
    """Which checkpoint to continue from.

    resume="auto" or True: run_dir/last.pt if it exists, else start fresh;
    resume=False/None/"none": start fresh; any other value: that path (must exist).
    """
    if resume is None or resume is False or (isinstance(resume, str) and resume.lower() in ("none", "no", "false", "")):
        return None
    if resume is True or (isinstance(resume, str) and resume.lower() == "auto"):
        last = Path(run_dir) / "last.pt"
        return last if last.is_file() else None
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint to resume from not found")
    return path


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: tree}


def config_differences(old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """(dotted key, checkpoint value, this run's value) for every key that differs, FREE_KEYS aside."""
    a, b = _flatten(old or {}), _flatten(new or {})
    missing = object()
    diffs = []
    for key in sorted(set(a) | set(b)):
        if any(key == free or (free.endswith(".") and key.startswith(free)) for free in FREE_KEYS):
            continue
        va, vb = a.get(key, missing), b.get(key, missing)
        if va != vb:
            diffs.append((key, None if va is missing else va, None if vb is missing else vb))
    return diffs


def with_data_digest(meta: Mapping[str, Any], train_set: Any) -> dict[str, Any]:
    """`meta` plus `data_sha256`, the training data's content digest (a manifest's `content_sha256`), when the
    training set knows it (`train_set.arrays.content_sha256`); checkpoints carry it so a resume can compare."""
    digest = getattr(getattr(train_set, "arrays", None), "content_sha256", None)
    return {**meta, "data_sha256": digest} if isinstance(digest, str) and digest else dict(meta)


def check_data(path: Path, ck: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
    """Refuse to continue from `path` when it was trained on data whose digest differs from this run's."""
    old, new = ck.get("data_sha256"), meta.get("data_sha256")
    if old and new and old != new:
        root = (meta.get("config") or {}).get("data", {}).get("root", "the dataset folder")
        raise ConfigError(
            f"{path}: the training data changed since this checkpoint ({root} now holds other clips: content "
            f"sha256 {new[:12]}..., the checkpoint was trained on {old[:12]}...); resume on the data it was trained "
            "on, or start afresh with --resume none or another run_dir"
        )


def check_resume(path: Path, config: Any, meta: Mapping[str, Any] | None = None) -> None:
    """Refuse to continue from `path` when its stored config differs from this run's `config`, or (with `meta`)
    its training data's digest differs from `meta["data_sha256"]`."""
    ck = load_checkpoint(path, mmap=True)
    diffs = config_differences(ck.get("config"), config)
    if diffs:
        shown = ", ".join(f"{k} (checkpoint {va!r}, now {vb!r})" for k, va, vb in diffs[:5])
        more = f" and {len(diffs) - 5} more" if len(diffs) > 5 else ""
        raise ConfigError(
            f"{path}: this run's config differs from the one the checkpoint was trained with: {shown}{more}; "
            "resume with the same settings, or start afresh with --resume none or another run_dir"
        )
    check_data(path, ck, meta or {})
    if isinstance(ck.get("model"), dict):
        check_finite_weights(ck["model"], path)  # a diverged run's weights: say so, not "lower the lr"


def resume_point(run_dir: str | Path, resume: Any, meta: Mapping[str, Any]) -> Path | None:
    """The checkpoint this run continues from (None: a fresh start), checked against `meta["config"]`."""
    path = find_resume(run_dir, resume)
    if path is not None and "config" in meta:
        check_resume(path, meta["config"], meta)
    return path


def save_loop(loop: Loop) -> Path:
    """Write run_dir/last.pt (and epoch_NNNN.pt every `save_every` epochs and at the end)."""
    history = loop.history
    payload = {
        **loop.meta,
        "model": loop.method.state_dict(),
        "optimizer": loop.optimizer.state_dict(),
        "scheduler": loop.scheduler.state_dict(),
        "scaler": loop.scaler.state_dict() if loop.scaler.is_enabled() else {},
        "epoch": loop.epoch,
        "step": loop.step,
        "rng": capture_rng(),
        "metrics": {"history": [dict(h) for h in history], "last": dict(history[-1]) if history else {}},
    }
    last = save_checkpoint(payload, loop.run_dir / "last.pt")
    keep_periodic(loop, last, replace=True)
    return last


def keep_periodic(loop: Loop, last: Path, *, replace: bool) -> None:
    """Copy `last` to epoch_NNNN.pt when this epoch is a periodic one (every `save_every`, and the last): after
    each save (replace=True), and on resume when the copy is missing (replace=False: a kill between last.pt and
    its copy then loses no epoch file)."""
    periodic = loop.epoch % loop.cfg.save_every == 0 or loop.epoch == loop.cfg.epochs
    target = loop.run_dir / f"epoch_{loop.epoch:04d}.pt"
    if loop.epoch > 0 and periodic and (replace or not target.exists()):
        copy_atomic(last, target)


def restore_loop(loop: Loop, path: Path) -> None:
    """Load a checkpoint into the loop: weights, optimiser, schedule, scaler, RNG, counters, history."""
    ck = load_checkpoint(path)
    if ck["kind"] != loop.meta["kind"]:
        raise CheckpointError(f"{path}: a {ck['kind']} checkpoint cannot resume a {loop.meta['kind']} run")
    try:
        loop.method.load_state_dict(ck["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit this model ({str(exc).splitlines()[0]} ...)") from None
    loop.optimizer.load_state_dict(ck["optimizer"])
    try:
        loop.scheduler.load_state_dict(ck["scheduler"])
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if ck.get("scaler"):
        loop.scaler.load_state_dict(ck["scaler"])
    restore_rng(ck["rng"])
    loop.epoch, loop.step = int(ck["epoch"]), int(ck["step"])
    loop.history = list(ck.get("metrics", {}).get("history", []))
    loop.last_good = loop.resumed_from = path
    if loop.info.is_main and Path(path).resolve() == (loop.run_dir / "last.pt").resolve():
        keep_periodic(loop, Path(path), replace=False)
