"""`ssl-skel supervised`: train a supervised reference from scratch with a preset's recipe.

    ssl-skel supervised --config nwucla_ctrgcn                 (CTR-GCN's NW-UCLA recipe)
    ssl-skel supervised --config nwucla_stgcn train.epochs=30 --seed 1

The preset names the encoder (`model`), the schedule (`train`) and the supervised recipe
(`supervised`: augmentation, clip length, repeat, head) with `objective: {name: supervised}`.
The run folder (default runs/<preset>) receives the checkpoints, log.txt, TensorBoard events,
curves.png (clean training accuracy beside test accuracy) and results.json (test top-1 of the
final epoch, the final clean training accuracy and an `underfitting` flag).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser, eval_args
from ssl_skel.core.devices import device_arg


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="ssl-skel supervised", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="preset name (configs/<name>.yaml) or a YAML path")
    p.add_argument("--out", default=None, help="run folder (default: the config's run_dir, runs/<preset>)")
    p.add_argument("--device", default=None, type=device_arg, help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--seed", type=int, default=None, help="default: the config's seed")
    p.add_argument("--num-workers", type=int, default=None, help="data loader workers (default: data.num_workers)")
    p.add_argument("--resume", default="auto", help="auto (default), none, or a checkpoint path")
    p.add_argument("--no-plots", action="store_true", help="skip the confusion matrix and t-SNE PNGs")
    p.add_argument(
        "--stop-after-epoch", type=int, default=None, help="stop after this many epochs (the schedule stays)"
    )
    p.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. train.epochs=10")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ssl_skel.evaluation.supervised import SupervisedRequest, run_supervised

    args = build_parser().parse_args(argv)
    request = SupervisedRequest(
        config=args.config,
        overrides=tuple(args.overrides),
        out=args.out,
        device=args.device,
        seed=args.seed,
        num_workers=args.num_workers,
        resume=args.resume,
        plots=not args.no_plots,
        stop_after_epoch=args.stop_after_epoch,
    )
    return eval_args.print_written(run_supervised(request))
