"""Random paragraphs with planted spans, for the model's tests and benchmark (no real data needed).

Each sentence i gets a random "topic" vector added to its words and the matching "event" vector,
topic @ P, added to the clips inside its span. P is one fixed random matrix for all paragraphs of
given dimensions, so what a sentence looks like in the video can be learned and carries over to
unseen paragraphs.
"""

from __future__ import annotations

import torch
from torch import Tensor


def topic_to_event(video_dim: int, word_dim: int) -> Tensor:
    """(word_dim, video_dim) the fixed map P from a sentence's topic to its visual event."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(word_dim, video_dim, generator=generator) / word_dim**0.5


def synthetic_paragraph(
    generator: torch.Generator,
    num_clips: int,
    sentence_lengths: list[int],
    video_dim: int,
    word_dim: int,
    signal: float = 2.0,
) -> dict[str, Tensor]:
    """One paragraph in the per-sample format of ``collate_paragraphs``.

    Spans are temporally ordered, non-overlapping, at least one clip long and on the clip grid:
    video (num_clips, video_dim), words (N_W, word_dim), word_sentence (N_W,), spans (N_S, 2).
    """
    num_sentences = len(sentence_lengths)
    if num_clips + 1 < 2 * num_sentences or min(sentence_lengths, default=0) < 1:
        raise ValueError(
            f"cannot plant {num_sentences} disjoint spans in {num_clips} clips, or a sentence has no words"
        )
    # Distinct sorted cut points on the clip grid, paired up into ordered disjoint segments.
    cuts = torch.randperm(num_clips + 1, generator=generator)[: 2 * num_sentences].sort().values.view(-1, 2)
    spans = cuts.float() / num_clips  # (N_S, 2)
    video = torch.randn(num_clips, video_dim, generator=generator)
    word_sentence = torch.repeat_interleave(torch.arange(num_sentences), torch.tensor(sentence_lengths))
    words = torch.randn(len(word_sentence), word_dim, generator=generator)
    projection = topic_to_event(video_dim, word_dim)
    for i, (start, end) in enumerate(cuts.tolist()):
        topic = signal * torch.randn(word_dim, generator=generator)
        words[word_sentence == i] += topic
        video[start:end] += topic @ projection
    return {"video": video, "words": words, "word_sentence": word_sentence, "spans": spans}
