"""Priors that ignore the video, scored by the same code as the model (``hscnet baseline``).

- ``uniform``: the paragraph's N sentences spread evenly over the video, sentence i (0-based) at
  [i * d / N, (i + 1) * d / N] for duration d. It uses only what VPG gives for free (the sentences are
  in temporal order) and is the bar a model must clear to show it reads the video.
- ``whole``: every sentence spans the whole video, [0, d].
"""

from __future__ import annotations

from collections.abc import Sequence

from hscnet.errors import InputError

BASELINES = ("uniform", "whole")


def baseline_spans(kind: str, num_sentences: int, duration: float) -> list[list[float]]:
    """(start, end) seconds of each of ``num_sentences`` sentences under the prior ``kind``."""
    if kind == "uniform":
        step = duration / num_sentences
        return [[i * step, (i + 1) * step] for i in range(num_sentences)]
    if kind == "whole":
        return [[0.0, duration] for _ in range(num_sentences)]
    raise InputError(f"unknown baseline {kind!r}; known: {', '.join(BASELINES)}")


def baseline_predictions(kind: str, paragraphs: Sequence) -> list[dict]:
    """Predictions-file entries (see ``hscnet.metrics``) of the prior ``kind`` for every paragraph."""
    return [
        {
            "id": p.id,
            "video": p.video,
            "duration": p.duration,
            "sentences": list(p.sentences),
            "timestamps": baseline_spans(kind, len(p.sentences), p.duration),
        }
        for p in paragraphs
    ]
