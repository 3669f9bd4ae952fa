"""Running a converter's per-file work in worker processes, with progress (`parallel_map`).

Why its own module: the pool is where a careless `--workers 10000` would start thousands of
processes, where workers could outlive a killed converter, and where a Ctrl-C could hang. Here
the worker count is bounded by the CPUs and the jobs (a note says so), workers die with their
parent and leave Ctrl-C to it (`core.children`), and the pool is stopped on any way out of the
loop (an error, Ctrl-C, a consumer that stops reading).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from ssl_skel.core.children import cpu_count, worker_init
from ssl_skel.core.memory import keep_freed_memory
from ssl_skel.core.progress import Progress

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def effective_workers(requested: int, jobs: int) -> int:
    """`requested` workers bounded by the CPUs this process may use and by the number of jobs (a note when it
    is lowered past the CPUs: more processes than CPUs only add memory and switching)."""
    cpus = cpu_count()
    workers = max(1, min(requested, cpus, jobs))
    if requested > cpus and workers < requested:
        log.warning("--workers %d: using %d (%d CPUs, %d jobs)", requested, workers, cpus, jobs)
    return workers


def _init_worker(parent: int) -> None:
    worker_init(parent)
    keep_freed_memory()


def parallel_map(
    fn: Callable[[T], R], jobs: Sequence[T], workers: int, desc: str, progress: bool = True, *, ordered: bool = False
) -> Iterator[R]:
    """Map `fn` over `jobs` in `workers` processes (in-process when 1), with progress (core.progress).

    Unordered by default (results as they finish). ordered=True: results in job order, with at most
    a few chunks per worker in flight, so a consumer that writes results out in order holds a
    bounded number of them however many jobs there are (Pool.imap would queue them all).
    Worker processes keep freed memory for reuse (core.memory): a converter's per-file arrays
    are allocated and freed thousands of times, and fresh pages cost a fault each. `workers` is
    bounded by `effective_workers`; the pool is terminated however the loop ends.
    """
    bar = Progress(total=len(jobs), desc=desc, unit="file", enabled=progress, leave=True)
    try:
        workers = effective_workers(workers, len(jobs))
        if workers <= 1:
            for job in jobs:
                yield fn(job)
                bar.update()
            return
        chunk = max(1, min(32, len(jobs) // (workers * 8) or 1))
        pool = multiprocessing.get_context().Pool(workers, initializer=_init_worker, initargs=(os.getpid(),))
        try:
            if not ordered:
                for result in pool.imap_unordered(fn, jobs, chunksize=chunk):
                    yield result
                    bar.update()
                return
            starts = iter(range(0, len(jobs), chunk))
            pending: deque = deque()
            for start in itertools.islice(starts, 4 * workers):
                pending.append(pool.apply_async(_map_chunk, (fn, jobs[start : start + chunk])))
            while pending:
                results = pending.popleft().get()
                for start in itertools.islice(starts, 1):
                    pending.append(pool.apply_async(_map_chunk, (fn, jobs[start : start + chunk])))
                for result in results:
                    yield result
                    bar.update()
        finally:  # done, an error, Ctrl-C or a consumer that stopped reading: the workers stop now
            pool.terminate()
            pool.join()
    finally:
        bar.close()


def _map_chunk(fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
    return [fn(job) for job in jobs]
