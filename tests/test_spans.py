"""Span functions on hand-computed values."""

import pytest
import torch

from hscnet.spans import (
    clip_mask_in_spans,
    generalized_temporal_iou,
    normalized_to_seconds,
    span_hull,
    spans_from_logits,
    temporal_iou,
)


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


def test_temporal_iou_hand_values():
    a = t([0.1, 0.4], [0.0, 0.2], [0.2, 0.6], [0.3, 0.3])
    b = t([0.2, 0.6], [0.4, 0.5], [0.2, 0.6], [0.0, 1.0])
    # overlap 0.2 / union 0.5; disjoint; identical; a point inside a span has no length.
    assert torch.allclose(temporal_iou(a, b), t(0.4, 0.0, 1.0, 0.0))
    assert torch.allclose(temporal_iou(b, a), temporal_iou(a, b))


def test_generalized_iou_hand_values():
    a = t([0.1, 0.4], [0.0, 0.2], [0.2, 0.6], [0.0, 0.1])
    b = t([0.2, 0.6], [0.4, 0.5], [0.2, 0.6], [0.9, 1.0])
    # hull 0.5, union 0.5 -> GIoU = IoU; disjoint: 0 - (0.5 - 0.3) / 0.5; far apart: 0 - 0.8 / 1.0.
    assert torch.allclose(generalized_temporal_iou(a, b), t(0.4, -0.4, 1.0, -0.8))


def test_generalized_iou_has_gradient_when_disjoint():
    a = t(0.0, 0.2).requires_grad_()
    generalized_temporal_iou(a, t(0.4, 0.5)).backward()
    assert a.grad[1] > 0  # moving the end towards the other span raises GIoU


def test_spans_from_logits_valid_and_invertible_values():
    logits = torch.tensor([[0.0, 0.0], [-50.0, 50.0], [50.0, -50.0], [3.0, -7.0]])
    spans = spans_from_logits(logits)
    assert torch.allclose(spans[0], t(0.5, 0.75))  # sigmoid(0) = 0.5, then halfway to 1
    assert torch.allclose(spans[1], t(0.0, 1.0), atol=1e-6)
    assert ((spans >= 0) & (spans <= 1)).all() and (spans[:, 0] <= spans[:, 1]).all()
    random = spans_from_logits(torch.randn(1000, 2) * 10)
    assert ((random >= 0) & (random <= 1)).all() and (random[:, 0] <= random[:, 1]).all()


def test_seconds_conversion():
    spans = t([[0.25, 0.75]], [[0.0, 1.0]])
    duration = t([12.0], [10.0])  # (B, 1): one duration per video, broadcast over its spans
    assert torch.allclose(normalized_to_seconds(spans, duration), t([[3.0, 9.0]], [[0.0, 10.0]]))
    assert torch.allclose(normalized_to_seconds(t(0.25, 0.75), 12.0), t(3.0, 9.0))


def test_span_hull_ignores_masked_spans():
    spans = t([[0.3, 0.4], [0.1, 0.2], [0.0, 1.0]], [[0.5, 0.6], [0.2, 0.9], [0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, False]])
    assert torch.allclose(span_hull(spans, mask, dim=1), t([0.1, 0.4], [0.2, 0.9]))


def test_clip_mask_in_spans_hand_cases():
    spans = t([[0.25, 0.5], [0.3, 0.3], [0.9, 1.0]], [[0.0, 1.0], [0.5, 0.55], [0.0, 0.0]])
    num_clips = torch.tensor([4, 2])  # clip i covers [i/n, (i+1)/n]
    mask = clip_mask_in_spans(spans, num_clips, max_clips=4)
    expected = torch.tensor(
        [
            [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]],  # clip 1 exactly; a point in clip 1; the last clip
            [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]],  # padded clips 2-3 never count
        ],
        dtype=torch.bool,
    )
    assert torch.equal(mask, expected)


@pytest.mark.parametrize("num_clips", [7, 100, 300, 512])
def test_clip_mask_of_grid_spans_is_exact(num_clips):
    """A span (a/n, b/n) on the clip grid covers exactly clips a..b-1, despite float32 rounding."""
    a, b = torch.meshgrid(torch.arange(num_clips), torch.arange(1, num_clips + 1), indexing="ij")
    keep = a < b
    a, b = a[keep], b[keep]
    spans = torch.stack([a / num_clips, b / num_clips], -1).float()[None]  # (1, Q, 2)
    mask = clip_mask_in_spans(spans, torch.tensor([num_clips]), num_clips)[0]  # (Q, n)
    index = torch.arange(num_clips)
    expected = (index >= a[:, None]) & (index < b[:, None])
    assert torch.equal(mask, expected)


@pytest.mark.parametrize("fn", [temporal_iou, generalized_temporal_iou])
def test_iou_broadcasts_over_leading_dims(fn):
    a = spans_from_logits(torch.randn(3, 5, 2))
    assert fn(a, a).shape == (3, 5)
    assert torch.allclose(fn(a[0], a[0]), fn(a, a)[0])
