"""Inference shared by validation, evaluation and grounding: batching and predictions in seconds."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from hscnet.data.collate import collate_samples, to_device
from hscnet.data.dataset import ParagraphDataset
from hscnet.distributed import ShardedBatchSampler
from hscnet.progress import progress
from hscnet.spans import normalized_to_seconds


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


def spans_in_seconds(spans: Tensor, duration: Tensor | float) -> list:
    """Normalised model spans (..., 2) -> nested lists of seconds, in float64.

    Scaled by the ANNOTATED duration, the one the ground truth was normalised with.
    """
    return normalized_to_seconds(spans.double().cpu(), torch.as_tensor(duration, dtype=torch.float64)).tolist()


@torch.no_grad()
def predict(model: torch.nn.Module, loader, paragraphs: Sequence, device: torch.device) -> list[dict]:
    """Predictions-file entries (seconds) for every paragraph of ``loader``, in ``paragraphs`` order."""
    model.eval()
    by_id = {p.id: p for p in paragraphs}
    entries = {}
    for batch in progress(loader, desc="predict", leave=False, unit="batch", dynamic_ncols=True):
        outputs = model(to_device(batch, device))
        duration = batch["duration"][:, None]  # (B, 1): one per span of (B, N_S, 2)
        final = spans_in_seconds(outputs["pred_spans"], duration)  # (B, N_S, 2)
        sentence = spans_in_seconds(outputs["sentence_spans"], duration)
        paragraph = (
            spans_in_seconds(outputs["paragraph_span"], batch["duration"]) if "paragraph_span" in outputs else None
        )
        if "word_spans" in outputs:  # (B, N_S, M, 2) and its mask of real words (B, N_S, M)
            word = spans_in_seconds(outputs["word_spans"], duration[:, :, None])
            word_mask = outputs["word_span_mask"].cpu().tolist()
        for b, pid in enumerate(batch["ids"]):
            p = by_id[pid]
            n = len(p.sentences)
            levels = {"sentence": sentence[b][:n]}
            if paragraph is not None:
                levels["paragraph"] = paragraph[b]
            if "word_spans" in outputs:
                levels["word"] = [
                    [span for span, real in zip(word[b][s], word_mask[b][s], strict=True) if real] for s in range(n)
                ]
            entries[pid] = {
                "id": pid,
                "video": p.video,
                "duration": p.duration,
                "sentences": list(p.sentences),
                "timestamps": final[b][:n],
                "levels": levels,
            }
    return [entries[p.id] for p in paragraphs]
