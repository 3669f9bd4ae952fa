"""Seeds: one well-mixed seed per (run seed, epoch, rank, ...), and the generators they reset.

Why: the loop reseeds every generator from (seed, epoch, rank) at each epoch start and the
loader's worker seeds from (seed, epoch), so a resumed run replays what an uninterrupted one
does, whatever the number of loader workers.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def derive_seed(*parts: int) -> int:
    """A well-mixed 32-bit seed from integers (seed, epoch, rank, ...)."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def worker_init(worker_id: int) -> None:
    # torch already seeds each worker with base_seed + worker_id; derive numpy/python from it
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)
