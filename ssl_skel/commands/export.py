"""`ssl-skel export`: write a small encoder-only file (no optimizer, heads or queues).

Example: ssl-skel export runs/synthetic/last.pt runs/synthetic/encoder.pt
"""

from __future__ import annotations

from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser
from ssl_skel.evaluation.api import export_encoder


def main(argv: Sequence[str] | None = None) -> int:
    p = ArgumentParser(prog="ssl-skel export", description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", help="any ssl_skel checkpoint (pretrain, finetune, ...)")
    p.add_argument("out", help="the encoder-only file to write")
    args = p.parse_args(argv)
    out = export_encoder(args.checkpoint, args.out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0
