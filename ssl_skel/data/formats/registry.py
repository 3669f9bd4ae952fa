"""The one table of dataset formats: name -> reader, typed options, default layout.

Why one table: `ssl-skel gendata` makes one subcommand per entry (the options dataclass's
fields are its flags, `options.py`), the benchmark drivers convert through it
(`CONVERTERS["sbu"].convert(raw, out, progress=False)`), and the tests walk it. Adding a format
is its reader module (a `convert(raw, out, options=None, **overrides)` function and an options
dataclass), one entry below, and its test.

Every `convert` has the same shape: `raw` (the input path; None for the generator), `out` (the
dataset folder), `options` (the entry's dataclass, default `options()`), and keyword overrides of
its fields; it returns a report, which `describe` turns into the line `gendata` prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ssl_skel.data.formats import arrays, builtin, legacy, ntu, nw_ucla, penn_action, pyskl_pkl, sbu
from ssl_skel.data.layouts import KINECT_V1_20, NTU25
from ssl_skel.data.storage import read_manifest


@dataclass(frozen=True)
class Input:
    """How a converter's raw input is named on the command line: a flag ("--raw") or a positional name ("path")."""

    flag: str
    help: str | None = None


@dataclass(frozen=True)
class Converter:
    """One registered format."""

    name: str  # the `gendata` subcommand
    convert: Callable[..., Any]  # convert(raw, out, options=None, **overrides) -> report
    options: type  # the typed options dataclass (its `option(...)` fields are the subcommand's flags)
    default_layout: str | None  # the layout it writes; None: chosen from the data or the `layout` option
    help: str  # one line for `gendata --help`
    inputs: tuple[Input, ...]  # alternatives for `raw` (exactly one is given); () = no raw input
    describe: Callable[[Any, Any], str]  # (report, options) -> what `gendata` prints


def _ntu(r: ntu.NtuReport, o: ntu.NtuOptions) -> str:
    return (
        f"{o.dataset}: wrote {r.num_samples} samples to {r.out} ({r.parsed} parsed, {r.from_cache} from cache, "
        f"{r.skipped_missing} skipped as listed missing, {len(r.bad)} bad) in {r.seconds:.1f} s"
    )


def _ucla(r: nw_ucla.UclaReport, o: Any) -> str:
    train, test = r.split_sizes["train"], r.split_sizes["test"]
    return f"nw_ucla: wrote {r.num_samples} clips to {r.out} (xview train {train}, test {test}, {len(r.bad)} bad)"


def _pyskl(r: pyskl_pkl.PysklReport, o: Any) -> str:
    return f"pyskl: wrote {r.num_samples} clips {r.shape} ({r.layout}) to {r.out}; splits {r.splits}; {len(r.bad)} bad"


def _import(out: Any, o: Any) -> str:
    m = read_manifest(out)
    return f"import: wrote {m['num_samples']} clips {tuple(m['shape'])} ({m['layout']}) to {out}; splits {m['splits']}"


def _arrays(r: arrays.ArraysReport, o: Any) -> str:
    return (
        f"arrays: wrote {r.num_samples} clips {r.shape} ({r.layout}) to {r.out}; splits {r.splits}; "
        f"{len(r.bad)} bad, {r.filled} joints filled, {r.from_cache} from cache"
    )


def _penn(r: arrays.ArraysReport, o: Any) -> str:
    return (
        f"penn: wrote {r.num_samples} clips {r.shape} to {r.out}; splits {r.splits}; {len(r.bad)} bad, "
        f"{r.filled} invisible joints filled"
    )


def _sbu(r: arrays.ArraysReport, o: Any) -> str:
    return f"sbu: wrote {r.num_samples} clips {r.shape} to {r.out}; benchmarks {r.splits}; {len(r.bad)} bad"


def _synthetic(r: builtin.SyntheticReport, o: Any) -> str:
    if r.up_to_date:
        return f"synthetic: {r.out} is up to date"
    return f"{r.summary}\nsynthetic: wrote {r.out} in {r.seconds:.1f} s"


_RAW = "--raw"
CONVERTERS: dict[str, Converter] = {
    c.name: c
    for c in (
        Converter(
            "ntu", ntu.convert_ntu, ntu.NtuOptions, NTU25.name, "raw NTU RGB+D 60/120 .skeleton files",
            (Input(_RAW, "folder with the .skeleton files (searched recursively)"),), _ntu,
        ),
        Converter(
            "ucla", nw_ucla.convert_ucla, nw_ucla.UclaOptions, KINECT_V1_20.name,
            "NW-UCLA all_sqe/*.json + train_split.json/val_split.json",
            (Input(_RAW, "folder holding all_sqe/ and the two split lists"),), _ucla,
        ),
        Converter(
            "pyskl", pyskl_pkl.convert_pyskl, pyskl_pkl.PysklOptions, None,
            "a pyskl/mmaction2 skeleton annotation pickle (2D or 3D)",
            (Input("--pkl", "the annotation pickle (read as plain data only)"),), _pyskl,
        ),
        Converter(
            "import", legacy.convert_legacy, legacy.LegacyOptions, None,
            "a UmURL/AimCLR-style folder or a CTR-GCN .npz, into the native format",
            (Input("path", "folder with {train,val}_data_joint.npy, or a CTR-GCN .npz file"),), _import,
        ),
        Converter(
            "arrays", arrays.convert_arrays, arrays.ArraysOptions, None,
            "your own clips: a folder of .npy/.npz/.csv/.json files + a CSV table, or one array",
            (
                Input("--folder", "folder of per-clip files ((T, V, C) or (M, T, V, C))"),
                Input("--array", "one .npy (N, [M,] T, V, C) or .npz (data + 1-D label/split/... arrays)"),
            ),
            _arrays,
        ),
        Converter(
            "penn", penn_action.convert_penn, penn_action.PennOptions, penn_action.LAYOUT,
            "Penn Action labels/*.mat (13 2D joints, official train/test split)",
            (Input(_RAW, "the Penn Action folder (holding labels/)"),), _penn,
        ),
        Converter(
            "sbu", sbu.convert_sbu, sbu.SbuOptions, sbu.LAYOUT,
            "SBU Kinect Interaction skeleton_pos.txt files (2 x 15 3D joints, 5 folds)",
            (Input(_RAW, "the SBU folder (holding s01s02/ ...)"),), _sbu,
        ),
        Converter(
            "synthetic", builtin.make_synthetic, builtin.SyntheticOptions, builtin.LAYOUT,
            "the built-in procedural dataset (NTU-25 layout)", (), _synthetic,
        ),
    )
}  # fmt: skip


def get_converter(name: str) -> Converter:
    """The entry `name`, or a ValueError that lists the known ones."""
    if name not in CONVERTERS:
        raise ValueError(f"unknown dataset format {name!r} (known: {', '.join(CONVERTERS)})")
    return CONVERTERS[name]
