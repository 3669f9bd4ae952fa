"""`ssl-skel gendata {ntu,ucla,pyskl,import,synthetic} ...`: make a dataset folder.

Each subcommand parses its arguments and calls one library function; the `data_gen/*.py`
scripts call this same entry point, so both routes behave identically.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("ssl_skel.gendata")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _add_ntu(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ntu", help="raw NTU RGB+D 60/120 .skeleton files")
    p.add_argument("--raw", required=True, type=Path, help="folder with the .skeleton files (searched recursively)")
    p.add_argument("--out", required=True, type=Path, help="output dataset folder")
    p.add_argument("--dataset", required=True, choices=("ntu60", "ntu120"))
    p.add_argument(
        "--missing",
        type=Path,
        default=None,
        help="official missing-skeleton list (default: the official list built in)",
    )
    p.add_argument("--workers", type=_positive, default=1, help="parallel processes (default 1)")
    p.add_argument("--skip-bad", action="store_true", help="convert the readable files even if some are bad")
    p.add_argument("--align-view", action="store_true", help="rotate each clip to a canonical view (2s-AGCN style)")
    p.add_argument(
        "--profile",
        choices=("sgn", "umurl"),
        default="sgn",
        help="sgn: SGN/CTR-GCN denoising and first-frame centring (default); umurl: UmURL's ntu_gendata + "
        "pre_normalization (two most energetic bodies, per-frame spine-mid centring, shoulders onto x)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_ntu(args: argparse.Namespace) -> int:
    from ssl_skel.data.formats.ntu import convert_ntu

    report = convert_ntu(
        args.raw,
        args.out,
        args.dataset,
        missing_file=args.missing,
        workers=args.workers,
        skip_bad=args.skip_bad,
        align=args.align_view,
        profile=args.profile,
        progress=not args.no_progress,
    )
    print(
        f"{args.dataset}: wrote {report.num_samples} samples to {report.out} "
        f"({report.parsed} parsed, {report.from_cache} from cache, {report.skipped_missing} skipped as listed missing, "
        f"{len(report.bad)} bad) in {report.seconds:.1f} s"
    )
    return 0


def _add_synthetic(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synthetic", help="the built-in procedural dataset (NTU-25 layout)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clips-per-class", type=_positive, default=None)


def _run_synthetic(args: argparse.Namespace) -> int:
    from ssl_skel.data.synthetic import generate_dataset  # lazy: heavy and owned elsewhere

    kwargs = {"seed": args.seed}
    if args.clips_per_class is not None:
        kwargs["clips_per_class"] = args.clips_per_class
    out = generate_dataset(args.out, **kwargs)
    print(f"synthetic: wrote {out}")
    return 0


def _add_ucla(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ucla", help="NW-UCLA all_sqe/*.json + train_split.json/val_split.json")
    p.add_argument("--raw", required=True, type=Path, help="folder holding all_sqe/ and the two split lists")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--skip-bad", action="store_true", help="convert the readable clips even if some are bad")
    p.add_argument(
        "--no-centre", action="store_true", help="keep raw camera coordinates (default: spine of frame 0 at the origin)"
    )


def _run_ucla(args: argparse.Namespace) -> int:
    from ssl_skel.data.formats.nw_ucla import convert_ucla

    report = convert_ucla(args.raw, args.out, skip_bad=args.skip_bad, centre_clips=not args.no_centre)
    print(
        f"nw_ucla: wrote {report.num_samples} clips to {report.out} (xview train {report.split_sizes['train']}, "
        f"test {report.split_sizes['test']}, {len(report.bad)} bad)"
    )
    return 0


def _add_pyskl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pyskl", help="a pyskl/mmaction2 skeleton annotation pickle (2D or 3D)")
    p.add_argument("--pkl", required=True, type=Path, help="the annotation pickle (only from a trusted source)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--with-score", action="store_true", help="2D only: keypoint score as a third channel")
    p.add_argument("--max-persons", type=_positive, default=None, help="keep at most this many persons (highest score)")
    p.add_argument("--skip-bad", action="store_true", help="convert the readable annotations even if some are bad")


def _run_pyskl(args: argparse.Namespace) -> int:
    from ssl_skel.data.formats.pyskl_pkl import convert_pyskl

    r = convert_pyskl(
        args.pkl, args.out, with_score=args.with_score, max_persons=args.max_persons, skip_bad=args.skip_bad
    )
    print(f"pyskl: wrote {r.num_samples} clips {r.shape} ({r.layout}) to {r.out}; splits {r.splits}; {len(r.bad)} bad")
    return 0


def _add_import(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="a UmURL/AimCLR-style folder or a CTR-GCN .npz, into the native format")
    p.add_argument("path", type=Path, help="folder with {train,val}_data_joint.npy, or a CTR-GCN .npz file")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--benchmark", default=None, help="benchmark name when the path does not say it (e.g. xsub)")


def _run_import(args: argparse.Namespace) -> int:
    from ssl_skel.data.formats.legacy import convert_legacy
    from ssl_skel.data.storage import read_manifest

    out = convert_legacy(args.path, args.out, args.benchmark)
    manifest = read_manifest(out)
    print(
        f"import: wrote {manifest['num_samples']} clips {tuple(manifest['shape'])} ({manifest['layout']}) to {out}; "
        f"splits {manifest['splits']}"
    )
    return 0


SUBCOMMANDS = {
    "ntu": (_add_ntu, _run_ntu),
    "ucla": (_add_ucla, _run_ucla),
    "pyskl": (_add_pyskl, _run_pyskl),
    "import": (_add_import, _run_import),
    "synthetic": (_add_synthetic, _run_synthetic),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssl-skel gendata", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="source", required=True, metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for add, _ in SUBCOMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    return SUBCOMMANDS[args.source][1](args)
