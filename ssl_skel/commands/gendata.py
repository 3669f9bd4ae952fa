"""`ssl-skel gendata {ntu,ucla,pyskl,import,arrays,penn,sbu,synthetic} ...`: make a dataset folder.

Each subcommand parses its arguments and calls one library function; the `data_gen/*.py`
scripts call this same entry point, so both routes behave identically.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ssl_skel.commands import ArgumentParser

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
    p.add_argument("--clips-per-class", type=_positive, default=160)
    p.add_argument("--num-subjects", type=_positive, default=20)
    p.add_argument("--max-frames", type=_positive, default=64)
    p.add_argument(
        "--if-stale", action="store_true", help="do nothing when OUT already holds this version with these settings"
    )


def _run_synthetic(args: argparse.Namespace) -> int:
    import time

    from ssl_skel.data.formats.common import check_out
    from ssl_skel.data.synthetic import generate_dataset, is_current, summary

    settings = {"seed": args.seed, "clips_per_class": args.clips_per_class, "num_subjects": args.num_subjects}
    settings["max_frames"] = args.max_frames
    if args.if_stale and is_current(args.out, **settings):
        print(f"synthetic: {args.out} is up to date")
        return 0
    check_out(args.out)  # never over a user's files
    start = time.perf_counter()
    out = generate_dataset(args.out, **settings)
    print(summary(out))
    print(f"synthetic: wrote {out} in {time.perf_counter() - start:.1f} s")
    return 0


def _add_ucla(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ucla", help="NW-UCLA all_sqe/*.json + train_split.json/val_split.json")
    p.add_argument("--raw", required=True, type=Path, help="folder holding all_sqe/ and the two split lists")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--skip-bad", action="store_true", help="convert the readable clips even if some are bad")
    p.add_argument(
        "--no-centre", action="store_true", help="keep raw camera coordinates (default: spine of frame 0 at the origin)"
    )
    p.add_argument(
        "--align-view", action="store_true", help="rotate each clip: frame-0 spine onto +z, shoulders onto +x"
    )


def _run_ucla(args: argparse.Namespace) -> int:
    from ssl_skel.data.formats.nw_ucla import convert_ucla

    report = convert_ucla(
        args.raw, args.out, skip_bad=args.skip_bad, centre_clips=not args.no_centre, align_view=args.align_view
    )
    print(
        f"nw_ucla: wrote {report.num_samples} clips to {report.out} (xview train {report.split_sizes['train']}, "
        f"test {report.split_sizes['test']}, {len(report.bad)} bad)"
    )
    return 0


def _add_pyskl(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pyskl", help="a pyskl/mmaction2 skeleton annotation pickle (2D or 3D)")
    p.add_argument("--pkl", required=True, type=Path, help="the annotation pickle (read as plain data only)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--with-score", action="store_true", help="2D only: keypoint score as a third channel")
    p.add_argument("--max-persons", type=_positive, default=None, help="keep at most this many persons (highest score)")
    p.add_argument("--skip-bad", action="store_true", help="convert the readable annotations even if some are bad")
    _add_layout(p)
    _add_normalise(p, default_centre="none")
    _add_trust(p)


def _run_pyskl(args: argparse.Namespace) -> int:
    from ssl_skel.data.formats.pyskl_pkl import convert_pyskl

    r = convert_pyskl(
        args.pkl,
        args.out,
        with_score=args.with_score,
        max_persons=args.max_persons,
        skip_bad=args.skip_bad,
        layout=args.layout,
        joint_order=args.joint_order,
        normalise=_normalise(args),
    )
    print(f"pyskl: wrote {r.num_samples} clips {r.shape} ({r.layout}) to {r.out}; splits {r.splits}; {len(r.bad)} bad")
    return 0


def _add_import(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="a UmURL/AimCLR-style folder or a CTR-GCN .npz, into the native format")
    p.add_argument("path", type=Path, help="folder with {train,val}_data_joint.npy, or a CTR-GCN .npz file")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--benchmark", default=None, help="benchmark name when the path does not say it (e.g. xsub)")
    _add_layout(p)
    _add_trust(p)


def _add_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle any object the file names (this can run code from it: only for files you trust); "
        "by default only plain containers, numbers, strings and numpy arrays are read",
    )


def _run_import(args: argparse.Namespace) -> int:
    from ssl_skel.data.formats.legacy import convert_legacy
    from ssl_skel.data.storage import read_manifest

    out = convert_legacy(args.path, args.out, args.benchmark, layout=args.layout, joint_order=args.joint_order)
    manifest = read_manifest(out)
    print(
        f"import: wrote {manifest['num_samples']} clips {tuple(manifest['shape'])} ({manifest['layout']}) to {out}; "
        f"splits {manifest['splits']}"
    )
    return 0


# --------------------------------------------------------------------------- layouts and normalisation
def _add_layout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--layout",
        default=None,
        help="skeleton layout: a built-in name (ntu25, kinect20, coco17, openpose25, openpose18, h36m17, mediapipe33, "
        "smpl24, penn13, sbu15) or a layout file (.yaml); without it, only an unambiguous joint count is accepted",
    )
    p.add_argument(
        "--joint-order",
        default=None,
        help="the files' joint order as the layout's joint names or indices, comma-separated (file position i "
        "holds the i-th listed joint)",
    )


def _add_normalise(p: argparse.ArgumentParser, default_centre: str | None) -> None:
    p.add_argument(
        "--centre",
        choices=("first", "frame", "none"),
        default=default_centre,
        required=default_centre is None,
        help="origin at the layout's centre joint of the first present person: in its first frame, in every frame, "
        f"or no centring{'' if default_centre is None else f' (default {default_centre})'}",
    )
    p.add_argument("--align-view", action="store_true", help="3D: rotate each clip by the layout's view bones")
    p.add_argument("--scale", choices=("none", "rms"), default="none", help="rms: divide by the clip's RMS radius")


def _normalise(args: argparse.Namespace, **extra: object) -> dict:
    return {"centre": args.centre, "align_view": args.align_view, "scale": args.scale, **extra}


def _add_arrays(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "arrays", help="your own clips: a folder of .npy/.npz/.csv/.json files + a CSV table, or one array"
    )
    p.add_argument("--out", required=True, type=Path, help="output dataset folder")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--folder", type=Path, help="folder of per-clip files ((T, V, C) or (M, T, V, C))")
    src.add_argument(
        "--array", type=Path, help="one .npy (N, [M,] T, V, C) or .npz (data + 1-D label/split/... arrays)"
    )
    p.add_argument("--table", type=Path, help="CSV: one row per clip (clip, label, split or group columns)")
    p.add_argument("--clip-column", default=None, help="table column with the clip name (default: clip, name or file)")
    p.add_argument("--label-column", default="label")
    p.add_argument(
        "--classes",
        default=None,
        help="class names, comma-separated or a file (one per line); "
        "labels outside it are bad clips (default: the sorted labels, or integer labels as they are)",
    )
    split = p.add_mutually_exclusive_group()
    split.add_argument("--split-column", default="split", help="per-clip train/test/val column (default: split)")
    split.add_argument("--train-on", default=None, help="COLUMN=V1,V2,...: train on these groups, test on the rest")
    split.add_argument("--folds", default=None, metavar="COLUMN", help="one benchmark per value: fold<k> tests on it")
    p.add_argument("--benchmark", default="default", help="benchmark name (not with --folds; default: default)")
    _add_layout(p)
    _add_normalise(p, default_centre=None)
    p.add_argument("--score", action="store_true", help="the last channel is a confidence score (not centred)")
    p.add_argument(
        "--missing",
        choices=("bad", "fill"),
        default="bad",
        help="NaN joints: the clip is bad (default), or fill them by interpolation in time",
    )
    p.add_argument("--zero-missing", action="store_true", help="an all-zero joint is missing (OpenPose style)")
    p.add_argument(
        "--channels",
        type=_positive,
        default=None,
        help="channels per joint (required for .csv/.json when not the layout's dims (+1 with --score))",
    )
    p.add_argument("--max-persons", type=_positive, default=None, help="keep at most this many persons per clip")
    p.add_argument("--workers", type=_positive, default=1, help="parallel processes (default 1)")
    p.add_argument("--skip-bad", action="store_true", help="convert the good clips even if some are bad")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_arrays(args: argparse.Namespace) -> int:
    from ssl_skel.data.formats.arrays import SplitRule, convert_arrays, parse_train_on

    rule = SplitRule(
        column=args.split_column,
        train_on=parse_train_on(args.train_on) if args.train_on else None,
        fold_column=args.folds,
        benchmark=args.benchmark,
    )
    r = convert_arrays(
        args.out,
        folder=args.folder,
        table=args.table,
        array=args.array,
        layout=args.layout,
        joint_order=args.joint_order,
        clip_column=args.clip_column,
        label_column=args.label_column,
        classes=args.classes,
        split=rule,
        options=_normalise(args, score=args.score, missing=args.missing, zero_missing=args.zero_missing),
        channels=args.channels,
        max_persons=args.max_persons,
        workers=args.workers,
        skip_bad=args.skip_bad,
        progress=not args.no_progress,
    )
    print(
        f"arrays: wrote {r.num_samples} clips {r.shape} ({r.layout}) to {r.out}; splits {r.splits}; "
        f"{len(r.bad)} bad, {r.filled} joints filled, {r.from_cache} from cache"
    )
    return 0


def _add_penn(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("penn", help="Penn Action labels/*.mat (13 2D joints, official train/test split)")
    p.add_argument("--raw", required=True, type=Path, help="the Penn Action folder (holding labels/)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument(
        "--visibility",
        choices=("fill", "channel", "keep"),
        default="fill",
        help="invisible joints: interpolate them (default), also keep the flag as a 3rd channel, "
        "or keep the annotated values",
    )
    p.add_argument("--centre", choices=("first", "frame", "none"), default="first", help="default: first-frame head")
    p.add_argument("--scale", choices=("none", "rms"), default="rms", help="default: the clip's RMS radius is 1")
    p.add_argument("--workers", type=_positive, default=1)
    p.add_argument("--skip-bad", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def _run_penn(args: argparse.Namespace) -> int:
    from ssl_skel.data.formats.penn_action import convert_penn

    options = {"centre": args.centre, "scale": args.scale}
    r = convert_penn(args.raw, args.out, visibility=args.visibility, options=options, workers=args.workers,
                     skip_bad=args.skip_bad, progress=not args.no_progress)  # fmt: skip
    print(f"penn: wrote {r.num_samples} clips {r.shape} to {r.out}; splits {r.splits}; {len(r.bad)} bad, "
          f"{r.filled} invisible joints filled")  # fmt: skip
    return 0


def _add_sbu(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sbu", help="SBU Kinect Interaction skeleton_pos.txt files (2 x 15 3D joints, 5 folds)")
    p.add_argument("--raw", required=True, type=Path, help="the SBU folder (holding s01s02/ ...)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--raw-units", action="store_true", help="keep the stored normalised values (default: metres)")
    p.add_argument("--centre", choices=("first", "frame", "none"), default="first", help="default: first-frame torso")
    p.add_argument("--align-view", action="store_true", help="rotate each clip by person A's torso and shoulders")
    p.add_argument("--workers", type=_positive, default=1)
    p.add_argument("--skip-bad", action="store_true")
    p.add_argument("--no-progress", action="store_true")


def _run_sbu(args: argparse.Namespace) -> int:
    from ssl_skel.data.formats.sbu import convert_sbu

    options = {"centre": args.centre, "align_view": args.align_view}
    r = convert_sbu(args.raw, args.out, metric=not args.raw_units, options=options, workers=args.workers,
                    skip_bad=args.skip_bad, progress=not args.no_progress)  # fmt: skip
    print(f"sbu: wrote {r.num_samples} clips {r.shape} to {r.out}; benchmarks {r.splits}; {len(r.bad)} bad")
    return 0


SUBCOMMANDS = {
    "ntu": (_add_ntu, _run_ntu),
    "ucla": (_add_ucla, _run_ucla),
    "pyskl": (_add_pyskl, _run_pyskl),
    "import": (_add_import, _run_import),
    "arrays": (_add_arrays, _run_arrays),
    "penn": (_add_penn, _run_penn),
    "sbu": (_add_sbu, _run_sbu),
    "synthetic": (_add_synthetic, _run_synthetic),
}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="ssl-skel gendata", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="source", required=True, metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for add, _ in SUBCOMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if getattr(args, "trust_pickle", False):
        from ssl_skel.data.formats.common import TRUST_ENV

        os.environ[TRUST_ENV] = "1"
    return SUBCOMMANDS[args.source][1](args)
