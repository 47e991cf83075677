"""Batch collation of the data contract and the synthetic paragraphs used by the model tests."""

import pytest
import torch

from hscnet.model import collate_paragraphs, validate_batch
from hscnet.model.synthetic import synthetic_paragraph


def test_collate_pads_and_masks():
    batch = collate_paragraphs(
        [
            dict(
                video=torch.ones(3, 4),
                words=torch.ones(2, 5),
                word_sentence=torch.tensor([0, 1]),
                spans=torch.tensor([[0.0, 0.5], [0.5, 1.0]]),
            ),
            dict(
                video=torch.ones(1, 4),
                words=torch.ones(3, 5),
                word_sentence=torch.tensor([0, 0, 0]),
                spans=torch.tensor([[0.2, 0.4]]),
            ),
        ]
    )
    assert batch["video"].shape == (2, 3, 4) and batch["words"].shape == (2, 3, 5)
    assert batch["video_mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["word_mask"].tolist() == [[True, True, False], [True, True, True]]
    assert batch["word_sentence"].tolist() == [[0, 1, -1], [0, 0, 0]]
    assert batch["sentence_mask"].tolist() == [[True, True], [True, False]]
    assert batch["spans"][1, 1].tolist() == [0.0, 0.0]
    assert batch["word_sentence"].dtype == torch.long and batch["video_mask"].dtype == torch.bool
    validate_batch(batch, require_spans=True)


def test_collate_without_spans_counts_sentences_from_words():
    batch = collate_paragraphs(
        [dict(video=torch.ones(2, 4), words=torch.ones(3, 5), word_sentence=torch.tensor([0, 1, 2]))]
    )
    assert "spans" not in batch and batch["sentence_mask"].shape == (1, 3)
    with pytest.raises(ValueError, match="lacks"):
        validate_batch(batch, require_spans=True)


def test_synthetic_spans_are_ordered_disjoint_and_on_the_clip_grid():
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        sample = synthetic_paragraph(g, 10, [1, 2, 3, 1, 2], video_dim=6, word_dim=4)
        spans = sample["spans"]
        assert (spans[:, 1] > spans[:, 0]).all()  # at least one clip long
        assert (spans[1:, 0] >= spans[:-1, 1]).all()  # ordered, no overlap
        assert torch.allclose(spans * 10, (spans * 10).round())
        assert sample["word_sentence"].tolist() == [0, 1, 1, 2, 2, 2, 3, 4, 4]
    with pytest.raises(ValueError, match="cannot plant 6 disjoint spans in 10 clips"):
        synthetic_paragraph(g, 10, [1] * 6, video_dim=6, word_dim=4)
