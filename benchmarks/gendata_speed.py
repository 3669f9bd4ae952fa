"""NTU conversion speed and memory at full scale, side by side with the authors' converter.

    python benchmarks/gendata_speed.py --files 56880 --workers 2 --reference /path/to/UmURL --subset 400

Writes `--pool` distinct recordings in the official `.skeleton` text format (random walks,
32-300 frames, mostly around 80 as in NTU RGB+D; one body, two for the mutual actions
A050-A060, a short-lived noise body in every 5th file; CRLF, the official field layout) and
links them under `--files` distinct NTU sample names (hard links: generating 56,880 files of
text would take longer than converting them; every name is parsed on its own). Then, in
fresh processes:

- ours: `convert_ntu` with each `--workers` count on all files (cold: nothing cached), and
  on the first `--subset` files: files/s, the converting process's and its workers' max RSS;
- with `--reference PATH` (a local checkout of HuiGuanLab/UmURL, nothing copied): their
  `data_gen/ntu_gendata.gendata` (read_xyz + pre_normalization, one process; it holds the
  whole (N, 3, 300, 25, 2) array and its motion and bone copies in memory) on the same
  `--subset` files, xsub train and val, alternating with ours on that subset over `--rounds`.

Printed: files/s per run, the ratio ours (all files, N workers) / theirs (subset), and peak memory:
each process's max RSS (getrusage) and the peak of the summed RSS of the whole converting process
tree (the child and all its descendants, sampled every 50 ms from /proc). `--cprofile N` also
profiles the per-file work (`ntu._process`, one process, cold cache) on N files and prints where
the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
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


def sample_name(i: int) -> str:
    """The i-th of 17 * 3 * 40 * 2 * 60 = 244,800 distinct NTU-60 sample names."""
    i, action = divmod(i, 60)
    i, setup = divmod(i, 17)
    i, camera = divmod(i, 3)
    i, subject = divmod(i, 40)
    replication = i % 2
    return f"S{1 + setup:03d}C{1 + camera:03d}P{1 + subject:03d}R{1 + replication:03d}A{1 + action:03d}"


def recording(rng: np.random.Generator, i: int, frames: int, two_bodies: bool) -> bytes:
    template = np.stack([np.linspace(-0.3, 0.3, 25), np.linspace(-0.8, 0.9, 25), np.full(25, 3.0)], axis=1)
    n_bodies = 2 if two_bodies else 1
    walk = np.cumsum(rng.normal(scale=0.01, size=(n_bodies, frames, 25, 3)), axis=1) + template
    walk[1:] += [1.0, 0, 0.2]
    lines = [str(frames)]
    for t in range(frames):
        noise = t < 8 and i % 5 == 0  # a short-lived noise body in every 5th file
        lines.append(str(n_bodies + noise))
        for b in range(n_bodies):
            lines += _body_lines(rng, 72057594037927936 + 10 * i + b, walk[b, t])
        if noise:
            lines += _body_lines(rng, 999, template * [3.0, 0.1, 1.0])
    return ("\r\n".join(lines) + "\r\n").encode()


def write_files(folder: Path, count: int, pool: int = 400, seed: int = 0) -> int:
    """`count` NTU-named files linking to `pool` distinct recordings; returns the bytes they name."""
    if count > 244800:
        raise ValueError("at most 244,800 files (distinct NTU-60 sample names)")
    rng = np.random.default_rng(seed)
    store = folder.parent / (folder.name + "_pool")
    store.mkdir(parents=True, exist_ok=True)
    sizes = {}
    total = 0
    for i in range(count):
        name = sample_name(i)
        two = int(name[-3:]) >= 50
        key = (i % pool, two)
        src = store / f"{key[0]}_{int(two)}.skeleton"
        if key not in sizes:
            frames = int(np.clip(rng.lognormal(np.log(80), 0.45), 32, 300))
            src.write_bytes(recording(rng, i, frames, two))
            sizes[key] = src.stat().st_size
        os.link(src, folder / f"{name}.skeleton")
        total += sizes[key]
    return total


def _ours(raw: str, out: str, workers: int) -> dict:
    """Child process: one cold conversion; timings and memory."""
    from ssl_skel.data.formats.ntu import convert_ntu

    t0 = time.perf_counter()
    report = convert_ntu(raw, out, dataset="ntu60", workers=workers, progress=False, missing_file=None)
    return {"files": report.num_samples, "seconds": time.perf_counter() - t0, **_usage()}


def _usage() -> dict:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "maxrss_mib": me.ru_maxrss / 1024,
        "children_maxrss_mib": kids.ru_maxrss / 1024,
        "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
    }


def _theirs(reference: str, raw: str, out: str) -> dict:
    """Child process (their checkout on the path): their gendata for xsub train + val."""
    import contextlib
    import io

    sys.path.insert(0, reference)
    from data_gen import ntu_gendata

    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for part in ("train", "val"):
            ntu_gendata.gendata(raw, out, None, benchmark="xsub", part=part)
    return {"files": len(os.listdir(raw)), "seconds": time.perf_counter() - t0, **_usage()}


def _tree_rss_kib(pid: int) -> int:
    """Summed VmRSS of `pid` and all its descendants (0 once it is gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return total


def _child(argv: list[str], env: dict | None = None) -> dict:
    """Run one measurement in a fresh process; adds the peak RSS of its whole process tree."""
    proc = subprocess.Popen(
        [sys.executable, __file__, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kib(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    sampler.join()
    if proc.returncode:
        raise RuntimeError(f"benchmark child {argv[:2]} failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    return {**json.loads(stdout.strip().splitlines()[-1]), "tree_peak_mib": peak[0] / 1024}


def _profile(folder: Path, count: int) -> None:
    """cProfile of the per-file work on `count` files (one process, cold cache): where the time goes."""
    import cProfile
    import pstats

    from ssl_skel.core.memory import keep_freed_memory
    from ssl_skel.data.formats import ntu

    keep_freed_memory()  # as in the converter's worker processes
    files = sorted(folder.iterdir())[:count]
    with tempfile.TemporaryDirectory() as cache:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for f in files:
            ntu._process((str(f), cache, "sgn"))
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    per_file = total / len(files) * 1e3
    print(f"cProfile, ntu._process on {len(files)} files, 1 process: {total:.2f} CPU s ({per_file:.2f} ms/file)")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][3], reverse=True)  # cumulative time
    for (file, line, name), (_, _, tottime, cumtime, _) in rows[:18]:
        print(f"  {cumtime / total:6.1%} cum {tottime / total:6.1%} self  {Path(file).name}:{line}({name})")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--pool", type=int, default=400, help="distinct recordings behind the file names")
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--reference", default=None, help="local checkout of HuiGuanLab/UmURL")
    parser.add_argument("--subset", type=int, default=400, help="files converted by both sides")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tmp", default=None, help="folder for the generated files (default: system temp)")
    parser.add_argument("--cprofile", type=int, default=0, help="also profile the per-file work on this many files")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        result = _ours(rest[0], rest[1], int(rest[2])) if kind == "ours" else _theirs(*rest)
        print(json.dumps(result))
        return 0
    print(f"python benchmarks/gendata_speed.py {' '.join(argv)}")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} logical CPUs; load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="gendata_speed_", dir=args.tmp) as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        t0 = time.perf_counter()
        size = write_files(raw, args.files, args.pool)
        subset = Path(tmp) / "subset"
        subset.mkdir()
        for name in sorted(os.listdir(raw))[: args.subset]:
            os.link(raw / name, subset / name)
        print(
            f"generated {args.files} .skeleton files ({size / 2**30:.2f} GiB of text, {args.pool} distinct "
            f"recordings x 2 body counts) in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        rows = []

        def ours(folder: Path, workers: int, tag: str) -> dict:
            r = _child(["--child", "ours", str(folder), str(Path(tmp) / f"out_{tag}"), str(workers)])
            subprocess.run(["rm", "-rf", str(Path(tmp) / f"out_{tag}")], check=True)
            rows.append((f"ssl_skel, {workers} workers", r))
            return r

        def theirs(tag: str) -> dict:
            env = {**os.environ, "PYTHONPATH": str(Path(args.reference).resolve())}
            out = Path(tmp) / f"ref_{tag}"
            r = _child(["--child", "ref", str(Path(args.reference).resolve()), str(subset), str(out)], env)
            subprocess.run(["rm", "-rf", str(out)], check=True)
            rows.append(("authors' ntu_gendata (1 process)", r))
            return r

        sub_ours, sub_theirs = [], []
        if args.reference:
            for r in range(args.rounds):
                for side in ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours"):
                    if side == "ours":
                        sub_ours.append(ours(subset, max(args.workers), f"s{r}"))
                    else:
                        sub_theirs.append(theirs(f"s{r}"))
        full = {w: ours(raw, w, f"f{w}") for w in args.workers}
        print(
            f"{'run':>34} {'files':>6} {'seconds':>8} {'files/s':>8} {'CPU s':>7} {'main maxRSS MiB':>16} "
            f"{'workers maxRSS MiB':>19} {'tree peak RSS MiB':>18}"
        )
        for name, r in rows:
            print(
                f"{name:>34} {r['files']:>6} {r['seconds']:>8.1f} {r['files'] / r['seconds']:>8.1f} {r['cpu_s']:>7.1f} "
                f"{r['maxrss_mib']:>16.0f} {r['children_maxrss_mib']:>19.0f} {r['tree_peak_mib']:>18.0f}"
            )
        if sub_theirs:
            rate_theirs = float(np.median([r["files"] / r["seconds"] for r in sub_theirs]))
            rate_sub = float(np.median([r["files"] / r["seconds"] for r in sub_ours]))
            print(f"subset ({args.subset} files): ours / theirs = {rate_sub / rate_theirs:.2f}x")
            for w, r in full.items():
                rate = r["files"] / r["seconds"]
                print(f"all {r['files']} files, {w} workers: ours / theirs (subset) = {rate / rate_theirs:.2f}x")
        if args.cprofile:
            _profile(subset if args.subset >= args.cprofile else raw, args.cprofile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
