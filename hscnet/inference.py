"""Inference shared by validation, evaluation and grounding: predictions in seconds."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from hscnet.data.collate import to_device
from hscnet.progress import progress
from hscnet.spans import normalized_to_seconds


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
