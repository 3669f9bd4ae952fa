"""`ssl-skel import-weights umurl CKPT OUT`: the authors' released weights as an ssl_skel checkpoint.

Example: ssl-skel import-weights umurl checkpoint_0450.pth.tar runs/umurl_authors/encoder.pt --config ntu60_xsub
then:    ssl-skel linear --checkpoint runs/umurl_authors/encoder.pt
"""

from __future__ import annotations

from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser


def main(argv: Sequence[str] | None = None) -> int:
    p = ArgumentParser(prog="ssl-skel import-weights", description=__doc__.splitlines()[0])
    p.add_argument("method", choices=("umurl",), help="whose checkpoint format (HuiGuanLab/UmURL)")
    p.add_argument("checkpoint", help="the authors' file (pretraining checkpoint_XXXX.pth.tar or a Downstream state)")
    p.add_argument("out", help="the ssl_skel checkpoint to write")
    p.add_argument("--config", default="ntu60_xsub", help="preset stored as the run config (dataset, protocol)")
    p.add_argument("--num-heads", type=int, default=1, help="attention heads (not recorded in weights; 1 in UmURL)")
    args = p.parse_args(argv)
    from ssl_skel.evaluation.import_weights import import_umurl

    out = import_umurl(args.checkpoint, args.out, config=args.config, num_heads=args.num_heads)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): unified encoder from {args.checkpoint}")
    return 0
