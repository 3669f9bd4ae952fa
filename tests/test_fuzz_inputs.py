"""Seeded, bounded fuzzing of what users feed the toolkit (issue 14): mutated `.skeleton` files,
pyskl pickles and config files go through the converters and the config loader; and (issue 25) clip
tables in other encodings and with odd headers, YAML with duplicate keys, the trust switch's
environment values, export targets, and layouts of up to 3000 joints.

For every mutation: no traceback (only a result or a one-line user error), exit status 0 or 2,
every good input kept (a good file converts alongside a bad one with --skip-bad; a dataset
already in --out survives a failed conversion byte for byte), and what is written is valid.
"""

from __future__ import annotations

import copy
import os
import pickle
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.cli import main as cli
from ssl_skel.core.config import ConfigError, load_config, resolve_preset
from ssl_skel.data.formats.common import validate_dataset
from ssl_skel.data.storage import read_manifest

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


# =========================================================================== issue 25: the new families
def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --------------------------------------------------------------------------- CSV tables: encodings and headers
TABLE_ROWS = [("c0", "walk", "train"), ("c1", "run", "train"), ("c2", "walk", "test"), ("c3", "run", "test")]


def mutate_table(rng: random.Random) -> bytes:
    """A clip table as users export them: other encodings, BOMs, line ends, repeated or missing columns, ragged
    rows, quotes, NUL bytes."""
    header = ["clip", "label", "split"]
    rows = [list(r) for r in TABLE_ROWS]
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["dup_col", "drop_col", "extra_value", "short_row", "rename", "quote", "accent", "blank"])
        if op == "dup_col":
            col = rng.randrange(len(header))
            header.append(header[col])
            for r in rows:
                r.append(rng.choice(["x", r[col] if col < len(r) else ""]))
        elif op == "drop_col" and len(header) > 1:
            col = rng.randrange(len(header))
            del header[col]
            for r in rows:
                del r[col : col + 1]
        elif op == "extra_value":
            rng.choice(rows).append(rng.choice(["", "extra", "1"]))
        elif op == "short_row":
            r = rng.choice(rows)
            del r[rng.randrange(len(r)) :]
        elif op == "rename":
            header[rng.randrange(len(header))] = rng.choice(["Label", "label ", "", "clip", "name", "split"])
        elif op == "quote":
            r = rng.choice(rows)
            if r:
                r[0] = rng.choice(['"c0', 'c0"', '"c,0"', "c 0"])
        elif op == "accent":
            r = rng.choice(rows)
            if len(r) > 1:
                r[1] = rng.choice(["gehen", "laufen\u00e9", "\u8d70", "run\x00"])
        else:
            rows.insert(rng.randrange(len(rows) + 1), [])
    newline = rng.choice(["\n", "\r\n", "\r"])
    text = newline.join(",".join(r) for r in [header, *rows]) + newline
    encoding = rng.choice(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"])
    data = text.encode(encoding, errors="replace")
    if rng.random() < 0.1:
        data = data[: rng.randrange(len(data))] + bytes(rng.randrange(256) for _ in range(4))
    return data


def test_fuzz_clip_tables(tmp_path, capsys):
    rng = random.Random(SEED + 3)
    clips, out, table = tmp_path / "clips", tmp_path / "out", tmp_path / "t.csv"
    clips.mkdir()
    data = np.random.default_rng(0)
    for name, _, _ in TABLE_ROWS:
        np.save(clips / f"{name}.npy", (data.normal(size=(6, 5, 3)) + 1).astype(np.float32))
    layout = tmp_path / "lab5.yaml"
    layout.write_text("joints: [a, b, c, d, e]\nparents: [a, a, b, a, a]\ncentre: b\n")
    argv = ["gendata", "arrays", "--folder", str(clips), "--table", str(table), "--out", str(out),
            "--layout", str(layout), "--centre", "first", "--no-progress"]  # fmt: skip
    table.write_text("clip,label,split\n" + "\n".join(",".join(r) for r in TABLE_ROWS) + "\n")
    assert run_cli(argv, capsys)[0] == 0
    outcomes = set()
    for case in range(30):
        table.write_bytes(mutate_table(rng))
        before = dataset_files(out)
        rc, err = run_cli(argv if case % 2 else [*argv, "--skip-bad"], capsys)
        outcomes.add(rc)
        if rc == 2:
            assert str(table) in one_error_line(err) or "clip" in err, (case, err)
            assert dataset_files(out) == before, case
        else:
            validate_dataset(out)
            labels = (out / "labels.npy").exists() and read_manifest(out)["class_names"]
            assert labels and all("\ufeff" not in c and "\x00" not in c for c in labels), (case, labels)
    assert outcomes == {0, 2}


# --------------------------------------------------------------------------- YAML: duplicate keys
def duplicate_a_key(text: str, rng: random.Random) -> tuple[str, str]:
    """`text` with one mapping key repeated in its own block (the later one would silently win) and that key."""
    lines = text.splitlines()
    keyed = [i for i, line in enumerate(lines) if re.match(r"^\s*[A-Za-z_][\w.]*:", line)]
    i = rng.choice(keyed)
    indent = len(lines[i]) - len(lines[i].lstrip())
    end = i + 1  # the end of the key's block: the next line at its indent or less
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    key = lines[i].split(":", 1)[0].strip()
    lines.insert(end, " " * indent + f"{key}: {rng.choice(['1', 'x', '{}', '[]', '0.008'])}")
    return "\n".join(lines) + "\n", key


@pytest.mark.parametrize("preset", ["synthetic", "ntu60_xsub"])
def test_fuzz_duplicate_yaml_keys(tmp_path, capsys, preset):
    rng = random.Random(SEED + 4)
    text = resolve_preset(preset).read_text()
    path = tmp_path / "dup.yaml"
    for case in range(20):
        mutated, key = duplicate_a_key(text, rng)
        path.write_text(mutated)
        with pytest.raises(ConfigError, match=rf"dup.yaml: duplicate key (\S+\.)?{re.escape(key)} \(line \d+\)"):
            load_config(path)
        if case % 5 == 0:
            rc, err = run_cli(["info", str(path)], capsys)
            assert rc == 2 and "duplicate key" in one_error_line(err)


# --------------------------------------------------------------------------- environment switches
ENV_WORDS = ["1", "true", "yes", "0", "false", "no", "", "on", "off", "y", "t", "2", "-1", "maybe", "true1",
             "yes please", "\u0661", "nul\x01"]  # fmt: skip


def expected_trust(value: str) -> bool | None:
    """The documented rule: 1/true/yes trust, empty/0/false/no do not (any case, outer blanks ignored), else None."""
    word = value.strip().lower()
    return True if word in ("1", "true", "yes") else False if word in ("", "0", "false", "no") else None


def test_fuzz_trust_switch(tmp_path, capsys, monkeypatch):
    from collections import defaultdict

    from ssl_skel.data.formats import pickles

    rng = random.Random(SEED + 5)
    pkl, out = tmp_path / "anno.pkl", tmp_path / "out"
    pkl.write_bytes(pickle.dumps(defaultdict(list, _good_pyskl())))  # names a class: runs code when unpickled
    seen = set()
    for case in range(40):
        word = rng.choice(ENV_WORDS)
        word = "".join(c.upper() if rng.random() < 0.5 else c for c in word)
        value = rng.choice(["", " ", "\t"]) + word + rng.choice(["", " ", "\n"])
        monkeypatch.setenv(pickles.TRUST_ENV, value)
        expect = expected_trust(value)
        seen.add(expect)
        if expect is None:
            with pytest.raises(ConfigError, match=re.escape(f"{pickles.TRUST_ENV}={value!r}")):
                pickles.trust_from_env()
        else:
            assert pickles.trust_from_env() is expect, repr(value)
        if case % 4 == 0:  # through a conversion: only a recognised yes reads the pickle
            rc, err = run_cli(["gendata", "pyskl", "--pkl", str(pkl), "--out", str(out)], capsys)
            assert rc == (0 if expect else 2), (repr(value), err)
            if expect is None:
                assert pickles.TRUST_ENV in one_error_line(err)
            elif expect is False:
                assert "could run code" in one_error_line(err)
    assert seen == {True, False, None}


# --------------------------------------------------------------------------- export targets
EXPORT_TARGETS = ["new", "nested_new", "user_file", "source", "link_to_source", "run_checkpoint", "folder",
                  "below_a_file", "fifo", "dev_null", "long_name"]  # fmt: skip


def export_target(kind: str, folder: Path, source: Path, run_ck: Path) -> tuple[Path, bool | None]:
    """(DST, whether export may write it: True always, None only with --force, False never)."""
    if kind == "new":
        return folder / "enc.out", True
    if kind == "nested_new":
        return folder / "a" / "b" / "enc.out", True
    if kind == "user_file":
        (folder / "notes.txt").write_text("mine")
        return folder / "notes.txt", None
    if kind == "source":
        return source, False
    if kind == "link_to_source":
        (folder / "link.pt").symlink_to(source)
        return folder / "link.pt", False
    if kind == "run_checkpoint":
        return run_ck, False
    if kind == "folder":
        (folder / "sub").mkdir()
        return folder / "sub", False
    if kind == "below_a_file":
        (folder / "afile").write_text("x")
        return folder / "afile" / "enc.out", False
    if kind == "fifo":
        os.mkfifo(folder / "fifo")
        return folder / "fifo", False
    if kind == "dev_null":
        return Path("/dev/null"), False
    return folder / ("x" * 300), False


def test_fuzz_export_targets(tmp_path, capsys):
    from eval_helpers import tiny_encoder, write_checkpoint

    rng = random.Random(SEED + 6)
    source = write_checkpoint(tmp_path / "run" / "last.pt", tiny_encoder())
    run_ck = write_checkpoint(tmp_path / "run" / "epoch_0001.pt", tiny_encoder(1))
    protected = {p: p.read_bytes() for p in (source, run_ck)}
    outcomes = set()
    for case in range(30):
        folder = tmp_path / f"case{case}"
        folder.mkdir()
        kind, fmt, force = rng.choice(EXPORT_TARGETS), rng.choice(["pt", "safetensors"]), rng.random() < 0.5
        dst, writable = export_target(kind, folder, source, run_ck)
        before = dst.read_bytes() if kind in ("user_file", "source", "run_checkpoint") else None
        rc, err = run_cli(["export", str(source), str(dst), "--format", fmt, *(["--force"] if force else [])], capsys)
        outcomes.add(rc)
        assert rc == (0 if writable or (writable is None and force) else 2), (kind, force, err)
        if rc == 2:
            one_error_line(err)
            if before is not None:
                assert dst.read_bytes() == before, kind
        assert {p: p.read_bytes() for p in protected} == protected, kind
    assert Path("/dev/null").is_char_device()
    assert outcomes == {0, 2}


# --------------------------------------------------------------------------- layout sizes
def random_layout(v: int, rng: random.Random) -> tuple[dict, bool]:
    """A declaration of v joints (chain, star or random tree), maybe broken; and whether it should load."""
    names = [f"j{i}" for i in range(v)]
    shape = rng.choice(["chain", "star", "tree"])
    parents = [0] + [i - 1 if shape == "chain" else 0 if shape == "star" else rng.randrange(i) for i in range(1, v)]
    decl = {"joints": list(names), "parents": [names[p] for p in parents], "centre": names[rng.randrange(v)]}
    pairs = list(range(1, v - 1, 2))
    decl["flip_pairs"] = [[names[i], names[i + 1]] for i in rng.sample(pairs, min(len(pairs), 5))]
    op = rng.choice(["none", "none", "cycle", "two_roots", "unknown_parent", "dup_name", "self_pair", "bad_index"])
    inner = [i for i in range(1, v) if i in set(parents[1:])]  # joints other than the root that have children
    if op == "cycle" and inner:
        a = rng.choice(inner)
        decl["parents"][a] = names[parents.index(a)]  # a's parent becomes its own child: a two-joint cycle
        return decl, False
    if op == "two_roots" and v > 1:
        j = rng.randrange(1, v)
        decl["parents"][j] = names[j]
        return decl, False
    if op == "unknown_parent":
        decl["parents"][rng.randrange(v)] = "nobody"
        return decl, False
    if op == "dup_name" and v > 1:
        decl["joints"][rng.randrange(1, v)] = names[0]
        return decl, False
    if op == "self_pair":
        decl["flip_pairs"].append([names[0], names[0]])
        return decl, False
    if op == "bad_index":
        decl["parents"][rng.randrange(v)] = v + rng.randrange(5)
        return decl, False
    return decl, True


def test_fuzz_layout_sizes(tmp_path):
    import yaml

    from ssl_skel.data.layouts import LayoutError, load_layout_file

    rng = random.Random(SEED + 7)
    path = tmp_path / "big.yaml"
    outcomes = set()
    for case in range(40):
        v = rng.choice([1, 2, 3, 7, 25, 200, 1000] if case else [3000])
        decl, ok = random_layout(v, rng)
        path.write_text(yaml.safe_dump(decl))
        try:
            layout = load_layout_file(path)
        except LayoutError as exc:
            assert not ok, (case, v, str(exc)[:200])
            assert "\n" not in str(exc) and str(path) in str(exc)
            outcomes.add("refused")
            continue
        assert ok, (case, v, decl["parents"][:10])
        outcomes.add("loaded")
        assert layout.num_joints == v and [layout.joint_names[p] for p in layout.parents] == decl["parents"]
        assert sum(1 for j, p in enumerate(layout.parents) if j == p) == 1
    assert outcomes == {"loaded", "refused"}
