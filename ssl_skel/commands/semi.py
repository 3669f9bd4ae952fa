"""`ssl-skel semi`: semi-supervised evaluation, fine-tuning on 1% or 10% of the labels.

The labelled clips are a class-balanced, seeded subset of the train split; the model
after the final epoch is evaluated on the whole test split, e.g.
    ssl-skel semi --checkpoint runs/synthetic/last.pt --percent 10 train.epochs=50
"""

from __future__ import annotations

from collections.abc import Sequence

from ssl_skel.core.config import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    from ssl_skel.commands.finetune import build_parser, run
    from ssl_skel.evaluation import runner
    from ssl_skel.evaluation.semi import balanced_subset

    p = build_parser("ssl-skel semi")
    p.description = __doc__.splitlines()[0]
    p.add_argument("--percent", type=float, default=1.0, help="percent of the train labels (1 or 10 in papers)")
    p.add_argument("--subset-seed", type=int, default=0, help="seed of the labelled subset")
    args = p.parse_args(argv)
    if not 0 < args.percent <= 100:
        raise ConfigError(f"--percent must be in (0, 100], got {args.percent}")
    cfg = runner.resolve_config(args.checkpoint, args.config, args.overrides, args.data_root, args.benchmark)
    from ssl_skel.data.datasets import build_dataset

    labels = build_dataset(cfg.data, "train", train=False, seed=0).labels
    rows = balanced_subset(labels, args.percent / 100.0, args.subset_seed)
    tag = f"semi{args.percent:g}"
    if args.out is None:
        from pathlib import Path

        suffix = "_random" if args.random_init else ""
        args.out = str(Path(args.checkpoint).parent / "eval" / f"{tag}_{cfg.data.benchmark}{suffix}")
    return run(
        args,
        tag,
        rows,
        extra={"labelled": {"percent": args.percent, "subset_seed": args.subset_seed, "clips": int(len(rows))}},
    )
