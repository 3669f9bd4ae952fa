"""Clips that cannot be what they claim are refused with a reason, or accepted only when asked (issue 25 items 8,
9): coordinates of 1e30 (also when centring would turn them into zeros), one-frame clips, a million frames,
fifty persons, and more persons than an encoder takes in `embed_clips`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from eval_helpers import SPEC, tiny_encoder
from layout_samples import write_lab5

from ssl_skel.cli import main as cli
from ssl_skel.data.formats.arrays import convert_arrays
from ssl_skel.data.layouts import load_layout_file
from ssl_skel.data.prepare import ClipError, Preprocess, clean_clip
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError
from ssl_skel.models.frozen import FrozenEncoder


def clip(seed: int, t: int = 6, m: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(t, 5, 3) if m is None else (m, t, 5, 3)) + 1).astype(np.float32)


def folder_of(tmp_path: Path, odd: np.ndarray) -> tuple[Path, Path]:
    """Five good clips and `odd` (named `odd`), with a table."""
    folder = tmp_path / "clips"
    folder.mkdir()
    rows = ["clip,label,split"]
    for i in range(5):
        np.save(folder / f"c{i}.npy", clip(i))
        rows.append(f"c{i},{'walk' if i % 2 else 'run'},{'train' if i < 3 else 'test'}")
    np.save(folder / "odd.npy", odd)
    rows.append("odd,walk,train")
    table = tmp_path / "t.csv"
    table.write_text("\n".join(rows) + "\n")
    return folder, table


def fresh(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def gendata(tmp_path: Path, odd: np.ndarray, capsys, *extra: str) -> tuple[int, list[str]]:
    folder, table = folder_of(tmp_path, odd)
    argv = ["gendata", "arrays", "--folder", str(folder), "--table", str(table), "--out", str(tmp_path / "out"),
            "--layout", str(write_lab5(tmp_path)), "--centre", "first", "--no-progress", *extra]  # fmt: skip
    rc = cli(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, [line for line in err.splitlines() if "error:" in line]


# --------------------------------------------------------------------------- item 8: magnitudes
def test_constant_huge_coordinates_are_refused_before_centring(tmp_path, capsys):
    huge = np.full((6, 5, 3), 1e30, dtype=np.float32)
    rc, errors = gendata(tmp_path, huge, capsys)
    assert rc == 2 and len(errors) == 1, errors
    assert "odd.npy" in errors[0] and "not a plausible position" in errors[0], errors
    rc, errors = gendata(fresh(tmp_path, "again"), huge, capsys, "--skip-bad")
    assert rc == 0, errors
    arrays = open_arrays(tmp_path / "again" / "out", "default", "train")
    assert "odd" not in arrays.names  # not stored as an all-zero clip


def test_clean_clip_names_the_implausible_value(tmp_path):
    raw = clip(0)
    raw[2, 3, 1] = -3e8
    lab5 = load_layout_file(write_lab5(tmp_path))
    with pytest.raises(ClipError, match=r"coordinate -3e\+08 at person 0 frame 2 joint 'left_hip'.*not a plausible"):
        clean_clip(raw, lab5, Preprocess(centre="first"))


def test_embed_clips_on_huge_coordinates_is_an_error_not_nan():
    enc = FrozenEncoder(tiny_encoder())
    good = np.random.default_rng(0).normal(size=(20, 25, 3)).astype(np.float32)
    assert torch.isfinite(enc.embed_clips([good])).all()
    with pytest.raises(ValueError, match="clip 1: .*not a plausible position"):
        enc.embed_clips([good, np.full((20, 25, 3), 1e30, dtype=np.float32)])


# --------------------------------------------------------------------------- item 9: frames and persons
def test_a_one_frame_clip_is_refused_unless_asked(tmp_path, capsys):
    rc, errors = gendata(tmp_path, clip(9, t=1), capsys)
    assert rc == 2 and "odd.npy" in errors[0] and "1 frame" in errors[0] and "--min-frames 1" in errors[0], errors
    rc, errors = gendata(fresh(tmp_path, "ok"), clip(9, t=1), capsys, "--min-frames", "1")
    assert rc == 0, errors
    assert "odd" in open_arrays(tmp_path / "ok" / "out", "default", "train").names


def test_a_million_frames_are_refused_unless_asked(tmp_path, capsys):
    long = np.zeros((1_000_000, 5, 3), dtype=np.float32)
    long[:, :, 2] = 1.0
    rc, errors = gendata(tmp_path, long, capsys)
    assert rc == 2 and "odd.npy" in errors[0] and "1000000 frames" in errors[0] and "--max-frames" in errors[0]
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_fifty_persons_are_refused_unless_asked(tmp_path, capsys):
    crowd = clip(7, m=50)
    rc, errors = gendata(tmp_path, crowd, capsys)
    assert rc == 2 and len(errors) == 1, errors
    assert "odd" in errors[0] and "50 persons" in errors[0] and "--max-persons" in errors[0], errors
    rc, errors = gendata(fresh(tmp_path, "ok"), crowd, capsys, "--max-persons", "2")
    assert rc == 0, errors
    assert open_arrays(tmp_path / "ok" / "out", "default", "train").data.shape[-1] == 2


def test_the_python_api_takes_the_same_limits(tmp_path):
    folder, table = folder_of(tmp_path, clip(9, t=1))
    layout = write_lab5(tmp_path)
    with pytest.raises(DataFormatError, match="1 frame"):
        convert_arrays(folder, tmp_path / "out", table=table, layout=layout, centre="first", progress=False)
    report = convert_arrays(folder, tmp_path / "out", table=table, layout=layout, centre="first", progress=False,
                            min_frames=1)  # fmt: skip
    assert report.num_samples == 6


def test_embed_clips_with_more_persons_than_the_encoder_takes(caplog):
    enc = FrozenEncoder(tiny_encoder())
    assert SPEC.num_persons == 2
    three = np.random.default_rng(0).normal(size=(3, 20, 25, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"clip 0: 3 persons, the encoder takes 2.*drop_persons=True"):
        enc.embed_clips([three])
    z = enc.embed_clips([three], drop_persons=True)  # keeps the 2 present in the most frames, as the converters do
    np.testing.assert_allclose(z.numpy(), enc.embed_clips([three[:2]]).numpy(), rtol=1e-5, atol=1e-5)
