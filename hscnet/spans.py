"""Temporal spans as pure tensor functions: the model's span parametrisation, seconds, IoU and GIoU.

A span is the last dimension of size 2 of a tensor, ``(start, end)``. Every function broadcasts over
leading dimensions and is differentiable where the maths is.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-6


def spans_from_logits(logits: Tensor) -> Tensor:
    """(..., 2) unconstrained head outputs (a, b) -> (..., 2) normalised (start, end).

    start = sigmoid(a), end = start + (1 - start) * sigmoid(b): always 0 <= start <= end <= 1,
    smooth and one-to-one, so no clamping cuts the gradient (unlike clamped center/width).
    """
    start = torch.sigmoid(logits[..., 0])
    end = start + (1 - start) * torch.sigmoid(logits[..., 1])
    return torch.stack([start, end], dim=-1)


def normalized_to_seconds(spans: Tensor, duration: Tensor | float) -> Tensor:
    """(..., 2) normalised spans -> seconds of ``duration`` (broadcastable to (...,))."""
    duration = torch.as_tensor(duration, dtype=spans.dtype, device=spans.device)
    return spans * duration.unsqueeze(-1)


def temporal_intersection_union(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Elementwise intersection and union lengths of (..., 2) spans ``a`` and ``b``."""
    inter = (torch.minimum(a[..., 1], b[..., 1]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    return inter, union


def temporal_iou(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise temporal IoU of (..., 2) (start, end) spans -> (...,) in [0, 1]."""
    inter, union = temporal_intersection_union(a, b)
    return inter / union.clamp(min=EPS)


def overlap_over_hull(a: Tensor, b: Tensor) -> Tensor:
    """Temporal IoU as the field's evaluation codes compute it (PRVG's ``lib/core/eval.py``, 2D-TAN's):
    overlap / hull of the two spans, (..., 2) -> (...,). It equals ``temporal_iou`` wherever the spans
    overlap and is 0 elsewhere, but rounds like those codes, so a threshold tie falls the same way.
    Scoring only: ``b`` must have positive length."""
    overlap = (torch.minimum(a[..., 1], b[..., 1]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    hull = torch.maximum(a[..., 1], b[..., 1]) - torch.minimum(a[..., 0], b[..., 0])
    return overlap / hull


def generalized_temporal_iou(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise 1-D generalised IoU [24] of (..., 2) spans -> (...,) in [-1, 1].

    GIoU = IoU - (|hull| - |union|) / |hull|, hull = smallest span covering both; unlike IoU
    it still has a gradient when the spans do not overlap.
    """
    inter, union = temporal_intersection_union(a, b)
    hull = torch.maximum(a[..., 1], b[..., 1]) - torch.minimum(a[..., 0], b[..., 0])
    return inter / union.clamp(min=EPS) - (hull - union) / hull.clamp(min=EPS)


def span_hull(spans: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Smallest span covering the ``mask``-ed spans along ``dim``.

    spans (..., K, ..., 2), mask (..., K, ...) bool with K at ``dim`` -> spans with ``dim`` removed.
    Every reduced group needs at least one True; the result is (inf, -inf) where it has none.
    """
    dim = dim % (spans.dim() - 1)
    start = spans[..., 0].masked_fill(~mask, float("inf")).amin(dim)
    end = spans[..., 1].masked_fill(~mask, float("-inf")).amax(dim)
    return torch.stack([start, end], dim=-1)


GRID_TOLERANCE = 1e-4  # in clips; float32 rounding of k / n * n


def clip_mask_in_spans(spans: Tensor, num_clips: Tensor, max_clips: int) -> Tensor:
    """Which clips overlap each normalised span.

    spans (B, Q, 2) normalised (start, end); num_clips (B,) valid clips per video, clip i covering
    [i / n, (i + 1) / n] -> (B, Q, max_clips) bool. Every span gets at least one clip (the one
    holding its start), so a zero-length span still has a target; padded clips are always False.
    """
    n = num_clips.to(spans.dtype)[:, None]  # (B, 1)
    # the tolerance keeps a span on the clip grid (k / n) from also taking the clip it only touches
    first = torch.floor(spans[..., 0] * n + GRID_TOLERANCE).clamp(min=0)
    first = torch.minimum(first, n - 1)
    last = torch.maximum(torch.ceil(spans[..., 1] * n - GRID_TOLERANCE) - 1, first)
    last = torch.minimum(last, n - 1)
    index = torch.arange(max_clips, device=spans.device, dtype=spans.dtype)  # (max_clips,)
    return (index >= first[..., None]) & (index <= last[..., None])
