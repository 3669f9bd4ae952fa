"""The evaluation commands' shared options, parsed into the evaluation library's typed requests.

Why a module of its own: linear, knn, finetune and semi take the same options (checkpoint, data,
output, device...); each command adds its protocol's options and calls `ssl_skel.evaluation`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ssl_skel.core.config import ConfigError
from ssl_skel.core.devices import device_arg

if TYPE_CHECKING:
    from ssl_skel.core.config import Config
    from ssl_skel.evaluation.finetune import FinetuneSettings
    from ssl_skel.evaluation.run import EvalRequest, Written
    from ssl_skel.evaluation.semi import LabelFraction

T = TypeVar("T")


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


def eval_request(args: argparse.Namespace) -> EvalRequest:
    from ssl_skel.evaluation.run import EvalRequest

    return EvalRequest(
        checkpoint=args.checkpoint,
        config=args.config,
        data_root=args.data_root,
        benchmark=args.benchmark,
        out=args.out,
        device=args.device,
        seed=args.seed,
        num_workers=args.num_workers,
        random_init=args.random_init,
        plots=not args.no_plots,
        cache_dir=args.cache_dir,
        overrides=tuple(args.overrides),
    )


def add_modalities_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--modalities", default=None, help="comma list, or all (default: the encoder's default, e.g. fused)"
    )


def modality_names(text: str | None) -> tuple[str, ...]:
    """'joint,bone' -> ("joint", "bone"); 'all' -> ("all",); nothing -> () (the encoder's default)."""
    if not text:
        return ()
    if text.strip() == "all":
        return ("all",)
    return tuple(m.strip() for m in text.split(",") if m.strip())


def checked(build: Callable[..., T], *args, **kwargs) -> T:
    """Settings from the user's options; a bad value is a user error (one line), not a traceback."""
    try:
        return build(*args, **kwargs)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def add_finetune_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modality", default="", help="encoder output to classify (default: the encoder's, fused)")
    parser.add_argument("--dropout", type=float, default=None, help="before the head (default: supervised.dropout)")
    parser.add_argument(
        "--label-smoothing", type=float, default=None, help="default: the config's supervised.label_smoothing"
    )
    parser.add_argument(
        "--freeze-encoder", action="store_true", help="train only the head (linear probe with augmentation)"
    )
    parser.add_argument("--resume", default="auto", help="auto (default), none, or a checkpoint path")


def finetune_settings(args: argparse.Namespace, cfg: Config, labelled: LabelFraction | None = None) -> FinetuneSettings:
    """The fine-tuning settings: the config's train and supervised sections, --dropout / --label-smoothing
    replacing the supervised section's when given."""
    import dataclasses

    from ssl_skel.evaluation.finetune import FinetuneSettings

    supervised = cfg.supervised
    for name in ("dropout", "label_smoothing"):
        if getattr(args, name) is not None:
            supervised = checked(dataclasses.replace, supervised, **{name: getattr(args, name)})
    return FinetuneSettings(
        train=cfg.train,
        supervised=supervised,
        modality=args.modality,
        freeze_encoder=args.freeze_encoder,
        resume=args.resume,
        labelled=labelled,
    )


def print_written(written: Written | None) -> int:
    """The table and the results file (nothing on DDP ranks other than 0); the command's exit status."""
    if written is not None:
        print(written.table)
        print(f"results: {written.path}")
    return 0
