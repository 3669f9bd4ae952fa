"""Plumbing shared by the evaluation commands: config, data, encoder, outputs.

Why here and not in each command: linear, knn, semi and finetune all resolve the data
the same way (the checkpoint's stored config, or --config, with --data-root/--benchmark
overrides for transfer), write the same results JSON / TensorBoard scalars / PNGs /
scores, and must agree on where those go (`<run dir>/eval/<protocol>_<benchmark>/`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssl_skel.core.checkpoint import encoder_from_checkpoint, read_checkpoint
from ssl_skel.core.config import (
    MAX_SEED,
    Config,
    ConfigError,
    apply_overrides,
    config_from_tree,
    load_config,
    to_dict,
)
from ssl_skel.core.devices import device_arg
from ssl_skel.core.memory import keep_freed_memory
from ssl_skel.models.frozen import FrozenEncoder

log = logging.getLogger(__name__)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a checkpoint (RUN/last.pt) or an exported encoder file")
    parser.add_argument("--config", default=None, help="preset or YAML for the data (default: the checkpoint's config)")
    parser.add_argument("--data-root", default=None, help="evaluate on this dataset folder (transfer)")
    parser.add_argument("--benchmark", default=None, help="split name, e.g. xsub, xview, xset")
    parser.add_argument(
        "--out", default=None, help="output folder (default: <checkpoint dir>/eval/<protocol>_<benchmark>)"
    )
    parser.add_argument(
        "--device", default=None, type=device_arg, help="cpu, cuda, cuda:1 (default: cuda when available)"
    )
    parser.add_argument("--seed", type=int, default=None, help="default: the config's seed")
    parser.add_argument("--num-workers", type=int, default=None, help="data loader workers (default: data.num_workers)")
    parser.add_argument(
        "--random-init",
        action="store_true",
        help="evaluate a randomly initialised encoder of the same architecture (baseline)",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the confusion matrix and t-SNE PNGs")
    parser.add_argument("--cache-dir", default=None, help="feature cache folder (default: <out>/features)")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. eval.linear_epochs=50")


def resolve_config(
    checkpoint: str | Path,
    config: str | None,
    overrides: Sequence[str],
    data_root: str | None = None,
    benchmark: str | None = None,
) -> Config:
    """The run's Config: --config if given, else the checkpoint's; then the data overrides."""
    if config:
        cfg = load_config(config, overrides)
    else:
        tree = read_checkpoint(checkpoint).get("config")
        if not isinstance(tree, dict) or "data" not in tree:
            raise ConfigError(f"{checkpoint}: checkpoint stores no run config; pass --config")
        cfg = config_from_tree(apply_overrides(tree, overrides), source=f"{checkpoint} (stored config)")
    data = cfg.data
    if data_root:
        data = dataclasses.replace(data, root=str(data_root), make_command="")
    if benchmark:
        data = dataclasses.replace(data, benchmark=benchmark)
    return dataclasses.replace(cfg, data=data)


@dataclass
class EvalContext:
    cfg: Config
    checkpoint: Path
    encoder: FrozenEncoder
    out_dir: Path
    seed: int
    num_workers: int
    random_init: bool
    plots: bool
    cache_dir: Path | None

    @property
    def dataset_info(self) -> dict:
        return {
            "root": self.cfg.data.root,
            "benchmark": self.cfg.data.benchmark,
            "layout": self.encoder.layout,
            "clip_length": self.cfg.data.clip_length,
        }

    def build(self, part: str, *, train: bool):
        """The split as a dataset, checked against what the encoder was trained on."""
        from ssl_skel.data.datasets import build_dataset

        ds = build_dataset(self.cfg.data, part, train=train, seed=self.seed)
        check_spec(self.encoder.spec, ds.spec, self.cfg.data.root)
        return ds


def check_spec(trained, data, root: str) -> None:
    """Transfer needs the same layout, channels and persons; say which differs."""
    diffs = [
        f"{k}: encoder {getattr(trained, k)!r}, data {getattr(data, k)!r}"
        for k in ("layout", "in_channels", "num_persons")
        if getattr(trained, k) != getattr(data, k)
    ]
    if diffs:
        raise ConfigError(
            f"{root}: dataset does not fit the encoder ({'; '.join(diffs)}); "
            "transfer needs a dataset with the same skeleton layout"
        )


def make_context(args: argparse.Namespace, protocol: str) -> EvalContext:
    """Everything an evaluation command needs, from its parsed arguments."""
    import torch

    checkpoint = Path(args.checkpoint)
    cfg = resolve_config(checkpoint, args.config, args.overrides, args.data_root, args.benchmark)
    seed = cfg.seed if args.seed is None else args.seed
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed {seed}: must be in 0..{MAX_SEED}")
    torch.manual_seed(seed)  # a --random-init encoder is the same on every run
    encoder, _ = encoder_from_checkpoint(checkpoint, load_weights=not args.random_init)
    if cfg.data.clip_length != encoder.spec.clip_length:
        log.warning(
            "data clip_length %d differs from the encoder's %d; using the encoder's",
            cfg.data.clip_length,
            encoder.spec.clip_length,
        )
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, clip_length=encoder.spec.clip_length))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    frozen = FrozenEncoder(encoder, source=str(checkpoint)).to(device)
    suffix = "_random" if args.random_init else ""
    out = Path(args.out) if args.out else checkpoint.parent / "eval" / f"{protocol}_{cfg.data.benchmark}{suffix}"
    out.mkdir(parents=True, exist_ok=True)
    workers = cfg.data.num_workers if args.num_workers is None else args.num_workers
    cache = Path(args.cache_dir) if args.cache_dir else (None if args.random_init else out / "features")
    return EvalContext(cfg, checkpoint, frozen, out, seed, workers, args.random_init, not args.no_plots, cache)


def features(ctx: EvalContext, part: str, modalities: Sequence[str]):
    """Un-augmented features of one split (cached by checkpoint bytes + data identity)."""
    from ssl_skel.evaluation.features import cache_key, extract_features

    ds = ctx.build(part, train=False)
    if ctx.encoder.device.type == "cpu" and len(ds) > 2 * ctx.cfg.eval.feature_batch_size:
        # an evaluation process only: each batch's large activations reuse the last one's memory. Not inside
        # extract_features, which the training loop's monitor also calls: there it would raise peak memory.
        keep_freed_memory()
    key = None
    if ctx.cache_dir is not None:
        key = cache_key(ctx.checkpoint, {**to_dict(ctx.cfg.data), "part": part, "augment": None}, modalities)
    feats = extract_features(
        ctx.encoder,
        ds,
        modalities,
        batch_size=ctx.cfg.eval.feature_batch_size,
        num_workers=ctx.num_workers,
        cache_dir=ctx.cache_dir,
        key=key,
        desc=f"{part} features",
    )
    return ds, feats


def write_outputs(
    ctx: EvalContext,
    protocol: str,
    metrics: dict,
    *,
    settings: dict,
    selection: str,
    scores: dict[str, np.ndarray],
    labels: np.ndarray,
    indices: np.ndarray,
    class_names: list[str],
    embeddings: np.ndarray | None,
    split: str = "test",
    extra: dict | None = None,
) -> Path:
    """Results JSON + TensorBoard scalars + per-modality scores + confusion/t-SNE PNGs."""
    from ssl_skel.engine.plots import plot_confusion, plot_tsne
    from ssl_skel.evaluation.ensemble import save_scores
    from ssl_skel.evaluation.results import log_scalars, write_results

    files = {}
    for name, s in scores.items():
        meta = {
            "protocol": protocol,
            "modality": name,
            "split": split,
            "checkpoint": str(ctx.checkpoint),
            "class_names": class_names,
            "dataset": ctx.dataset_info,
        }
        files[name] = str(save_scores(ctx.out_dir / "scores" / f"{split}_{name}", s, labels, indices, meta))
    if ctx.plots and scores:
        main = next(iter(scores))
        files["confusion_png"] = str(
            plot_confusion(
                labels, scores[main].argmax(1), ctx.out_dir / "confusion.png", class_names, title=f"{protocol} ({main})"
            )
        )
        if embeddings is not None and len(embeddings) >= 3:
            files["tsne_png"] = str(
                plot_tsne(
                    embeddings,
                    labels,
                    ctx.out_dir / "tsne.png",
                    seed=ctx.seed,
                    title=f"t-SNE of {split} embeddings ({main})",
                )
            )
    log_scalars(ctx.out_dir / "tb", metrics, protocol)
    info = {
        "encoder": {"random_init": ctx.random_init, "dim": ctx.encoder.dim, "modalities": list(ctx.encoder.modalities)},
        "files": files,
        **(extra or {}),
    }
    return write_results(
        ctx.out_dir / "results.json",
        protocol=protocol,
        dataset=ctx.dataset_info,
        split=split,
        checkpoint=str(ctx.checkpoint),
        metrics=metrics,
        settings=settings,
        selection=selection,
        extra=info,
    )


def parse_modalities(text: str | None, encoder: FrozenEncoder) -> list[str]:
    """'joint,bone' -> names; 'all' -> every modality the encoder offers (fused first).

    Default: the encoder's default modality alone (the fused feature of a unified encoder,
    the one the UmURL protocol reports): each extra modality is one more full pass of the
    encoder over both splits.
    """
    if not text:
        return [encoder.modalities[0]]
    if text.strip() == "all":
        return list(encoder.modalities)
    names = [m.strip() for m in text.split(",") if m.strip()]
    for m in names:
        encoder.resolve(m)  # raises naming the offered ones
    return names
