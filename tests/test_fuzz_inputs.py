"""Seeded, bounded fuzzing of what users feed the toolkit (issue 14): mutated `.skeleton` files,
pyskl pickles and config files go through the converters and the config loader.

For every mutation: no traceback (only a result or a one-line user error), exit status 0 or 2,
every good input kept (a good file converts alongside a bad one with --skip-bad; a dataset
already in --out survives a failed conversion byte for byte), and what is written is valid.
"""

from __future__ import annotations

import copy
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.cli import main as cli
from ssl_skel.core.config import ConfigError, load_config, resolve_preset
from ssl_skel.data.formats.common import validate_dataset

FIXTURES = Path(__file__).parent / "fixtures" / "ntu"
SEED = 20261201
JUNK = ["nan", "-inf", "1e30", "-1", "abc", "", "0", "99999999999999999999", "2.5", "\x00", "\xff", "1 2 3", "\t"]


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """(exit status, stderr) of an in-process CLI call; any escaping exception fails the test."""
    try:
        rc = cli(argv)
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert rc in (0, 2), (argv, rc, err)
    if rc == 2:
        assert len([line for line in err.splitlines() if "error:" in line]) == 1, err
    return rc, err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dataset_files(folder: Path) -> dict[str, bytes]:
    """The dataset proper (the NTU parse cache in .cache/ may grow between runs)."""
    return {k: v for k, v in snapshot(folder).items() if not k.startswith(".cache")}


# --------------------------------------------------------------------------- .skeleton files
def mutate_text(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        op = rng.choice(["drop", "dup", "token", "truncate", "bytes", "swap", "count"])
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "token" and lines[i].split():
            fields = lines[i].split()
            fields[rng.randrange(len(fields))] = rng.choice(JUNK)
            lines[i] = " ".join(fields)
        elif op == "truncate":
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: rng.randrange(len(lines[-1]) + 1)]
        elif op == "bytes":
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + "".join(chr(rng.randrange(1, 256)) for _ in range(3)) + lines[i][pos:]
        elif op == "swap":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "count":
            lines[0] = str(rng.choice([0, 1, 10**6, -3]))
        if not lines:
            lines = [""]
    return "\n".join(lines)


def test_fuzz_skeleton_files(tmp_path, capsys):
    rng = random.Random(SEED)
    good = sorted(FIXTURES.glob("*.skeleton"))
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    for f in good:
        shutil.copy(f, raw / f.name)
    assert (
        run_cli(
            ["gendata", "ntu", "--raw", str(raw), "--out", str(out), "--dataset", "ntu60", "--no-progress"], capsys
        )[0]
        == 0
    )
    base = good[0].read_text(encoding="latin-1")
    victim = raw / "S001C001P001R001A003.skeleton"
    outcomes = set()
    for case in range(25):
        victim.write_bytes(mutate_text(base, rng).encode("latin-1"))
        before = dataset_files(out)
        strict = case % 2 == 0  # half the runs without --skip-bad: a bad file must then change nothing
        argv = ["gendata", "ntu", "--raw", str(raw), "--out", str(out), "--dataset", "ntu60", "--no-progress"]
        rc, err = run_cli(argv if strict else [*argv, "--skip-bad"], capsys)
        outcomes.add(rc)
        if rc == 2:
            assert dataset_files(out) == before, (case, err)
        else:
            validate_dataset(out)
            names = (out / "names.txt").read_text().split()
            assert all(f.stem in names for f in good), (case, names)
    assert outcomes == {0, 2}  # the mutations reach both ends


# --------------------------------------------------------------------------- pyskl pickles
VALUES = [
    None,
    "abc",
    -1,
    2.5,
    10**9,
    [],
    {},
    float("nan"),
    b"\x00",
    True,
    np.array([]),
    np.zeros((2, 2)),
    np.full((1, 3, 25, 3), np.nan),
    np.ones((1, 3, 25, 3)) * 1e30,
    np.zeros((1, 3, 25, 3), dtype=object),
    5,
]


def _good_pyskl() -> dict:
    anns = []
    for i in range(6):
        kp = (np.arange(1 * 4 * 25 * 3, dtype=np.float32).reshape(1, 4, 25, 3) % 5) / 10 + i
        anns.append({"frame_dir": f"c{i}", "label": i % 3, "keypoint": kp, "total_frames": 4})
    return {"split": {"xsub_train": ["c0", "c1", "c2"], "xsub_val": ["c3", "c4", "c5"]}, "annotations": anns}


def mutate_pyskl(obj: dict, rng: random.Random) -> tuple[dict | bytes, set[str]]:
    """A mutated copy and the frame_dirs of the annotations left untouched."""
    obj = copy.deepcopy(obj)
    touched: set[str] = set()
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["value", "value", "drop", "split", "top", "bytes"])
        anns = obj["annotations"]
        if op in ("value", "drop") and isinstance(anns, list) and anns:
            i = rng.randrange(len(anns))
            if isinstance(anns[i], dict):
                touched.add(str(anns[i].get("frame_dir")))
                key = rng.choice(["frame_dir", "label", "keypoint", "total_frames", "keypoint_score"])
                if op == "drop":
                    anns[i].pop(key, None)
                else:
                    anns[i][key] = copy.deepcopy(rng.choice(VALUES))
            else:
                anns[i] = rng.choice(VALUES)
        elif op == "split":
            obj["split"][rng.choice(["xsub_train", "xsub_val", "xsub_holdout", "val"])] = rng.choice(
                [["c0"], ["c9"], 3, None, ["c1", "c1"], ["c3"]]
            )
            touched.update({"c0", "c1", "c3"})
        elif op == "top":
            obj[rng.choice(["split", "annotations"])] = rng.choice(VALUES)
            touched.update(f"c{i}" for i in range(6))
        else:
            data = bytearray(pickle.dumps(obj))
            cut = rng.randrange(len(data))
            if rng.random() < 0.5:
                data = data[:cut]
            else:
                data[cut] = rng.randrange(256)
            return bytes(data), {f"c{i}" for i in range(6)}
    return obj, touched


def test_fuzz_pyskl_pickles(tmp_path, capsys):
    rng = random.Random(SEED + 1)
    good = _good_pyskl()
    pkl, out = tmp_path / "anno.pkl", tmp_path / "out"
    pkl.write_bytes(pickle.dumps(good))
    assert run_cli(["gendata", "pyskl", "--pkl", str(pkl), "--out", str(out)], capsys)[0] == 0
    outcomes = set()
    for case in range(60):
        mutated, touched = mutate_pyskl(good, rng)
        pkl.write_bytes(mutated if isinstance(mutated, bytes) else pickle.dumps(mutated))
        before = snapshot(out)
        rc, err = run_cli(["gendata", "pyskl", "--pkl", str(pkl), "--out", str(out), "--skip-bad"], capsys)
        outcomes.add(rc)
        if rc == 2:
            assert snapshot(out) == before, (case, err)
            continue
        validate_dataset(out)
        names = (out / "names.txt").read_text().split()
        kept = {f"c{i}" for i in range(6)} - touched
        assert kept <= set(names), (case, kept, names)
    assert outcomes == {0, 2}


# --------------------------------------------------------------------------- config files
TOKENS = [
    "on",
    "yes",
    "~",
    "-1",
    "1e999",
    "[1, 2]",
    "{a: 1}",
    "&a x",
    "*a",
    "!!python/object/apply:os.system [ls]",
    "\t",
    "'",
    "%YAML 1.1",
    "@",
    "- x",
    ".nan",
    ".inf",
    "0x10",
    "100000000000000000000",
    "base: synthetic",
    "base: nonexistent",
    "model: 3",
    "params: [1]",
    "!!binary aGVsbG8=",
    "2001-12-14",
    "null",
]


def mutate_yaml(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        op = rng.choice(["drop", "dup", "value", "insert", "char", "indent"])
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {rng.choice(TOKENS)}"
        elif op == "insert":
            lines.insert(i, rng.choice(TOKENS))
        elif op == "char":
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + rng.choice(":-[]{}&*!|>'\"#%\\") + lines[i][pos:]
        else:
            lines[i] = " " * rng.randrange(1, 5) + lines[i]
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("preset", ["synthetic", "ntu60_xsub"])
def test_fuzz_config_files(tmp_path, capsys, preset):
    rng = random.Random(SEED + 2)
    text = resolve_preset(preset).read_text()
    path = tmp_path / "fuzz.yaml"
    outcomes = set()
    for case in range(60):
        path.write_text(mutate_yaml(text, rng))
        try:
            load_config(path)
            outcomes.add("valid")
        except ConfigError as exc:
            assert "\n" not in str(exc), (case, str(exc))
            outcomes.add("refused")
        if case % 10 == 0:  # the CLI route too
            run_cli(["info", str(path)], capsys)
    assert outcomes == {"valid", "refused"}
