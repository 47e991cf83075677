"""Grounding metrics: R@m and mIoU over all sentences of a split, on spans in seconds.

Conventions (the paper, sec. 4.1, following DepNet):
- The temporal IoU of a predicted and a ground-truth span is computed on SECONDS.
- A sentence is a hit at threshold m when ``IoU >= m``. Some public code uses ``>``; with ``>=`` a
  prediction whose IoU is exactly m counts. Because spans are floats, an IoU that is m in exact
  arithmetic can come out a hair below m (e.g. [0.1, 0.3] vs [0.1, 0.5] gives 0.49999999999999994),
  so the comparison allows ``HIT_TOLERANCE``.
- R@m and mIoU are averaged over ALL sentences of the split (not per paragraph) and reported in
  percent, like the paper's tables.

Predictions file (``predictions.json``): a JSON list with one entry per paragraph,
``{"id": ..., "video": ..., "duration": ..., "timestamps": [[start_s, end_s], ...]}`` (the paragraph
JSON layout; ``sentences`` and extra keys such as ``levels`` are allowed and ignored here). Entries
are matched to annotated paragraphs by ``id``; an entry without ``id`` is matched by ``video`` when the
annotation file has exactly one paragraph for that video (the per-video ActivityNet/TACoS releases),
so other methods' outputs can be scored with this code.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hscnet.io import read_json
from hscnet.spans import temporal_iou

log = logging.getLogger(__name__)

HIT_TOLERANCE = 1e-9
DEFAULT_IOU_THRESHOLDS = (0.1, 0.3, 0.5, 0.7)  # R@m of the paper's TACoS table; ActivityNet uses 0.3/0.5/0.7
HIT_RULE = f"IoU >= m (tolerance {HIT_TOLERANCE:g}); IoU on seconds; averaged over all sentences"


@dataclass(frozen=True)
class PredictedParagraph:
    """One entry of a predictions file: the predicted (start, end) seconds of each sentence."""

    id: str | None
    video: str
    timestamps: list[tuple[float, float]]


def read_predictions(path: str | os.PathLike) -> list[PredictedParagraph]:
    """Read and validate a predictions file; errors name the file and the entry."""
    return parse_predictions(read_json(path), source=str(path))


def parse_predictions(data: object, source: str) -> list[PredictedParagraph]:
    """Validate predictions already in memory (the JSON list); errors name ``source`` and the entry."""
    if not isinstance(data, list):
        # ValueError, not TypeError: a malformed input file, reported by the CLI as one clean line.
        raise ValueError(f"{source}: predictions must be a JSON list of paragraphs, got {type(data).__name__}")  # noqa: TRY004
    predictions = []
    for index, entry in enumerate(data):
        where = f"{source}: entry {index}"
        if not isinstance(entry, dict) or "video" not in entry or "timestamps" not in entry:
            raise ValueError(f"{where}: expected an object with 'video' and 'timestamps'")
        if "id" in entry:
            where += f" (id {entry['id']!r})"
        spans = entry["timestamps"]
        if not isinstance(spans, list) or not spans:
            raise ValueError(f"{where}: 'timestamps' must be a non-empty list of [start, end]")
        checked = []
        for k, span in enumerate(spans):
            if not (isinstance(span, list | tuple) and len(span) == 2 and all(isinstance(x, int | float) for x in span)):
                raise ValueError(f"{where}: timestamp {k} is not a [start, end] pair of numbers: {span!r}")
            start, end = float(span[0]), float(span[1])
            if not (math.isfinite(start) and math.isfinite(end)):
                raise ValueError(f"{where}: timestamp {k} is not finite: {span!r}")
            if start > end:
                raise ValueError(f"{where}: timestamp {k} is reversed (start {start} > end {end})")
            checked.append((start, end))
        predictions.append(PredictedParagraph(entry.get("id"), str(entry["video"]), checked))
    return predictions


def match_predictions(
    predictions: Sequence[PredictedParagraph], paragraphs: Sequence, source: str = "predictions"
) -> list[tuple[PredictedParagraph, object]]:
    """Pair every annotated paragraph with its prediction (by ``id``, else by a unique ``video``).

    ``paragraphs`` are objects with ``id``, ``video``, ``timestamps`` (``hscnet.data.annotations.
    Paragraph``). Raises ValueError naming ``source`` when a paragraph has no prediction, a
    prediction is ambiguous, or the numbers of sentences differ.
    """
    by_id = {p.id: p for p in paragraphs}
    videos = Counter(p.video for p in paragraphs)
    by_video = {p.video: p for p in paragraphs if videos[p.video] == 1}
    matched: dict[str, PredictedParagraph] = {}
    unknown = []
    for pred in predictions:
        if pred.id is not None:
            target = by_id.get(pred.id)
        elif videos[pred.video] > 1:
            raise ValueError(
                f"{source}: a prediction for video {pred.video!r} has no 'id' but the annotations "
                f"hold {videos[pred.video]} paragraphs of that video; add the paragraph ids"
            )
        else:
            target = by_video.get(pred.video)
        if target is None:
            unknown.append(pred.id if pred.id is not None else pred.video)
            continue
        if target.id in matched:
            raise ValueError(f"{source}: more than one prediction for paragraph {target.id!r}")
        if len(pred.timestamps) != len(target.timestamps):
            raise ValueError(
                f"{source}: paragraph {target.id!r} has {len(target.timestamps)} sentences but "
                f"{len(pred.timestamps)} predicted spans"
            )
        matched[target.id] = pred
    if unknown:
        log.warning("%s: %d predictions match no annotated paragraph (ignored), e.g. %s", source, len(unknown), unknown[:3])
    missing = [p.id for p in paragraphs if p.id not in matched]
    if missing:
        raise ValueError(f"{source}: no prediction for {len(missing)} of {len(paragraphs)} paragraphs, e.g. {missing[:3]}")
    return [(matched[p.id], p) for p in paragraphs]


def recall_and_miou(ious: np.ndarray, thresholds: Sequence[float]) -> dict[str, float]:
    """R@m for each threshold and mIoU, in percent, from per-sentence IoUs ``(N,)``."""
    if ious.size == 0:
        raise ValueError("no sentences to score")
    metrics = {f"R@{m:g}": float(100.0 * np.mean(ious >= m - HIT_TOLERANCE)) for m in thresholds}
    metrics["mIoU"] = float(100.0 * np.mean(ious))
    return metrics


def score(
    predictions: Sequence[PredictedParagraph],
    paragraphs: Sequence,
    thresholds: Sequence[float],
    source: str = "predictions",
) -> dict:
    """Score predictions against annotated paragraphs; returns the metrics dict of ``metrics.json``."""
    pairs = match_predictions(predictions, paragraphs, source)
    pred = torch.tensor([span for p, _ in pairs for span in p.timestamps], dtype=torch.float64)  # (N, 2)
    gt = torch.tensor([span for _, g in pairs for span in g.timestamps], dtype=torch.float64)  # (N, 2)
    metrics = recall_and_miou(temporal_iou(pred, gt).numpy(), thresholds)
    metrics.update(
        iou_thresholds=[float(m) for m in thresholds],
        hit_rule=HIT_RULE,
        num_paragraphs=len(pairs),
        num_sentences=len(gt),
    )
    return metrics
