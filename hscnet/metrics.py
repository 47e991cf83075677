"""Grounding metrics: R@m and mIoU over all sentences of a split, from spans in seconds.

Conventions (the paper, sec. 4.1, following DepNet):
- The temporal IoU of a predicted and a ground-truth span is overlap / hull of the two, computed on the
  spans as fractions of their video's duration, as PRVG's evaluation does (its datasets divide the
  seconds by the duration; its model predicts fractions). IoU does not depend on the unit; the unit
  only decides on which side of m an IoU that is m to the last bit falls, which matters under
  ``--hit-rule gt`` (docs/evaluation.md says how much).
- A sentence is a hit at threshold m when ``IoU >= m``. Some public code uses ``>``; with ``>=`` a
  prediction whose IoU is exactly m counts. Because spans are floats, an IoU that is m in exact
  arithmetic can come out a hair below m (e.g. [0.1, 0.3] vs [0.1, 0.5] gives 0.49999999999999994),
  so the comparison allows ``HIT_TOLERANCE``.
- R@m and mIoU are averaged over ALL sentences of the split (not per paragraph) and reported in
  percent, like the paper's tables.

Predictions file (``predictions.json``): a JSON list of entries
``{"id": ..., "video": ..., "timestamps": [[start_s, end_s], ...], "sentences": [...]}`` (the
paragraph JSON layout; ``id`` and ``sentences`` are optional, extra keys such as ``duration`` or
``levels`` are ignored). Predicted spans are matched to annotated sentences by their position in
the release (``hscnet.data.annotations``: readers keep the release's sentence order):

* an entry WITH ``id`` predicts that annotated paragraph, one span per sentence in its order;
  its ``video`` must be the paragraph's;
* entries WITHOUT ``id`` predict a whole video: their spans, concatenated in the predictions
  file's order, are the video's sentences in the annotation file's order, all of them (also those
  the reader drops as degenerate, which are then not scored). So other methods' outputs (one entry
  per video of a per-video release, or one per paragraph of a paragraph list, in file order)
  are scored without our ids, however the annotations are chunked.

When an entry carries ``sentences`` they must equal the annotation's (compared stripped), so a
file in another sentence order is an error, not a silently low score. Spans must be pairs of
finite numbers (not booleans or strings) with start <= end where scored; spans reaching outside
``[0, duration]`` are clamped to the video, as the ground truth is, and counted in the log.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hscnet.errors import InputError
from hscnet.io import read_json

log = logging.getLogger(__name__)

HIT_TOLERANCE = 1e-9
DEFAULT_IOU_THRESHOLDS = (0.1, 0.3, 0.5, 0.7)  # R@m of the paper's TACoS table; ActivityNet uses 0.3/0.5/0.7
# When a sentence counts as a hit at threshold m. "ge" is this project's default; "gt" with clamp=False is
# the convention of PRVG's released evaluation code (lib/core/eval.py: ``overlap > t``, spans as given).
HIT_RULES = {"ge": f"IoU >= m (tolerance {HIT_TOLERANCE:g})", "gt": "IoU > m"}


def convention(hit_rule: str = "ge", clamp: bool = True, released_spans: bool = True) -> str:
    """The scoring convention in words, as the metrics file records it (``released_spans``: the annotated spans
    are the release's own, not a prepared file's, which were clamped when it was prepared)."""
    if clamp:
        spans = "predicted spans clamped to [0, duration] like the annotated ones"
    elif released_spans:
        spans = "predicted and annotated spans scored as given, none clamped"
    else:
        spans = "predicted spans scored as given; annotated spans as in the prepared file, clamped when it was made"
    return f"{HIT_RULES[hit_rule]}; {spans}; IoU on fractions of the duration; averaged over all sentences"


@dataclass(frozen=True)
class PredictedParagraph:
    """One entry of a predictions file: the predicted (start, end) seconds of each sentence."""

    id: str | None
    video: str
    timestamps: list[tuple[float, float]]
    sentences: list[str] | None = None


def read_predictions(path: str | os.PathLike) -> list[PredictedParagraph]:
    """Read and validate a predictions file; errors name the file and the entry."""
    return parse_predictions(read_json(path), source=str(path))


def parse_predictions(data: object, source: str) -> list[PredictedParagraph]:
    """Validate predictions already in memory (the JSON list); errors name ``source`` and the entry."""
    if not isinstance(data, list):
        # ValueError, not TypeError: a malformed input file, reported by the CLI as one clean line.
        raise InputError(f"{source}: predictions must be a JSON list of paragraphs, got {type(data).__name__}")
    predictions = []
    for index, entry in enumerate(data):
        where = f"{source}: entry {index}"
        if not isinstance(entry, dict) or "video" not in entry or "timestamps" not in entry:
            raise InputError(f"{where}: expected an object with 'video' and 'timestamps'")
        if "id" in entry:
            where += f" (id {entry['id']!r})"
        spans = entry["timestamps"]
        if not isinstance(spans, list) or not spans:
            raise InputError(f"{where}: 'timestamps' must be a non-empty list of [start, end]")
        checked = []
        for k, span in enumerate(spans):
            # bool is an int subclass: true/false are not times
            if not (
                isinstance(span, list | tuple)
                and len(span) == 2
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in span)
            ):
                raise InputError(f"{where}: timestamp {k} is not a [start, end] pair of numbers: {span!r}")
            try:
                start, end = float(span[0]), float(span[1])
            except OverflowError:  # a JSON integer past float's range, e.g. 10**400
                raise InputError(f"{where}: timestamp {k} is not finite: an integer too large for a float") from None
            if not (math.isfinite(start) and math.isfinite(end)):
                raise InputError(f"{where}: timestamp {k} is not finite: {span!r}")
            checked.append((start, end))
        sentences = entry.get("sentences")
        if sentences is not None and not (
            isinstance(sentences, list)
            and len(sentences) == len(checked)
            and all(isinstance(x, str) for x in sentences)
        ):
            raise InputError(f"{where}: 'sentences' must be a list of {len(checked)} strings, one per timestamp")
        predictions.append(PredictedParagraph(entry.get("id"), str(entry["video"]), checked, sentences))
    return predictions


def match_predictions(
    predictions: Sequence[PredictedParagraph], paragraphs: Sequence, source: str = "predictions", clamp: bool = True
) -> list[list[tuple[float, float]]]:
    """The predicted span of every annotated sentence, paragraph by paragraph, matched by release position.

    ``paragraphs`` are ``hscnet.data.annotations.Paragraph`` objects. Returns, for each paragraph in
    order, one (start, end) per sentence, clamped to ``[0, duration]`` unless ``clamp`` is False. Raises
    ValueError naming ``source`` and the paragraph when a paragraph has no prediction or two, counts differ, an
    entry's ``video`` or ``sentences`` contradict the annotations, or a scored span is reversed.
    """
    by_id = {p.id: p for p in paragraphs}
    positions, video_sentences = _release_positions(paragraphs)
    by_video: dict[str, list[PredictedParagraph]] = {}  # entries without id, in file order
    matched: dict[str, list[tuple[tuple[float, float], str | None]]] = {}  # id -> (span, predicted sentence)
    unknown = []
    for pred in predictions:
        if pred.id is None:
            if pred.video in video_sentences:
                by_video.setdefault(pred.video, []).append(pred)
            else:
                unknown.append(pred.video)
            continue
        target = by_id.get(pred.id)
        if target is None:
            unknown.append(pred.id)
            continue
        _check_entry_with_id(pred, target, matched, source)
        matched[target.id] = list(zip(pred.timestamps, pred.sentences or [None] * len(pred.timestamps), strict=True))
    _match_entries_without_id(by_video, paragraphs, positions, video_sentences, matched, source)
    if unknown:
        log.warning(
            "%s: %d predictions match no annotated paragraph (ignored), e.g. %s", source, len(unknown), unknown[:3]
        )
    missing = [p.id for p in paragraphs if p.id not in matched]
    if missing:
        raise InputError(
            f"{source}: no prediction for {len(missing)} of {len(paragraphs)} paragraphs, e.g. {missing[:3]}"
        )
    return _checked_spans(matched, paragraphs, source, clamp)


def _check_entry_with_id(pred: PredictedParagraph, target, matched: dict, source: str) -> None:
    """An entry with ``id`` predicts that paragraph once, in its video, one span per sentence."""
    if pred.video != target.video:
        raise InputError(
            f"{source}: the prediction for paragraph {target.id!r} is for video {pred.video!r}, "
            f"but the annotations have that paragraph in video {target.video!r}"
        )
    if target.id in matched:
        raise InputError(f"{source}: more than one prediction for paragraph {target.id!r}")
    if len(pred.timestamps) != len(target.timestamps):
        raise InputError(
            f"{source}: paragraph {target.id!r} has {len(target.timestamps)} sentences but "
            f"{len(pred.timestamps)} predicted spans"
        )


def _match_entries_without_id(
    by_video: dict[str, list[PredictedParagraph]],
    paragraphs: Sequence,
    positions: dict[str, list[int]],
    video_sentences: dict[str, int],
    matched: dict,
    source: str,
) -> None:
    """Into ``matched``: the spans of each video's entries without id, concatenated in file order, given to
    that video's paragraphs by release position."""
    of_video: dict[str, list] = {}
    for p in paragraphs:
        of_video.setdefault(p.video, []).append(p)
    for video, entries in by_video.items():
        spans = [span for e in entries for span in e.timestamps]
        said = [s for e in entries for s in (e.sentences or [None] * len(e.timestamps))]
        if len(spans) != video_sentences[video]:
            raise InputError(
                f"{source}: {len(entries)} entries without 'id' for video {video!r} predict {len(spans)} spans, "
                f"but the annotation file gives that video {video_sentences[video]} sentences (one span each, "
                "in the file's order)"
            )
        for paragraph in of_video[video]:
            if paragraph.id in matched:
                raise InputError(f"{source}: paragraph {paragraph.id!r} is predicted by id and by video {video!r}")
            matched[paragraph.id] = [(spans[k], said[k]) for k in positions[paragraph.id]]


def _release_positions(paragraphs: Sequence) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Release position of each paragraph's sentences (by id) and each video's sentence count.

    Paragraphs that do not record them (a contract paragraph file) count in file order.
    """
    positions, counts = {}, {}
    for p in paragraphs:
        if p.positions is None:
            first = counts.get(p.video, 0)
            positions[p.id] = list(range(first, first + len(p.sentences)))
            counts[p.video] = first + len(p.sentences)
        else:
            positions[p.id] = p.positions
            counts[p.video] = p.video_sentences
    return positions, counts


def _checked_spans(matched: dict, paragraphs: Sequence, source: str, clamp: bool) -> list[list[tuple[float, float]]]:
    """Per paragraph, the predicted spans (clamped to its video if ``clamp``); predicted sentences must be the
    annotated ones."""
    clamped = 0
    result = []
    for p in paragraphs:
        spans = []
        for k, ((start, end), said) in enumerate(matched[p.id]):
            if said is not None and said.strip() != p.sentences[k]:
                raise InputError(
                    f"{source}: paragraph {p.id!r} (video {p.video!r}) sentence {k}: the predictions say "
                    f"{said.strip()!r} but the annotation is {p.sentences[k]!r}; predictions must follow the "
                    "annotation file's sentence order"
                )
            if start > end:
                raise InputError(
                    f"{source}: paragraph {p.id!r} sentence {k}: reversed span (start {start} > end {end})"
                )
            inside = (min(max(start, 0.0), p.duration), min(max(end, 0.0), p.duration))
            clamped += inside != (start, end)
            spans.append(inside if clamp else (start, end))
        result.append(spans)
    if clamped:
        log.info(
            "%s: %s %d predicted spans reaching outside [0, duration] of their video",
            source,
            "clamped" if clamp else "kept as given (no clamping)",
            clamped,
        )
    return result


def check_thresholds(thresholds: Sequence[float]) -> None:
    """IoU thresholds m of R@m lie in (0, 1]: at 0 or below every sentence is a hit, above 1 none, at NaN none."""
    outside = [m for m in thresholds if not 0 < m <= 1]  # NaN fails both comparisons
    if outside:
        raise InputError(f"--iou {' '.join(f'{m:g}' for m in outside)}: an IoU threshold lies in (0, 1]")


def recall_and_miou(ious: np.ndarray, thresholds: Sequence[float], hit_rule: str = "ge") -> dict[str, float]:
    """R@m for each threshold and mIoU, in percent, from per-sentence IoUs ``(N,)``; ``hit_rule`` of HIT_RULES."""
    if ious.size == 0:
        raise InputError("no sentences to score")
    if hit_rule not in HIT_RULES:
        raise InputError(f"unknown hit rule {hit_rule!r}; known: {', '.join(HIT_RULES)}")
    check_thresholds(thresholds)

    def hits(m: float) -> np.ndarray:
        return ious >= m - HIT_TOLERANCE if hit_rule == "ge" else ious > m

    metrics = {f"R@{m:g}": float(100.0 * np.mean(hits(m))) for m in thresholds}
    metrics["mIoU"] = float(100.0 * np.mean(ious))
    return metrics


def score(
    predictions: Sequence[PredictedParagraph],
    paragraphs: Sequence,
    thresholds: Sequence[float],
    source: str = "predictions",
    hit_rule: str = "ge",
    clamp: bool = True,
) -> dict:
    """Score predictions against annotated paragraphs; returns the metrics dict of ``metrics.json``.

    ``clamp=False`` scores the predicted spans and the release's annotated spans as given (PRVG's way).
    """
    # torch here only: the thresholds and hit rules above are read by the command line without it
    import torch

    from hscnet.spans import overlap_over_hull

    matched = match_predictions(predictions, paragraphs, source, clamp)
    pred = torch.tensor([span for spans in matched for span in spans], dtype=torch.float64)  # (N, 2)
    released = all(p.release_timestamps is not None for p in paragraphs)
    if not clamp and not released:
        log.warning(
            "scoring %s with --no-clamp against a prepared annotation file: its spans were clamped to the video "
            "when it was made; to score the release's spans as given (PRVG's way), pass the release file and its "
            "--format",
            source,
        )
    annotated = [p.timestamps if clamp or p.release_timestamps is None else p.release_timestamps for p in paragraphs]
    gt = torch.tensor([span for spans in annotated for span in spans], dtype=torch.float64)  # (N, 2)
    durations = torch.tensor([p.duration for p in paragraphs for _ in p.timestamps], dtype=torch.float64)[:, None]
    metrics = recall_and_miou(overlap_over_hull(pred / durations, gt / durations).numpy(), thresholds, hit_rule)
    metrics.update(
        iou_thresholds=[float(m) for m in thresholds],
        hit_rule=convention(hit_rule, clamp, released),
        convention={"hit_rule": hit_rule, "clamp": clamp},
        num_paragraphs=len(paragraphs),
        num_sentences=len(gt),
    )
    return metrics
