"""Packed rows: the model's layers run on the real tokens of a padded batch, never on its padding.

A padded (B, N, ...) tensor and its mask (B, N) become rows (K, ...): the real tokens, paragraph after
paragraph, with the list of each paragraph's length. Row-wise layers (linear, norm, dropout, MLP)
take the rows as they are; attention and the aggregation run one paragraph at a time on its own rows.
Padded and packed layouts hold the same values on the real tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor


def lengths(mask: Tensor) -> list[int]:
    """(B, N) mask with padding last -> each row's count of real entries."""
    return mask.sum(1).tolist()


def unpack(rows: Tensor, mask: Tensor) -> Tensor:
    """Place ``rows`` (K, ...) at the True entries of ``mask`` (B, N), zeros elsewhere -> (B, N, ...)."""
    full = rows.new_zeros(*mask.shape, *rows.shape[1:])
    full[mask] = rows
    return full


def length_mask(sizes: list[int], device: torch.device) -> Tensor:
    """(S, max(sizes)) mask of the first n entries of each row: where runs of ``sizes`` rows go when padded."""
    return torch.arange(max(sizes), device=device) < torch.tensor(sizes, device=device)[:, None]


def interleave(first: Tensor, first_lengths: list[int], second: Tensor, second_lengths: list[int]) -> Tensor:
    """Two packed sets of the same paragraphs -> rows [first_0; second_0; first_1; second_1; ...]."""
    pieces = zip(first.split(first_lengths), second.split(second_lengths), strict=True)
    return torch.cat([piece for pair in pieces for piece in pair])


def deinterleave(rows: Tensor, first_lengths: list[int], second_lengths: list[int]) -> tuple[Tensor, Tensor]:
    """The inverse of ``interleave``."""
    pieces = rows.split([n for pair in zip(first_lengths, second_lengths, strict=True) for n in pair])
    return torch.cat(pieces[0::2]), torch.cat(pieces[1::2])


def segment_ids(sizes: list[int], device: torch.device) -> Tensor:
    """(K,) the segment of each row, for consecutive segments of ``sizes`` rows."""
    return torch.repeat_interleave(torch.arange(len(sizes), device=device), torch.tensor(sizes, device=device))


def segment_mean(rows: Tensor, sizes: list[int]) -> Tensor:
    """Mean of each run of consecutive rows: rows (K, D), ``sizes`` summing to K -> (len(sizes), D)."""
    total = rows.new_zeros(len(sizes), rows.shape[1]).index_add(0, segment_ids(sizes, rows.device), rows)
    return total / torch.tensor(sizes, dtype=rows.dtype, device=rows.device)[:, None]


def paragraph_rows(table: Tensor, sizes: list[int]) -> Tensor:
    """The first ``n`` rows of ``table`` for each paragraph's ``n``, packed: position codes per token."""
    return torch.cat([table[:n] for n in sizes])


def sentence_sizes(word_sentence: Tensor, sentence_mask: Tensor) -> list[int]:
    """Words of each real sentence, in paragraph order: word_sentence (B, N_W) (-1 on padding),
    sentence_mask (B, N_S) -> K_S counts."""
    sentence = torch.arange(sentence_mask.shape[1], device=word_sentence.device)
    counts = (word_sentence[..., None] == sentence).sum(1)  # (B, N_S)
    return counts[sentence_mask].tolist()
