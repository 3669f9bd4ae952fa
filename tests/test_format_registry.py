"""The format registry: every entry converts its smallest input, and an entry is all `gendata` needs.

`SMALLEST` must name an input for every registered format, so a new entry without one fails here.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.commands import gendata
from ssl_skel.data.formats import registry
from ssl_skel.data.formats.options import flag_of, option
from ssl_skel.data.formats.registry import CONVERTERS, Converter, Input
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import read_manifest

FIXTURES = Path(__file__).parent / "fixtures"


def _pyskl(tmp: Path) -> Path:
    kp = np.arange(2 * 4 * 25 * 3, dtype=np.float32).reshape(2, 4, 25, 3) / 100
    anns = [{"frame_dir": f"c{i}", "label": i, "keypoint": kp + i, "total_frames": 4} for i in range(2)]
    path = tmp / "anno.pkl"
    path.write_bytes(pickle.dumps({"split": {"xsub_train": ["c0"], "xsub_val": ["c1"]}, "annotations": anns}))
    return path


def _legacy(tmp: Path) -> Path:
    root = tmp / "NTU60" / "xsub"
    root.mkdir(parents=True)
    for prefix, n in (("train", 2), ("val", 1)):
        np.save(root / f"{prefix}_data_joint.npy", np.ones((n, 3, 4, 25, 2), np.float32))
        (root / f"{prefix}_label.pkl").write_bytes(pickle.dumps(([f"{prefix}{i}" for i in range(n)], list(range(n)))))
    return root


def _arrays(tmp: Path) -> Path:
    data = np.random.default_rng(0).normal(size=(3, 4, 25, 3)).astype(np.float32)
    path = tmp / "all.npz"
    np.savez(path, data=data, label=np.array([0, 1, 0]), split=np.array(["train", "train", "test"]))
    return path


def _penn(tmp: Path) -> Path:
    import scipy.io

    labels = tmp / "penn" / "labels"
    labels.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (action, train) in enumerate((("bowl", 1), ("squat", -1))):
        x, y = rng.uniform(10, 200, (2, 5, 13))
        vis = np.ones((5, 13))
        vis[2, 4] = 0  # an invisible joint: interpolated
        fields = {"x": x, "y": y, "visibility": vis, "action": action, "pose": "front", "train": train}
        scipy.io.savemat(labels / f"{i + 1:04d}.mat", {**fields, "bbox": np.zeros((5, 4)), "dimensions": [480, 640, 5]})
    return tmp / "penn"


def _sbu(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    for pair in ("s01s02", "s02s03"):  # folds 1 and 2
        seq = tmp / "sbu" / pair / "03" / "001"
        seq.mkdir(parents=True)
        rows = np.c_[np.arange(1, 5), rng.uniform(0.2, 0.8, (4, 90))]
        np.savetxt(seq / "skeleton_pos.txt", rows, delimiter=",", fmt="%.6f")
    return tmp / "sbu"


# name -> (make the smallest raw input in a folder (None: no input), option overrides)
SMALLEST: dict[str, tuple[Callable[[Path], Path] | None, dict]] = {
    "ntu": (lambda tmp: FIXTURES / "ntu", {"dataset": "ntu60", "progress": False}),
    "ucla": (lambda tmp: FIXTURES / "ucla", {}),
    "pyskl": (_pyskl, {}),
    "import": (_legacy, {}),
    "arrays": (_arrays, {"layout": "ntu25", "progress": False}),
    "penn": (_penn, {"progress": False}),
    "sbu": (_sbu, {"progress": False}),
    "synthetic": (None, {"clips_per_class": 1, "num_subjects": 2, "max_frames": 24}),
}


def test_every_entry_has_a_smallest_input():
    assert set(SMALLEST) == set(CONVERTERS)


@pytest.mark.parametrize("name", list(CONVERTERS))
def test_every_entry_converts_its_smallest_input(name, tmp_path):
    entry = CONVERTERS[name]
    make, overrides = SMALLEST[name]
    raw = make(tmp_path) if make else None
    options = entry.options(**overrides)
    report = entry.convert(raw, tmp_path / "out", options)
    manifest = read_manifest(tmp_path / "out")
    if entry.default_layout is not None:
        assert manifest["layout"] == entry.default_layout
    bench = next(iter(manifest["splits"]))
    assert len(open_arrays(tmp_path / "out", bench, "train")) > 0
    assert str(tmp_path / "out") in entry.describe(report, options)
    # the same through keyword overrides, the registry's other calling form
    entry.convert(raw, tmp_path / "again", **overrides)
    assert (tmp_path / "again" / "data.npy").read_bytes() == (tmp_path / "out" / "data.npy").read_bytes()


@pytest.mark.parametrize("name", list(CONVERTERS))
def test_every_option_flag_is_a_gendata_argument(name):
    sub = gendata.build_parser()._subparsers._group_actions[0].choices[name]
    dests = {a.dest for a in sub._actions}
    wanted = {f.name for f in dataclasses.fields(CONVERTERS[name].options) if flag_of(f)}
    assert wanted <= dests and "out" in dests
    assert ("raw" in dests) == bool(CONVERTERS[name].inputs)


# --------------------------------------------------------------------------- a new entry
@dataclasses.dataclass(frozen=True)
class ToyOptions:
    size: int = option(2, "clips to write", minimum=1)
    mode: str = option("a", "a or b", choices=("a", "b"))
    strict: bool = option(False, "be strict")
    progress: bool = option(True, "no progress bar", flag="--no-progress", negate=True)
    note: str = "not a flag"  # no option(): stays off the command line


def test_a_new_entry_is_a_gendata_subcommand(tmp_path, monkeypatch, capsys):
    calls = []

    def convert(raw, out, options=None, **overrides):
        calls.append((raw, out, options))
        return options.size

    toy = Converter("toy", convert, ToyOptions, None, "a toy format", (Input("--raw", "the toy folder"),),
                    lambda report, options: f"toy: {report} clips")  # fmt: skip
    monkeypatch.setitem(registry.CONVERTERS, "toy", toy)
    argv = ["toy", "--raw", str(tmp_path), "--out", str(tmp_path / "o"), "--size", "3", "--mode", "b", "--strict"]
    assert gendata.main([*argv, "--no-progress"]) == 0
    assert calls == [(tmp_path, tmp_path / "o", ToyOptions(size=3, mode="b", strict=True, progress=False))]
    assert capsys.readouterr().out.strip() == "toy: 3 clips"
    gendata.main(["toy", "--raw", str(tmp_path), "--out", str(tmp_path / "o")])
    assert calls[-1][2] == ToyOptions()  # the dataclass defaults are the flags' defaults
    for bad in (["--size", "0"], ["--mode", "c"], ["--note", "x"]):
        with pytest.raises(SystemExit):
            gendata.main([*argv[:5], *bad])
    with pytest.raises(SystemExit):
        gendata.main(["--help"])
    assert "toy" in capsys.readouterr().out


def test_get_converter_names_the_known_formats():
    assert registry.get_converter("sbu") is CONVERTERS["sbu"]
    with pytest.raises(ValueError, match=r"unknown dataset format 'nope' \(known: ntu, ucla, pyskl, import, arrays"):
        registry.get_converter("nope")
