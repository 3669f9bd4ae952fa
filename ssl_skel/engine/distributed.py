"""torchrun environment -> process group, plus the few helpers the loop needs.

Why: torchrun (single node, or several nodes meeting through c10d rendezvous) exports
RANK, WORLD_SIZE and LOCAL_RANK; everything else follows from them. gloo on CPU, NCCL on
CUDA. Without those variables the run is a plain single process and nothing is
initialised, so notebooks and tests need no launcher.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    initialised_here: bool  # True when setup() created the process group (cleanup destroys it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None


def pick_device(local_rank: int, device: str | torch.device | None = None) -> torch.device:
    """Explicit device if given, else cuda:<local_rank> when CUDA exists, else cpu."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def setup(device: str | torch.device | None = None, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group torchrun describes (or reuse an existing one)."""
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = _env_int("LOCAL_RANK", rank)
        dev = pick_device(local, device)
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        return DistInfo(rank, world, local, dev, initialised_here=False)
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", 0)
    dev = pick_device(local, device)
    if world <= 1:
        return DistInfo(0, 1, 0, dev, initialised_here=False)
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    log.info("joined process group: rank %d/%d (local %d), backend %s, device %s", rank, world, local, backend, dev)
    return DistInfo(rank, world, local, dev, initialised_here=True)


def cleanup(info: DistInfo) -> None:
    if info.initialised_here and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        if info.device.type == "cuda":
            dist.barrier(device_ids=[info.device.index])
        else:
            dist.barrier()


def all_reduce_mean(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean over ranks (in place on a copy); identity for one process."""
    if not info.distributed:
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


@torch.no_grad()
def sync_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Make every rank's buffers equal: batch-norm running statistics are averaged over
    ranks (the better estimate where SyncBatchNorm is unavailable, e.g. on CPU), then all
    buffers take rank 0's values, as DDP's own `broadcast_buffers` does before a forward."""
    if not info.distributed:
        return
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            for buf in (m.running_mean, m.running_var):
                if buf is not None:
                    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                    buf.div_(info.world_size)
    for buf in module.buffers():
        dist.broadcast(buf, src=0)
