"""`ssl-skel fusion --adapter {umdr,integral,epam,mmcl} --config PRESET [key=value ...]`.

Trains a fusion adapter with the one training engine (each stage of a multi-stage
schedule is one `fit` run in `<run_dir>/stage<i>_<name>`, later stages starting from
the weights of earlier ones), then evaluates every stream on the test split and writes
`<run_dir>/results.json` beside the engine's checkpoints. With `data.synthetic` set and
no data at `data.root`, the built-in RGB-D data is rendered there first.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ssl_skel.commands import ArgumentParser
from ssl_skel.core.registry import ADAPTERS


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="ssl-skel fusion", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--adapter",
        choices=ADAPTERS.names(),
        default=None,
        help="adapter to train (must match the preset's `adapter` when it sets one)",
    )
    p.add_argument("--config", required=True, help="preset name in configs/ or a YAML path")
    p.add_argument("--resume", default="auto", help="auto (default), none, or a checkpoint path")
    p.add_argument("--eval-only", action="store_true", help="evaluate the run's last checkpoint, no training")
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides (YAML values)")
    return p


def main(argv: Sequence[str]) -> int:
    from ssl_skel.core.config import load_fusion_config
    from ssl_skel.fusion.run import run_fusion

    args = _parser().parse_args(list(argv))
    cfg = load_fusion_config(args.config, args.overrides, adapter=args.adapter)
    results = run_fusion(cfg, resume=args.resume, eval_only=args.eval_only)
    streams = "  ".join(f"{k}={v:.3f}" for k, v in results["top1"].items())
    print(
        f"{cfg.adapter} on {cfg.data.root} ({results['num_clips']} test clips): top-1 {streams}; "
        f"{results['clips_per_s']:.0f} clips/s; results in {Path(cfg.run_dir) / 'results.json'}"
    )
    return 0
