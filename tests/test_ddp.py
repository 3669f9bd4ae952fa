"""Multi-process training through torchrun: gloo on CPU, loopback only, bounded time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssl_skel.core.checkpoint import load_checkpoint

TOYS = Path(__file__).with_name("engine_toys.py")
TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(TOYS.parent), env.get("PYTHONPATH", "")])
    return env


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *args]


def _assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_two_process_gloo_ranks_end_identical(tmp_path):
    port = _free_port()
    cmd = _torchrun(
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
        str(TOYS),
        str(tmp_path),
        "2",
        "2",
    )  # 2 epochs, accumulate 2 (no_sync micro-steps)
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    _assert_identical(r0, r1)
    ck = load_checkpoint(tmp_path / "last.pt")
    _assert_identical(ck["model"], r0)
    # 64 clips over 2 ranks, batch 8 each, 2 micro-batches per step: 2 steps/epoch, global batch 32
    assert ck["epoch"] == 2 and ck["step"] == 4
    log = (tmp_path / "log.txt").read_text()
    assert "2 process(es)" in log and "global batch 32" in log
    assert log.count("epoch 2/2") == 1  # only rank 0 logs


@pytest.mark.slow  # three torch start-ups plus a rendezvous: ~25-60 s on 2 shared cores
def test_two_single_process_nodes_meet_through_c10d(tmp_path):
    port = _free_port()
    procs = []
    for node in range(2):
        cmd = _torchrun(
            "--nnodes",
            "2",
            "--nproc-per-node",
            "1",
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            f"127.0.0.1:{port}",
            "--rdzv-id",
            "ssl-skel-test",
            "--local-addr",
            "127.0.0.1",
            "--max-restarts",
            "0",
            str(TOYS),
            str(tmp_path / f"node{node}"),
            "1",
        )
        procs.append(subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=TIMEOUT_S)
            outputs.append((p.returncode, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for rc, err in outputs:
        assert rc == 0, err[-3000:]
    # one node got rank 0 (it wrote the checkpoint), the other rank 1; weights agree
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("rank*.pt"))
    assert len(files) == 2 and {f.split("/")[1] for f in files} == {"rank0.pt", "rank1.pt"}
    states = [torch.load(tmp_path / f, weights_only=True) for f in files]
    _assert_identical(*states)
    main = next(tmp_path.rglob("last.pt"))
    assert load_checkpoint(main)["step"] == 4  # 64 clips / 2 ranks / batch 8


def test_setup_without_torchrun_is_a_single_process(monkeypatch):
    from ssl_skel.engine import distributed as D

    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = D.setup("cpu")
    assert (info.rank, info.world_size, info.is_main, info.distributed) == (0, 1, True, False)
    x = torch.arange(3.0)
    assert D.all_reduce_mean(x, info) is x
    D.cleanup(info)  # nothing to tear down
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not an integer"):
        D.setup("cpu")
