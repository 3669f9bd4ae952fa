"""Worker processes and Ctrl-C (issue 25 items 10, 11): `--workers` is bounded by the CPUs and the work, workers die
with their parent, Ctrl-C never hangs a conversion, and any command stops on Ctrl-C with one line and exit status 130
(pretraining then continues from its last checkpoint)."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.pool
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from engine_toys import TINY_RUN
from layout_samples import write_lab5

from ssl_skel.cli import main as cli
from ssl_skel.data.formats.common import parallel_map, validate_dataset
from ssl_skel.data.storage import read_manifest

REPO = Path(__file__).resolve().parent.parent


def _pid(_: int) -> int:
    time.sleep(0.01)
    return os.getpid()


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its new parent) is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds  # a liveness deadline, not a speed assertion
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


# --------------------------------------------------------------------------- item 10: bounded workers
def test_workers_are_bounded_by_the_cpus_and_the_jobs(monkeypatch, caplog):
    started = []
    real = multiprocessing.pool.Pool.__init__

    def recording(self, processes=None, *args, **kwargs):
        started.append(processes)
        real(self, min(processes or 1, 2), *args, **kwargs)  # never really start thousands here

    monkeypatch.setattr(multiprocessing.pool.Pool, "__init__", recording)
    with caplog.at_level(logging.INFO):
        pids = list(parallel_map(_pid, list(range(24)), 10000, "test", progress=False))
    assert len(pids) == 24
    expected = min(_cpus(), 24)
    assert started == ([expected] if expected > 1 else [])
    assert "--workers 10000" in caplog.text and f"using {expected}" in caplog.text


def test_a_few_jobs_start_no_more_workers_than_jobs(monkeypatch):
    started = []
    real = multiprocessing.pool.Pool.__init__

    def recording(self, processes=None, *args, **kwargs):
        started.append(processes)
        real(self, processes, *args, **kwargs)

    monkeypatch.setattr(multiprocessing.pool.Pool, "__init__", recording)
    assert len(list(parallel_map(_pid, [0, 1], 64, "test", progress=False))) == 2
    assert all(n <= 2 for n in started)


SLEEPING_POOL = """
import os, sys, time
from ssl_skel.data.formats.common import parallel_map
def nap(i):
    os.write(1, f"{os.getpid()}\\n".encode())  # one write: the two workers' lines never interleave
    time.sleep(120)
    return i
for _ in parallel_map(nap, [0, 1], 2, "nap", progress=False):
    pass
"""


@pytest.mark.skipif(_cpus() < 2, reason="one CPU: workers=2 runs in-process")
def test_workers_die_with_their_parent(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", SLEEPING_POOL], env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(parent.stdout.readline()) for _ in range(2)]
        assert workers and parent.pid not in workers
        parent.kill()  # kill -9: no cleanup code runs in the parent
        parent.wait(timeout=30)
        assert _gone_within(workers, 30), [p for p in workers if _alive(p)]
    finally:
        parent.kill()


# --------------------------------------------------------------------------- item 11: Ctrl-C
def test_ctrl_c_in_any_command_is_one_line_and_status_130(monkeypatch, capsys):
    from ssl_skel.commands import info

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "main", interrupted)
    assert cli(["info", "x"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "ssl-skel info: interrupted (Ctrl-C)", err


def test_ctrl_c_while_reading_stops_the_workers(monkeypatch):
    if _cpus() < 2:
        pytest.skip("one CPU: workers=2 runs in-process")
    results = parallel_map(_pid, list(range(200)), 2, "test", progress=False)
    next(results)
    workers = [p.pid for p in multiprocessing.active_children()]
    assert workers
    with pytest.raises(KeyboardInterrupt):
        results.throw(KeyboardInterrupt)  # what Ctrl-C does to the generator's consumer
    assert _gone_within(workers, 30)


SIGINT_IN_WORKER = """
import os, signal, sys, time
from ssl_skel.data.formats.common import parallel_map
def job(i):
    if i == 0:
        os.kill(os.getpid(), signal.SIGINT)  # a worker sees the terminal's Ctrl-C too
        time.sleep(0.5)
    return os.getpid()
print(len(set(parallel_map(job, list(range(8)), 2, "t", progress=False))) >= 1, flush=True)
"""


@pytest.mark.skipif(_cpus() < 2, reason="one CPU: workers=2 runs in-process")
def test_workers_leave_ctrl_c_to_their_parent():
    done = subprocess.run([sys.executable, "-c", SIGINT_IN_WORKER], env=_env(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
    assert "KeyboardInterrupt" not in done.stderr


# --------------------------------------------------------------------------- slow: real Ctrl-C
def _clips(tmp_path: Path, n: int = 400) -> tuple[Path, Path, Path]:
    folder = tmp_path / "clips"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = ["clip,label,split"]
    for i in range(n):
        np.save(folder / f"c{i:04d}.npy", (rng.normal(size=(30, 5, 3)) + 1).astype(np.float32))
        rows.append(f"c{i:04d},{'walk' if i % 2 else 'run'},{'train' if i % 3 else 'test'}")
    table = tmp_path / "clips.csv"
    table.write_text("\n".join(rows) + "\n")
    return folder, table, write_lab5(tmp_path)


# the real `ssl-skel gendata`, each clip made to take 20 ms more (even cached ones): a run lasts seconds on any
# machine, so the random Ctrl-C's land inside it (before, during and after the workers), not after it
SLOW_CLIPS = """
import sys, time
from ssl_skel.cli import main
from ssl_skel.data.formats import arrays
real = arrays._process
def slow(job):
    time.sleep(0.02)
    return real(job)
arrays._process = slow
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.skipif(_cpus() < 2, reason="one CPU: workers=2 runs in-process")
def test_twenty_ctrl_c_during_gendata_with_workers_never_hang(tmp_path):
    folder, table, layout = _clips(tmp_path)
    out = tmp_path / "out"
    base = ["gendata", "arrays", "--folder", str(folder), "--table", str(table), "--layout", str(layout),
            "--centre", "first", "--no-progress"]  # fmt: skip
    argv = [sys.executable, "-c", SLOW_CLIPS, *base, "--out", str(out), "--workers", "2"]
    base = [sys.executable, "-m", "ssl_skel.cli", *base]
    reference = tmp_path / "reference"
    assert subprocess.run([*base, "--out", str(reference)], env=_env(), timeout=300).returncode == 0
    digest = read_manifest(reference)["content_sha256"]
    rng = random.Random(25)
    interrupted = 0
    for trial in range(20):
        if trial % 5 == 0:  # start again from nothing now and then: the cache must not be always warm
            subprocess.run(["rm", "-rf", str(out)], check=True)
        log = tmp_path / f"stderr{trial}.txt"  # a file, not a pipe: a full pipe would block the child
        with open(log, "w") as stderr:
            proc = subprocess.Popen(argv, env=_env(), stderr=stderr, start_new_session=True)
        time.sleep(rng.uniform(0.3, 3.0))
        try:
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        except ProcessLookupError:
            pass
        try:
            rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"trial {trial}: gendata hung after Ctrl-C; its stderr ends {log.read_text()[-2000:]!r}")
        err = log.read_text()
        assert "Traceback" not in err, (trial, err)
        # -SIGINT: the signal came while the interpreter was still starting (no handler yet, nothing written)
        assert rc in (0, 130, -signal.SIGINT), (trial, rc, err)
        assert rc != -signal.SIGINT or not err.strip(), (trial, err)
        if rc == 130:
            interrupted += 1
            assert [line for line in err.splitlines() if "ssl-skel" in line] == [
                "ssl-skel gendata: interrupted (Ctrl-C)"
            ], err
        with pytest.raises(ProcessLookupError):  # no worker outlives the command
            for _ in range(300):
                os.killpg(proc.pid, 0)
                time.sleep(0.1)
        if (out / "manifest.json").exists():  # whatever is published is whole and right
            validate_dataset(out)
            assert read_manifest(out)["content_sha256"] == digest
    assert interrupted >= 5
    done = subprocess.run(argv, env=_env(), timeout=300, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert read_manifest(out)["content_sha256"] == digest


@pytest.mark.slow
def test_ctrl_c_during_pretraining_is_one_line_and_resumable(tiny_data, tmp_path):
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "ssl_skel.cli", "pretrain", "--config", "synthetic", f"data.root={tiny_data}",
            f"run_dir={run}", *TINY_RUN, "train.epochs=200", "train.save_every=1"]  # fmt: skip
    log = tmp_path / "stderr.txt"  # a file, not a pipe: a full pipe would block the child
    with open(log, "w") as stderr:
        proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (run / "epoch_0002.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "pretraining did not reach epoch 2"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = log.read_text()
    assert rc == 130 and "Traceback" not in err, err
    assert [line for line in err.splitlines() if line.startswith("ssl-skel")] == [
        "ssl-skel pretrain: interrupted (Ctrl-C); run the same command again to continue from the last checkpoint"
    ], err
    from ssl_skel.core.checkpoint import load_checkpoint

    epoch = load_checkpoint(run / "last.pt")["epoch"]
    assert epoch >= 2
    resumed = subprocess.run([*argv, "--stop-after-epoch", str(epoch + 1)], env=_env(), capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {run / 'last.pt'} at epoch {epoch}" in (run / "log.txt").read_text()


def test_ctrl_c_while_an_error_is_reported_is_one_line(monkeypatch, capsys):
    """Found by the Ctrl-C loop: the error mapping imports torch lazily; a Ctrl-C then gave two tracebacks."""
    from ssl_skel import cli as cli_module
    from ssl_skel.commands import info
    from ssl_skel.data.storage import DataFormatError

    def failing(argv):
        raise DataFormatError("x: bad")

    def slow_report(exc):
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "main", failing)
    monkeypatch.setattr(cli_module, "one_line", slow_report)
    assert cli(["info", "x"]) == 130
    assert capsys.readouterr().err.strip() == "ssl-skel info: interrupted (Ctrl-C)"
