"""Batch ``ParagraphDataset`` items for the model and for turning its outputs back into seconds.

The padding and masks of the model contract (video/video_mask, words/word_mask, word_sentence with -1
on padding, sentence_mask, spans with 0 on padding) come from ``hscnet.model.batch``, which owns
that contract; this module adds what the data side needs to map outputs back to paragraphs:
``ids`` (list of B paragraph ids) and ``duration`` (B,) float32 seconds. The model ignores both.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hscnet.model.batch import collate_paragraphs


def collate_samples(items: Sequence[dict]) -> dict:
    """Items of ``ParagraphDataset`` -> the padded model batch plus ``ids`` and ``duration``."""
    batch = collate_paragraphs(list(items))
    batch["ids"] = [item["id"] for item in items]
    batch["duration"] = torch.tensor([item["duration"] for item in items], dtype=torch.float32)  # (B,)
    return batch


def to_device(batch: dict, device: torch.device) -> dict:
    """Move the tensors of a batch to ``device`` (non-tensor entries such as ``ids`` stay)."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
