"""Converters lose nothing, accept nothing wrong and run no code from data files (issue 14 items 1-3, 7-10, 12).

Each test reproduces one reported case: a failed conversion over a good dataset, `--out` on a
folder with the user's files, stale content under the same names, NaN/huge/float labels and
overlapping splits, pickles that carry code, FIFOs and devices named `.skeleton`, a full disk.
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssl_skel.cli import main as cli
from ssl_skel.core.schema import ConfigError
from ssl_skel.data.formats import common, pickles
from ssl_skel.data.formats.common import check_out, publish, validate_dataset
from ssl_skel.data.formats.ntu import convert_ntu
from ssl_skel.data.formats.ntu_skeleton import read_skeleton
from ssl_skel.data.formats.pickles import load_pickle
from ssl_skel.data.formats.pyskl_pkl import convert_pyskl
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError, read_manifest

FIXTURES = Path(__file__).parent / "fixtures"
NTU = FIXTURES / "ntu"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def ann(name: str, label, t: int = 5, m: int = 1, value: float | None = None) -> dict:
    kp = (np.arange(m * t * 25 * 3, dtype=np.float32).reshape(m, t, 25, 3) % 7) / 10
    if value is not None:
        kp[0, 0, 0, 0] = value
    return {"frame_dir": name, "label": label, "keypoint": kp, "total_frames": t}


def pyskl(tmp_path: Path, anns: list, split: dict | None = None, name: str = "anno.pkl") -> Path:
    names = [a["frame_dir"] for a in anns if isinstance(a, dict)]
    split = (
        {"xsub_train": names[: len(names) // 2 + 1], "xsub_val": names[len(names) // 2 + 1 :]}
        if split is None
        else split
    )
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"split": split, "annotations": anns}))
    return path


def good_pkl(tmp_path: Path, scale: float = 1.0, name: str = "anno.pkl") -> Path:
    anns = [ann(f"clip{i}", i % 3) for i in range(6)]
    for a in anns:
        a["keypoint"] = a["keypoint"] * scale
    return pyskl(tmp_path, anns, name=name)


def err_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --------------------------------------------------------------------------- 1, 2: data loss
def test_failed_conversion_keeps_the_old_dataset_byte_for_byte(tmp_path, capsys):
    out = tmp_path / "out"
    convert_pyskl(good_pkl(tmp_path), out)
    before = snapshot(out)
    bad = pyskl(tmp_path, [ann(f"x{i}", 0) for i in range(4)], split={}, name="nosplit.pkl")
    assert cli(["gendata", "pyskl", "--pkl", str(bad), "--out", str(out)]) == 2
    assert "no benchmark splits" in err_line(capsys)
    assert snapshot(out) == before
    assert not (out / ".staging").exists() and not (out / ".replaced").exists()


@pytest.mark.parametrize("fail_at", range(1, 22))
def test_a_failure_at_any_point_of_the_swap_restores_the_old_dataset(tmp_path, monkeypatch, fail_at):
    out = tmp_path / "out"
    convert_pyskl(good_pkl(tmp_path), out)
    before = snapshot(out)
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == fail_at:
            raise OSError(errno.EIO, "simulated I/O error", str(dst))
        return real(src, dst)

    monkeypatch.setattr(common.os, "replace", flaky)
    try:
        convert_pyskl(good_pkl(tmp_path, scale=2.0, name="other.pkl"), out)
    except OSError:
        monkeypatch.setattr(common.os, "replace", real)
        assert snapshot(out) == before
    else:  # fail_at beyond the swap's renames: the new dataset is complete
        monkeypatch.setattr(common.os, "replace", real)
        validate_dataset(out)
        assert snapshot(out) != before
    assert not (out / ".staging").exists() and not (out / ".replaced").exists()


def test_a_swap_killed_midway_is_undone_on_the_next_run(tmp_path):
    out = tmp_path / "out"
    convert_pyskl(good_pkl(tmp_path), out)
    before = snapshot(out)
    # what a kill -9 between "old dataset moved aside" and "new manifest in" leaves behind
    replaced = out / ".replaced"
    replaced.mkdir()
    (replaced / common.OWNED_MARK).touch()  # the toolkit's folders carry its marker (issue 25 item 2)
    for name in ("data.npy", "labels.npy", "splits", "manifest.json"):
        os.replace(out / name, replaced / name)
    shutil.copy(out / "names.txt", out / "names.tmp-half")  # a half-moved new file would be here
    (out / "names.tmp-half").unlink()
    (out / ".data.npy.abc.tmp").write_bytes(b"partial")
    check_out(out)
    assert snapshot(out) == before


@pytest.mark.parametrize("source", ["pyskl", "synthetic", "ntu", "ucla", "import"])
def test_out_on_a_folder_with_user_files_is_refused(tmp_path, capsys, source):
    out = tmp_path / "mine"
    (out / "splits").mkdir(parents=True)
    (out / "splits" / "my_split.npy").write_bytes(b"precious")
    (out / "names.txt").write_text("my names\n")
    (out / "thesis.tex").write_text("\\chapter{}")
    before = snapshot(out)
    args = {
        "pyskl": ["--pkl", str(good_pkl(tmp_path))],
        "synthetic": ["--clips-per-class", "1"],
        "ntu": ["--raw", str(NTU), "--dataset", "ntu60", "--no-progress"],
        "ucla": ["--raw", str(FIXTURES / "ucla")],
        "import": [str(tmp_path / "nothing")],
    }[source]
    assert cli(["gendata", source, *args, "--out", str(out)]) == 2
    line = err_line(capsys)
    if source != "import":  # import fails on its missing input first; nothing is written either way
        assert "not empty and not an ssl_skel dataset" in line and str(out) in line
    assert snapshot(out) == before


def test_out_may_be_an_existing_dataset_and_keeps_the_users_extra_files(tmp_path):
    out = tmp_path / "out"
    convert_pyskl(good_pkl(tmp_path), out)
    (out / "README.md").write_text("my notes")
    convert_pyskl(good_pkl(tmp_path, scale=2.0, name="b.pkl"), out)
    assert (out / "README.md").read_text() == "my notes"
    assert open_arrays(out, "xsub", "train").clip(1)[0].max() > 0


# --------------------------------------------------------------------------- 3: stale feature cache
def test_reconverting_changed_data_changes_the_feature_cache_key(tmp_path):
    from ssl_skel.evaluation.features import cache_key

    ck = tmp_path / "ck.pt"
    ck.write_bytes(b"weights")
    out = tmp_path / "out"
    convert_pyskl(good_pkl(tmp_path), out)
    key1 = cache_key(ck, {"root": str(out), "part": "test"}, ["fused"])
    manifest1 = read_manifest(out)
    assert len(manifest1["content_sha256"]) == 64
    convert_pyskl(good_pkl(tmp_path, scale=3.0, name="changed.pkl"), out)  # same names, other clips
    manifest2 = read_manifest(out)
    assert manifest2["content_sha256"] != manifest1["content_sha256"]
    assert cache_key(ck, {"root": str(out), "part": "test"}, ["fused"]) != key1
    convert_pyskl(good_pkl(tmp_path, scale=3.0, name="changed.pkl"), out)  # same bytes: same hash
    assert read_manifest(out)["content_sha256"] == manifest2["content_sha256"]


def test_legacy_folder_without_manifest_still_changes_the_key(tmp_path):
    from ssl_skel.evaluation.features import cache_key

    ck = tmp_path / "ck.pt"
    ck.write_bytes(b"weights")
    root = tmp_path / "xsub"
    root.mkdir()
    np.save(root / "val_data_joint.npy", np.zeros((2, 3, 4, 25, 2), np.float32))
    key1 = cache_key(ck, {"root": str(root)}, ["fused"])
    np.save(root / "val_data_joint.npy", np.ones((2, 3, 4, 25, 2), np.float32))
    os.utime(root / "val_data_joint.npy", ns=(1, 1))
    assert cache_key(ck, {"root": str(root)}, ["fused"]) != key1


# --------------------------------------------------------------------------- 7: wrong values
@pytest.mark.parametrize(
    ("bad", "expect"),
    [
        (ann("bad", 1, value=np.nan), "missing (NaN) joint values"),
        (ann("bad", 1, value=np.inf), "missing (NaN) joint values"),
        (ann("bad", 1, value=1e30), "not a plausible position"),
        (ann("bad", 2.7), "label 2.7 is not an integer"),
        (ann("bad", 10**7), "label 10000000 is outside"),
        (ann("bad", "3"), "is not an integer"),
        ({**ann("bad", 1), "total_frames": "abc"}, "total_frames 'abc'"),
        ({**ann("bad", 1), "total_frames": None}, "total_frames None"),
    ],
)
def test_pyskl_rejects_wrong_values(tmp_path, capsys, bad, expect):
    good = [ann(f"g{i}", i % 2) for i in range(4)]
    path = pyskl(tmp_path, [*good, bad], split={"xsub_train": ["g0", "g1", "bad"], "xsub_val": ["g2", "g3"]})
    out = tmp_path / "out"
    assert cli(["gendata", "pyskl", "--pkl", str(path), "--out", str(out)]) == 2
    assert expect in err_line(capsys)
    assert not out.exists() or not (out / "manifest.json").exists()
    report = convert_pyskl(path, out, skip_bad=True)  # the good ones are all kept
    assert report.num_samples == 4 and "bad" in report.bad
    assert (out / "names.txt").read_text().split() == ["g0", "g1", "g2", "g3"]


def test_pyskl_structural_nonsense_is_one_line(tmp_path, capsys):
    for i, obj in enumerate(
        [{"split": {}, "annotations": 5}, {"split": {"xsub_train": 3}, "annotations": [ann("a", 0)]}, [1, 2], "text"]
    ):
        path = tmp_path / f"s{i}.pkl"
        path.write_bytes(pickle.dumps(obj))
        assert cli(["gendata", "pyskl", "--pkl", str(path), "--out", str(tmp_path / f"o{i}")]) == 2
        err_line(capsys)


def test_overlapping_splits_are_rejected(tmp_path, capsys):
    anns = [ann(f"c{i}", i % 2) for i in range(4)]
    path = pyskl(tmp_path, anns, split={"xsub_train": ["c0", "c1", "c2"], "xsub_val": ["c2", "c3"]})
    assert cli(["gendata", "pyskl", "--pkl", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "in both train and test (first: c2)" in err_line(capsys)
    path = pyskl(tmp_path, anns, split={"xsub_train": ["c0", "c0", "c1"], "xsub_val": ["c3"]})
    assert cli(["gendata", "pyskl", "--pkl", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "more than once" in err_line(capsys)


def _ntu_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in NTU.glob("*.skeleton"):
        shutil.copy(f, raw / f.name)
    return raw


@pytest.mark.parametrize("value", ["nan", "inf", "1e30"])
def test_ntu_rejects_nan_inf_and_absurd_coordinates(tmp_path, value):
    raw = _ntu_raw(tmp_path)
    target = sorted(raw.glob("*.skeleton"))[0]
    lines = target.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if len(line.split()) == 12:
            fields = line.split()
            fields[0] = value
            lines[i] = " ".join(fields) + "\r\n"
            break
    target.write_text("".join(lines))
    with pytest.raises(DataFormatError, match="1 of 2 files could not be read"):
        convert_ntu(raw, tmp_path / "out", dataset="ntu60", progress=False)
    report = convert_ntu(raw, tmp_path / "out", dataset="ntu60", progress=False, skip_bad=True)
    assert report.num_samples == 1 and target.stem in report.bad


def test_unreadable_subdirectory_is_an_error(tmp_path, monkeypatch):
    raw = _ntu_raw(tmp_path)
    hidden = raw / "more"
    hidden.mkdir()
    real = os.scandir

    def scandir(path="."):  # what a mode-000 folder does to a non-root user
        if Path(path) == hidden:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DataFormatError, match=r"more: cannot read this folder \(Permission denied\)"):
        convert_ntu(raw, tmp_path / "out", dataset="ntu60", progress=False)


def test_ucla_rejects_float_labels(tmp_path):
    import json

    from ssl_skel.data.formats.nw_ucla import convert_ucla

    raw = tmp_path / "ucla"
    shutil.copytree(FIXTURES / "ucla", raw)
    split = json.loads((raw / "train_split.json").read_text())
    split[0]["label"] = split[0]["label"] + 0.5
    (raw / "train_split.json").write_text(json.dumps(split))
    with pytest.raises(DataFormatError, match="is not an integer"):
        convert_ucla(raw, tmp_path / "out")


def test_legacy_float_labels_are_rejected(tmp_path):
    root = tmp_path / "xsub"
    root.mkdir()
    for part in ("train", "val"):
        np.save(root / f"{part}_data_joint.npy", np.ones((2, 3, 4, 25, 2), np.float32))
        (root / f"{part}_label.pkl").write_bytes(pickle.dumps((["a", "b"], [0.0, 2.7])))
    with pytest.raises(DataFormatError, match=r"train_label.pkl: label 2.7"):
        open_arrays(root, "xsub", "train")


# --------------------------------------------------------------------------- 8, 9: code in pickles
class Payload:
    """Unpickling this creates `marker`: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _evil_pyskl(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"split": {}, "annotations": [Payload(marker)]}))
    return evil, marker


def test_pyskl_pickle_with_code_runs_nothing_by_default(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(pickles.TRUST_ENV, raising=False)
    evil, marker = _evil_pyskl(tmp_path)
    assert cli(["gendata", "pyskl", "--pkl", str(evil), "--out", str(tmp_path / "o")]) == 2
    line = err_line(capsys)
    assert "evil.pkl" in line and "not plain data" in line and "--trust-pickle" in line
    assert not marker.exists()
    # the explicit opt-in lifts it (and then the payload does run: that is what trusting means)
    assert cli(["gendata", "pyskl", "--pkl", str(evil), "--out", str(tmp_path / "o"), "--trust-pickle"]) == 2
    assert marker.exists()
    # for that command only: the switch does not travel through the environment into later ones
    assert pickles.TRUST_ENV not in os.environ and not pickles.trust_pickles()
    marker.unlink()
    assert cli(["gendata", "pyskl", "--pkl", str(evil), "--out", str(tmp_path / "o")]) == 2
    assert not marker.exists()


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "YES", " yes "])
def test_trust_env_values_that_trust(value, monkeypatch):
    monkeypatch.setenv(pickles.TRUST_ENV, value)
    assert pickles.trust_pickles() is True


@pytest.mark.parametrize("value", ["", " ", "0", "false", "False", "FALSE", "no", "No", " no "])
def test_trust_env_values_that_do_not_trust(value, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(pickles.TRUST_ENV, value)  # issue 25 item 3: "false", "no", "off", "False", " " trusted
    assert pickles.trust_pickles() is False
    evil, marker = _evil_pyskl(tmp_path)
    assert cli(["gendata", "pyskl", "--pkl", str(evil), "--out", str(tmp_path / "o")]) == 2
    assert "not plain data" in err_line(capsys) and not marker.exists()


@pytest.mark.parametrize("value", ["off", "on", "2", "y", "maybe", "1 0"])
def test_trust_env_other_values_are_an_error_naming_the_variable(value, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(pickles.TRUST_ENV, value)
    with pytest.raises(ConfigError, match=rf"SSL_SKEL_TRUST_PICKLE={value!r}: expected 1, true or yes"):
        pickles.trust_pickles()
    evil, marker = _evil_pyskl(tmp_path)
    assert cli(["gendata", "pyskl", "--pkl", str(evil), "--out", str(tmp_path / "o")]) == 2
    line = err_line(capsys)
    assert line.startswith("ssl-skel gendata: error: SSL_SKEL_TRUST_PICKLE=") and not marker.exists()


def test_explicit_trust_wins_over_the_environment(tmp_path, monkeypatch):
    evil, marker = _evil_pyskl(tmp_path)
    monkeypatch.setenv(pickles.TRUST_ENV, "1")
    with pytest.raises(DataFormatError, match="not plain data"):
        convert_pyskl(evil, tmp_path / "o", trust_pickle=False)
    assert not marker.exists()
    monkeypatch.setenv(pickles.TRUST_ENV, "maybe")  # not even read when the caller says
    with pytest.raises(DataFormatError, match="1 of 1 annotations could not be read"):  # the payload ran
        convert_pyskl(evil, tmp_path / "o", trust_pickle=True)
    assert marker.exists()


def test_legacy_label_pickle_with_code_runs_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(pickles.TRUST_ENV, raising=False)
    marker = tmp_path / "pwned"
    root = tmp_path / "xsub"
    root.mkdir()
    for part in ("train", "val"):
        np.save(root / f"{part}_data_joint.npy", np.ones((2, 3, 4, 25, 2), np.float32))
        (root / f"{part}_label.pkl").write_bytes(pickle.dumps((["a", "b"], [0, Payload(marker)])))
    with pytest.raises(DataFormatError, match="not plain data"):
        open_arrays(root, "xsub", "train")
    assert cli(["gendata", "import", str(root), "--out", str(tmp_path / "o")]) == 2
    err_line(capsys)
    assert not marker.exists()


def test_plain_pickles_still_load(tmp_path):
    obj = {"a": np.arange(3), "b": [1, 2.5, "x", (None, True)], "c": np.float32(1), "d": {1, 2}}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        got = load_pickle(path)
        assert np.array_equal(got["a"], obj["a"]) and got["b"] == obj["b"] and got["d"] == {1, 2}


# --------------------------------------------------------------------------- 10: hangs, full disk
def test_fifo_and_device_named_skeleton_are_refused_without_reading(tmp_path):
    raw = _ntu_raw(tmp_path)
    fifo = raw / "S001C001P001R001A001.skeleton"
    os.mkfifo(fifo)  # opening it for reading would block forever
    os.symlink("/dev/zero", raw / "S001C001P001R001A002.skeleton")  # reading it would never end
    with pytest.raises(DataFormatError, match="2 of 4 files could not be read .*not a regular file"):
        convert_ntu(raw, tmp_path / "out", dataset="ntu60", progress=False)
    report = convert_ntu(raw, tmp_path / "out", dataset="ntu60", progress=False, skip_bad=True)
    assert report.num_samples == 2


def test_fifo_pickle_is_refused(tmp_path):
    fifo = tmp_path / "anno.pkl"
    os.mkfifo(fifo)
    with pytest.raises(DataFormatError, match="not a regular file"):
        load_pickle(fifo)


def test_utf8_bom_skeleton_is_read(tmp_path):
    src = sorted(NTU.glob("*.skeleton"))[0]
    bom = tmp_path / src.name
    bom.write_bytes(b"\xef\xbb\xbf" + src.read_bytes())
    a, b = read_skeleton(src), read_skeleton(bom)
    assert a.num_frames == b.num_frames and all(
        np.array_equal(x.joints, y.joints) for fa, fb in zip(a.frames, b.frames) for x, y in zip(fa, fb)
    )


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["fallocate", "fsync"])
def test_full_disk_during_conversion_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch, where):
    out = tmp_path / "out"
    convert_pyskl(good_pkl(tmp_path), out)
    before = snapshot(out)
    if where == "fallocate":
        monkeypatch.setattr(os, "posix_fallocate", _enospc)
    else:
        import ssl_skel.core.io as core_io

        monkeypatch.setattr(core_io.os, "fsync", _enospc)
    assert cli(["gendata", "pyskl", "--pkl", str(good_pkl(tmp_path, 2.0, "b.pkl")), "--out", str(out)]) == 2
    line = err_line(capsys)
    assert "no space left" in line and str(out / ".staging") in line
    monkeypatch.undo()
    assert snapshot(out) == before  # no .staging, no .tmp, the old dataset intact


def test_stray_temporaries_are_cleaned_on_the_next_run(tmp_path):
    out = tmp_path / "out"
    convert_pyskl(good_pkl(tmp_path), out)
    (out / ".staging").mkdir()
    (out / ".staging" / common.OWNED_MARK).touch()  # made by the toolkit (issue 25 item 2)
    (out / ".staging" / ".data.npy.tmp").write_bytes(b"half")
    (out / ".labels.npy.x1y2.tmp").write_bytes(b"half")
    convert_pyskl(good_pkl(tmp_path, 2.0, "b.pkl"), out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["data.npy", "labels.npy", "num_frames.npy", "names.txt", "splits", "manifest.json"]
    )


def test_publish_refuses_an_unfinished_staging(tmp_path):
    out = tmp_path / "out"
    convert_pyskl(good_pkl(tmp_path), out)
    before = snapshot(out)
    (out / ".staging").mkdir()
    with pytest.raises(DataFormatError, match="no manifest.json"):
        publish(out)
    assert snapshot(out) == before
