"""`ssl-skel export`: hand a trained encoder to a deployment (encoder-only checkpoint, safetensors, TorchScript, ONNX).

Examples:
  ssl-skel export runs/synthetic/last.pt runs/synthetic/encoder.pt
  ssl-skel export runs/synthetic/last.pt encoder.safetensors      (the format from the suffix)
  ssl-skel export runs/synthetic/last.pt encoder.onnx             (needs pip install 'ssl-skel[export]')
  ssl-skel export runs/synthetic/last.pt encoder.bin --format torchscript

An existing OUT is refused unless --force; a run's checkpoint (pretrain, finetune, fusion) or the
source itself is never overwritten, nor a folder, a device or another non-regular file.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ssl_skel.commands import ArgumentParser
from ssl_skel.evaluation.api import EXPORT_FORMATS, export_encoder, export_format


def main(argv: Sequence[str] | None = None) -> int:
    p = ArgumentParser(
        prog="ssl-skel export",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "checkpoint", help="an ssl_skel checkpoint with an encoder (pretrain, finetune, a pt or safetensors export)"
    )
    p.add_argument("out", help="the file to write")
    p.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default=None,
        help="pt: encoder-only checkpoint; safetensors: its weights and entry without pickle (load_encoder reads "
        "both); torchscript / onnx: the feature function x (N, C, T, V, M) -> (N, dim), batch axis dynamic. "
        "Default: from OUT's suffix (.safetensors, .onnx, .ts), else pt",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing OUT (never a run's checkpoint)")
    args = p.parse_args(argv)
    fmt = export_format(args.out, args.format)
    out = export_encoder(args.checkpoint, args.out, fmt, force=args.force)
    print(f"wrote {out} ({fmt}, {out.stat().st_size / 1e6:.2f} MB)")
    return 0
