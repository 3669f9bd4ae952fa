"""Side-by-side timing: ours and the authors' code in worker processes, driven in alternating rounds.

Why workers: the authors' repository has top-level modules (`feeder`, `dataset`, `data_gen`...)
that must not meet ours in one interpreter, and each side's peak memory is its own process's
max RSS. Each worker builds its model once and waits; the driver asks them in turn for one
round of timed work, so both sides see the same machine load (a shared machine drifts by
tens of percent within minutes), and takes a 4096^2 fp32 matmul probe between rounds.

Protocol: the driver writes one JSON object per line on the worker's stdin; the worker
answers with one line "@@ <json>". Anything else a worker prints goes to the driver's stderr.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PREFIX = "@@ "


def matmul_probe(size: int = 4096, reps: int = 3) -> float:
    """Best-of-`reps` fp32 GFLOP/s of a (size, size) @ (size, size) product on this process's threads."""
    import torch

    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g)
    b = torch.randn(size, size, generator=g)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)  # warm-up
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def serve(handlers: dict[str, Callable[..., dict]], ready: dict) -> int:
    """Worker main loop: answer {"cmd": name, ...} lines with handlers[name](**rest)."""
    out = sys.stdout
    sys.stdout = sys.stderr  # library prints must not break the protocol
    out.write(PREFIX + json.dumps({**ready, "peak_rss_gib": peak_rss_gib()}) + "\n")
    out.flush()
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg.pop("cmd")
        if cmd == "quit":
            out.write(PREFIX + json.dumps({"peak_rss_gib": peak_rss_gib()}) + "\n")
            out.flush()
            return 0
        reply = handlers[cmd](**msg)
        out.write(PREFIX + json.dumps({**reply, "peak_rss_gib": peak_rss_gib()}) + "\n")
        out.flush()
    return 0


class Worker:
    """One worker process: `python script --worker NAME ...`; `call(cmd, **kw)` -> its reply."""

    def __init__(self, argv: list[str], name: str, extra_path: str | None = None) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        if extra_path is None:  # ours: the repository on the path
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        else:  # the authors': only their checkout (none of our top-level names)
            env["PYTHONPATH"] = extra_path
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1
        )
        self.ready = self._read()

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX) :])
            sys.stderr.write(line)
        raise RuntimeError(f"worker {self.name} exited with status {self.proc.wait()} before answering")

    def call(self, cmd: str, **kw) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> dict:
        reply = self.call("quit")
        self.proc.stdin.close()
        self.proc.wait()
        return reply


def alternate(workers: list[Worker], rounds: int, cmd: str, probe: bool = True, **kw) -> dict:
    """`rounds` rounds of `cmd` on every worker in turn (order flipped each round), a probe after each round.

    -> {"rounds": {name: [reply, ...]}, "probe_gflops": [...]}.
    """
    replies: dict[str, list[dict]] = {w.name: [] for w in workers}
    probes = []
    for r in range(rounds):
        for w in workers if r % 2 == 0 else workers[::-1]:
            replies[w.name].append(w.call(cmd, **kw))
        if probe:
            probes.append(matmul_probe())
    return {"rounds": replies, "probe_gflops": probes}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def describe_machine(threads: int) -> str:
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, {threads} threads, "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
