"""NTU conversion speed and memory on generated files in the real `.skeleton` format.

    python benchmarks/gendata_speed.py [--files 300] [--frames 100] [--workers 1 2]

Writes `--files` synthetic recordings (random walks, one or two bodies, noise bodies now and
then; CRLF, the official field layout) into a temp folder, then converts them with each worker
count in a fresh process and prints files/s for a cold run and for a cached re-run, plus peak
memory: the converting process's max RSS, its workers' max RSS, and the peak of Python
allocations (tracemalloc, measured on an extra untimed 1-worker run) in the converting process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def _body_lines(rng: np.random.Generator, body_id: int, xyz: np.ndarray) -> list[str]:
    lines = [f"{body_id} 0 1 1 1 1 0 {rng.normal():.7g} {rng.normal():.7g} 2", "25"]
    for j in range(25):
        x, y, z = xyz[j]
        q = rng.normal(size=4)
        lines.append(
            f"{x:.7g} {y:.7g} {z:.7g} {rng.uniform(0, 512):.7g} {rng.uniform(0, 424):.7g} "
            f"{rng.uniform(0, 1920):.7g} {rng.uniform(0, 1080):.7g} {q[0]:.7g} {q[1]:.7g} {q[2]:.7g} {q[3]:.7g} 2"
        )
    return lines


def write_files(folder: Path, count: int, frames: int, seed: int = 0) -> int:
    """Write `count` files named like NTU samples; returns the total bytes written."""
    if count > 2040:
        raise ValueError("at most 2040 files (the generated sample names repeat after that)")
    rng = np.random.default_rng(seed)
    template = np.stack([np.linspace(-0.3, 0.3, 25), np.linspace(-0.8, 0.9, 25), np.full(25, 3.0)], axis=1)
    total = 0
    for i in range(count):
        action = 1 + i % 60
        name = f"S{1 + i % 17:03d}C{1 + i % 3:03d}P{1 + i % 40:03d}R{1 + i % 2:03d}A{action:03d}"
        n_bodies = 2 if action >= 50 else 1
        walk = np.cumsum(rng.normal(scale=0.01, size=(n_bodies, frames, 25, 3)), axis=1) + template
        walk[1:] += [1.0, 0, 0.2]
        lines = [str(frames)]  # (string formatting dominates the generation time)
        for t in range(frames):
            noise = t < 8 and i % 5 == 0  # a short-lived noise body in every 5th file
            lines.append(str(n_bodies + noise))
            for b in range(n_bodies):
                lines += _body_lines(rng, 72057594037927936 + 10 * i + b, walk[b, t])
            if noise:
                lines += _body_lines(rng, 999, template * [3.0, 0.1, 1.0])
        payload = ("\r\n".join(lines) + "\r\n").encode()
        (folder / f"{name}.skeleton").write_bytes(payload)  # names are unique for up to 2040 files
        total += len(payload)
    return total


def _run_one(raw: str, out: str, workers: int) -> dict:
    """Child process: convert once cold and once from cache; report timings and memory."""
    from ssl_skel.data.formats.ntu import convert_ntu

    t0 = time.perf_counter()
    cold = convert_ntu(raw, out, "ntu120", workers=workers, progress=False, missing_file=None)
    t1 = time.perf_counter()
    warm = convert_ntu(raw, out, "ntu120", workers=workers, progress=False)
    t2 = time.perf_counter()
    # Python allocations of one more cold conversion (tracemalloc slows parsing, so it is not timed)
    tracemalloc.start()
    convert_ntu(raw, out + "_traced", "ntu120", workers=1, progress=False)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "files": cold.num_samples,
        "cold_s": t1 - t0,
        "cached_s": t2 - t1,
        "parsed": cold.parsed,
        "from_cache": warm.from_cache,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "traced_peak_mb": traced_peak / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run_one(args.child[0], args.child[1], int(args.child[2]))))
        return 0
    with tempfile.TemporaryDirectory(prefix="gendata_speed_") as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        t0 = time.perf_counter()
        size = write_files(raw, args.files, args.frames)
        files = len(list(raw.glob("*.skeleton")))
        print(
            f"generated {files} .skeleton files ({size / 2**20:.1f} MiB, {args.frames} frames each) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        print(
            f"{'workers':>7} {'files':>6} {'cold files/s':>13} {'cached files/s':>15} {'main maxRSS MiB':>16} "
            f"{'workers maxRSS MiB':>19} {'traced peak MiB':>16}"
        )
        for w in args.workers:
            out = Path(tmp) / f"out_w{w}"
            res = subprocess.run(
                [sys.executable, __file__, "--child", str(raw), str(out), str(w)],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(
                f"{w:>7} {r['files']:>6} {r['files'] / r['cold_s']:>13.1f} {r['files'] / r['cached_s']:>15.1f} "
                f"{r['maxrss_mb']:>16.0f} {r['children_maxrss_mb']:>19.0f} {r['traced_peak_mb']:>16.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
