"""Checkpoint files: atomic writes, validated reads, resume lookup, RNG round trip."""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from ssl_skel.core import checkpoint as ckpt
from ssl_skel.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _payload(value: float = 1.0) -> dict:
    return {"kind": "pretrain", "config": {"seed": 0}, "model": {"w": torch.full((3,), value)}, "epoch": 1}


def test_round_trip_with_weights_only(tmp_path):
    path = save_checkpoint(_payload(2.0), tmp_path / "sub" / "last.pt")
    raw = torch.load(path, weights_only=True)  # plain types only
    assert raw["format"] == "ssl_skel/checkpoint" and raw["version"] == 1
    got = load_checkpoint(path)
    assert torch.equal(got["model"]["w"], torch.full((3,), 2.0)) and got["config"] == {"seed": 0}
    assert list((tmp_path / "sub").iterdir()) == [path]  # no temp file left behind
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


def test_failed_save_leaves_old_file_intact(tmp_path, monkeypatch):
    path = save_checkpoint(_payload(1.0), tmp_path / "last.pt")

    def crash(obj, fh, *a, **k):
        fh.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. the job is interrupted mid-write

    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(_payload(5.0), path)
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


_KILLED_WRITER = """
import sys, torch
from ssl_skel.core.checkpoint import save_checkpoint
path = sys.argv[1]
big = {"kind": "pretrain", "model": {"w": torch.randn(2_000_000)}}
save_checkpoint(big, path)
print("ready", flush=True)
i = 0
while True:
    i += 1
    big["model"]["w"].fill_(float(i))
    save_checkpoint(big, path)
"""


def test_process_killed_while_saving_leaves_a_readable_file(tmp_path):
    path = tmp_path / "last.pt"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.7)  # several saves of an 8 MB tensor are in flight by now
    finally:
        proc.kill()
        proc.wait(timeout=30)
    w = load_checkpoint(path)["model"]["w"]
    assert w.numel() == 2_000_000 and torch.all(w == w[0])  # one complete save, never a mix


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    good = save_checkpoint(_payload(), tmp_path / "good.pt")
    data = good.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt: truncated or corrupt checkpoint"):
        load_checkpoint(cut)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes\.pt: not a checkpoint file \(starts with b'hello'"):
        load_checkpoint(text)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, foreign)
    with pytest.raises(CheckpointError, match=r"foreign\.pt: not an ssl_skel checkpoint"):
        load_checkpoint(foreign)
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError, match=r"evil\.pt: holds Python objects other than tensors") as info:
        load_checkpoint(evil)
    assert "weights_only" not in str(info.value) and "corrupt" not in str(info.value)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_unknown_kind_and_newer_version(tmp_path):
    odd = save_checkpoint({**_payload(), "kind": "mystery"}, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match=r"odd\.pt: unknown checkpoint kind 'mystery'"):
        load_checkpoint(odd)
    path = tmp_path / "future.pt"
    torch.save({**_payload(), "format": "ssl_skel/checkpoint", "version": 99}, path)
    with pytest.raises(CheckpointError, match=r"future\.pt: checkpoint version 99 is newer"):
        load_checkpoint(path)


def test_rng_round_trip_through_a_file(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    np.random.normal()  # leaves a cached gaussian in numpy's legacy state
    state = ckpt.capture_rng()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    path = save_checkpoint({"kind": "pretrain", "rng": state}, tmp_path / "rng.pt")
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    ckpt.restore_rng(load_checkpoint(path)["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]
