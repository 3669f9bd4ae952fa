"""Conversions never delete what they did not write and never run two at once into one folder (issue 25).

Item 2: a `.staging` (or `.replaced`) folder the toolkit did not make is refused, not removed. Item 4: two
conversions into one `--out` at once: the second is refused with one line (slow: two real processes).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.cli import main as cli
from ssl_skel.core.locks import lock_file
from ssl_skel.data.formats.common import CONVERSION_LOCK, OWNED_MARK, STAGING, staged_writer, validate_dataset
from ssl_skel.data.formats.pyskl_pkl import convert_pyskl
from ssl_skel.data.storage import DataFormatError, read_manifest

REPO = Path(__file__).resolve().parent.parent


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def pkl(tmp_path: Path, label_shift: int = 0, name: str = "anno.pkl", n: int = 6) -> Path:
    anns = []
    for i in range(n):
        kp = (np.arange(5 * 25 * 3, dtype=np.float32).reshape(1, 5, 25, 3) % 7) / 10 + i + label_shift
        anns.append({"frame_dir": f"c{i}", "label": (i + label_shift) % 3, "keypoint": kp, "total_frames": 5})
    names = [a["frame_dir"] for a in anns]
    split = {"xsub_train": names[: n // 2], "xsub_val": names[n // 2 :]}
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"split": split, "annotations": anns}))
    return path


def error_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if "error:" in line]


# --------------------------------------------------------------------------- item 2: never delete the user's folders
@pytest.mark.parametrize("folder", [".staging", ".replaced"])
@pytest.mark.parametrize("with_dataset", [False, True])
def test_a_users_staging_folder_is_refused_not_deleted(tmp_path, capsys, folder, with_dataset):
    out = tmp_path / "out"
    if with_dataset:
        convert_pyskl(pkl(tmp_path), out)
    (out / folder).mkdir(parents=True)
    (out / folder / "notes.txt").write_text("my notes")
    before = snapshot(out)
    assert cli(["gendata", "pyskl", "--pkl", str(pkl(tmp_path, 1, "b.pkl")), "--out", str(out)]) == 2
    (line,) = error_lines(capsys)
    assert f"{out / folder}: not made by ssl_skel" in line, line
    assert snapshot(out) == before


def test_a_staging_folder_the_toolkit_left_is_removed(tmp_path):
    out = tmp_path / "out"
    convert_pyskl(pkl(tmp_path), out)
    writer = staged_writer(out, 2, (3, 4, 25, 1))  # a conversion killed after it began writing
    del writer
    assert (out / STAGING / OWNED_MARK).exists()
    convert_pyskl(pkl(tmp_path, 1, "b.pkl"), out)
    assert not (out / STAGING).exists()
    validate_dataset(out)


# --------------------------------------------------------------------------- item 4: one conversion at a time
def test_a_second_conversion_into_a_locked_out_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    convert_pyskl(pkl(tmp_path), out)
    before = snapshot(out)
    held = lock_file(out / CONVERSION_LOCK)  # another conversion (its own open file: flock refuses us)
    try:
        assert cli(["gendata", "pyskl", "--pkl", str(pkl(tmp_path, 1, "b.pkl")), "--out", str(out)]) == 2
        (line,) = error_lines(capsys)
        assert f"{out}: another conversion (pid {os.getpid()}) is writing this folder" in line, line
        held_files = snapshot(out)
        del held_files[CONVERSION_LOCK]
        assert held_files == before
    finally:
        held.release()
    assert cli(["gendata", "pyskl", "--pkl", str(pkl(tmp_path, 1, "b.pkl")), "--out", str(out)]) == 0
    assert not (out / CONVERSION_LOCK).exists()


def test_readers_built_on_another_converter_take_the_lock_once(tmp_path):
    from ssl_skel.data.formats.common import conversion_lock

    out = tmp_path / "out"
    with conversion_lock(out), conversion_lock(out):  # penn and sbu convert through convert_arrays
        assert (out / CONVERSION_LOCK).exists()
    assert not out.exists()  # made for the lock, left empty: removed again


GENDATA = [sys.executable, "-m", "ssl_skel.cli", "gendata", "pyskl"]
PAUSED = """
import sys, time
from pathlib import Path
from ssl_skel.data.formats import output
real = output.validate_dataset
def paused(*args, **kwargs):
    print("writing", flush=True)
    while not Path(sys.argv[1]).exists():
        time.sleep(0.05)
    return real(*args, **kwargs)
output.validate_dataset = paused
from ssl_skel.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_two_real_conversions_into_one_out(tmp_path):
    """One conversion is paused mid-way (after writing, before publishing); a second real `gendata` into the same
    `--out` is refused with one line, and the first then publishes its own data and labels."""
    out, go = tmp_path / "out", tmp_path / "go"
    a, b = pkl(tmp_path, 0, "a.pkl"), pkl(tmp_path, 1, "b.pkl")
    first = subprocess.Popen(
        [sys.executable, "-c", PAUSED, str(go), "gendata", "pyskl", "--pkl", str(a), "--out", str(out)],
        env=_env(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert first.stdout.readline().strip() == "writing"
        second = subprocess.run([*GENDATA, "--pkl", str(b), "--out", str(out)], env=_env(), capture_output=True,
                                text=True, timeout=120)  # fmt: skip
        lines = [line for line in second.stderr.splitlines() if "error:" in line]
        assert second.returncode == 2 and len(lines) == 1, second.stderr
        assert f"another conversion (pid {first.pid}) is writing this folder" in lines[0]
        go.touch()
        assert first.wait(timeout=120) == 0
    finally:
        first.kill()
    reference = tmp_path / "ref"
    convert_pyskl(a, reference)
    assert read_manifest(out)["content_sha256"] == read_manifest(reference)["content_sha256"]


@pytest.mark.slow
def test_racing_conversions_never_publish_a_mixed_dataset(tmp_path):
    """Two real `gendata` started together, 6 times: each run either succeeds or is refused with one line, and
    the folder always holds exactly one of the two inputs (never one's data with the other's labels)."""
    a, b = pkl(tmp_path, 0, "a.pkl", n=40), pkl(tmp_path, 1, "b.pkl", n=40)
    digests = {}
    for name, source in (("a", a), ("b", b)):
        convert_pyskl(source, tmp_path / f"ref_{name}")
        digests[read_manifest(tmp_path / f"ref_{name}")["content_sha256"]] = name
    for trial in range(6):
        out = tmp_path / f"out{trial}"
        procs = [
            subprocess.Popen(
                [*GENDATA, "--pkl", str(p), "--out", str(out)],
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for p in (a, b)
        ]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        for rc, err in results:
            assert rc in (0, 2) and "Traceback" not in err, err
            if rc == 2:
                (line,) = [line for line in err.splitlines() if "error:" in line]
                assert "another conversion" in line, err
        assert 0 in [rc for rc, _ in results]
        validate_dataset(out)
        assert read_manifest(out)["content_sha256"] in digests, trial


# --------------------------------------------------------------------------- item 14: a crash inside the swap
CRASH_IN_SWAP = """
import os, sys
from ssl_skel.data.formats import output
from ssl_skel.data.formats.pyskl_pkl import convert_pyskl
crash_at, calls, swapping = int(sys.argv[1]), [0], [False]
real_validate, real_replace = output.validate_dataset, os.replace
def validate(*args, **kwargs):
    real_validate(*args, **kwargs)
    swapping[0] = True  # what follows in publish is the swap
def replace(src, dst):
    if swapping[0]:
        calls[0] += 1
        if calls[0] == crash_at:
            os._exit(9)  # kill -9 at this rename: no handler runs
    return real_replace(src, dst)
output.validate_dataset, os.replace = validate, replace
convert_pyskl(sys.argv[2], sys.argv[3])
print(calls[0])
"""
SWAP_RENAMES = 12  # the old dataset out (manifest first, 4 files, splits), the new one in (4 files, splits, manifest)


def _crash_in_swap(crash_at: int, source: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CRASH_IN_SWAP, str(crash_at), str(source), str(out)], env=_env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_swap_has_the_renames_the_crash_test_walks(tmp_path):
    out = tmp_path / "out"
    convert_pyskl(pkl(tmp_path), out)
    done = _crash_in_swap(0, pkl(tmp_path, 1, "b.pkl"), out)
    assert done.returncode == 0 and int(done.stdout.split()[-1]) == SWAP_RENAMES, done.stderr


@pytest.mark.parametrize(
    "crash_at", [k if k in (1, 2, 6, 7, 12) else pytest.param(k, marks=pytest.mark.slow) for k in range(1, 13)]
)
def test_readers_recover_from_a_crash_at_any_rename_of_the_swap(tmp_path, capsys, crash_at):
    from ssl_skel.data.sources import open_arrays

    out = tmp_path / "out"
    convert_pyskl(pkl(tmp_path), out)
    old = snapshot(out)
    new_source = pkl(tmp_path, 1, "b.pkl")
    reference = tmp_path / "new"
    convert_pyskl(new_source, reference)
    assert _crash_in_swap(crash_at, new_source, out).returncode == 9
    arrays = open_arrays(out, "xsub", "train")  # a reader, before any gendata runs again
    assert len(arrays) == 3
    dataset = {k: v for k, v in snapshot(out).items() if not k.startswith(".")}
    assert dataset in ({k: v for k, v in old.items() if not k.startswith(".")}, snapshot(reference)), crash_at
    assert cli(["info", str(out)]) == 0, capsys.readouterr().err
    assert cli(["gendata", "pyskl", "--pkl", str(new_source), "--out", str(out)]) == 0
    assert snapshot(out) == snapshot(reference)


def test_a_reader_waits_for_a_running_swap(tmp_path):
    from ssl_skel.data.sources import open_arrays

    out = tmp_path / "out"
    convert_pyskl(pkl(tmp_path), out)
    (out / ".replaced").mkdir()
    (out / ".replaced" / OWNED_MARK).touch()
    os.replace(out / "manifest.json", out / ".replaced" / "manifest.json")  # the swap's first rename, mid-way
    held = lock_file(out / CONVERSION_LOCK)  # the conversion doing it is alive
    try:
        with pytest.raises(DataFormatError, match=r"a conversion \(pid \d+\) is replacing this dataset right now"):
            open_arrays(out, "xsub", "train")
    finally:
        held.release()
    assert len(open_arrays(out, "xsub", "train")) == 3  # its holder gone: the reader puts the old dataset back


@pytest.mark.parametrize("folder", [".staging", ".replaced"])
def test_a_ctrl_c_while_an_owned_folder_is_made_leaves_nothing_that_blocks(tmp_path, monkeypatch, folder):
    """Found by the Ctrl-C loop: interrupted between making `.replaced` and writing its marker, the folder stayed
    without one and every later conversion refused it as the user's."""
    from ssl_skel.data.formats import output

    out = tmp_path / "out"
    convert_pyskl(pkl(tmp_path), out)
    before = snapshot(out)
    real = os.rename

    def interrupted(src, dst):
        if Path(dst).name == folder:
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(output.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert_pyskl(pkl(tmp_path, 1, "b.pkl"), out)
    monkeypatch.undo()
    assert {k: v for k, v in snapshot(out).items() if ".new/" not in k} == before
    (out / f"{folder}.4242.new").mkdir()  # what a kill between its mkdir and its marker leaves
    convert_pyskl(pkl(tmp_path, 1, "b.pkl"), out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["data.npy", "labels.npy", "num_frames.npy", "names.txt", "splits", "manifest.json"]
    )
