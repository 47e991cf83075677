"""Training in several processes under ``torchrun``: DistributedDataParallel, NCCL on GPUs, gloo on CPUs.

A run of N processes takes the same steps as one process with the same global batch B: every rank
draws the same shuffled order (same seed, same loader generator), cuts each global batch of B into N
contiguous shares of B/N, and weighs its loss terms so that DDP's gradient average over the ranks
is the gradient of the global batch's loss (``global_mean_weights``). Dropout and the temporal
crop draw from each rank's own random stream, so with them on the runs are alike in distribution,
not draw for draw.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import BatchSampler, Sampler

from hscnet.device import resolve_device
from hscnet.errors import InputError

log = logging.getLogger(__name__)

# A rank that waits longer than this for the others fails (rank 0 validates alone meanwhile; a dead
# rank is noticed sooner, by torchrun).
TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


ONE_PROCESS = World()


def join(device_name: str) -> tuple[World, torch.device]:
    """Join the process group that torchrun set up (WORLD_SIZE > 1) on this rank's device
    (``rank_device``): NCCL on GPUs, gloo on the CPU."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    device = rank_device(device_name, int(os.environ.get("LOCAL_RANK", "0")), size)
    if size == 1:
        return World(), device
    rank = int(os.environ["RANK"])
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=TIMEOUT, device_id=device if device.type == "cuda" else None)
    return World(rank, size, backend), device


def rank_device(device_name: str, local_rank: int, world_size: int) -> torch.device:
    """The device of process ``local_rank`` of a run on this machine. On GPUs each process has its own:
    ``auto`` takes the LOCAL_RANK-th GPU the scheduler gave, or locks a free one (``hscnet.device``),
    so that a run never lands on another job's GPU; ``cuda`` means ``cuda:LOCAL_RANK``."""
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and device.type == "cuda" and device_name != "auto":
        device = torch.device("cuda", local_rank)
    return device


def leave(world: World) -> None:
    if world.size > 1:
        dist.destroy_process_group()


def cpu_threads(world: World, threads: int | None) -> int:
    """Each process's share of the CPU threads: ``threads`` (default: the cores this job may use) // N."""
    total = threads or len(os.sched_getaffinity(0))
    return max(1, total // world.size)


class ShardedBatchSampler(Sampler[list[int]]):
    """Rank ``rank``'s share of each batch of ``batches``: the ``rank``-th of ``size`` contiguous pieces.

    Shares differ by at most one sample; a global batch smaller than ``size`` would leave a rank
    without data, which ``check_shares`` refuses up front.
    """

    def __init__(self, batches: BatchSampler, rank: int, size: int):
        self.batches, self.rank, self.size = batches, rank, size

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            share, extra = divmod(len(batch), self.size)
            start = self.rank * share + min(self.rank, extra)
            yield batch[start : start + share + (self.rank < extra)]

    def __len__(self) -> int:
        return len(self.batches)


def check_shares(num_samples: int, batch_size: int, world: World) -> None:
    """Refuse a global batch that the ranks cannot share: not divisible by N, or a last batch of fewer
    than N samples (a rank without data cannot take part in the gradient average)."""
    if batch_size % world.size:
        raise InputError(f"global batch {batch_size} is not divisible by the {world.size} processes; choose a multiple")
    last = num_samples % batch_size
    if 0 < last < world.size:
        raise InputError(
            f"the last batch of each epoch holds {last} of {num_samples} training paragraphs, fewer than the "
            f"{world.size} processes; choose a batch size that leaves 0 or at least {world.size}"
        )


def global_mean_weights(counts: dict[str, Tensor], world: World) -> dict[str, Tensor]:
    """Per loss term: the factor that turns this rank's mean into its share of the global batch's mean
    under DDP's gradient average, count_rank * N / count over all ranks."""
    keys = sorted(counts)
    local = torch.stack([counts[k].detach().to(torch.float64) for k in keys])
    return dict(zip(keys, local * world.size / all_sum(local, world), strict=True))


def all_sum(values: Tensor, world: World) -> Tensor:
    """Sum of ``values`` over the ranks (itself in one process)."""
    if world.size > 1:
        values = values.clone()
        dist.all_reduce(values)
    return values
