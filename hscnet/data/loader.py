"""The data loader of training, validation and evaluation: batches of ``ParagraphDataset`` items."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from hscnet.data.collate import collate_samples
from hscnet.data.dataset import ParagraphDataset
from hscnet.distributed import ShardedBatchSampler


def make_loader(
    dataset: ParagraphDataset,
    batch_size: int,
    shuffle: bool,
    generator: torch.Generator | None,
    num_workers: int,
    shard: tuple[int, int] | None = None,
) -> DataLoader:
    """``shard`` (rank, number of processes): this rank's share of each batch (``hscnet.distributed``)."""
    batching: dict = {"batch_size": batch_size, "shuffle": shuffle}
    if shard is not None:  # the batches DataLoader would make, drawn from the same generator, then shared
        order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        batching = {"batch_sampler": ShardedBatchSampler(BatchSampler(order, batch_size, drop_last=False), *shard)}
    return DataLoader(
        dataset,
        **batching,
        generator=generator,
        num_workers=num_workers,
        collate_fn=collate_samples,
        # Seeded workers: each worker's torch seed derives from the loader generator's draw.
        worker_init_fn=_seed_worker if num_workers else None,
    )


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
