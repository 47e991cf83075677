"""The model batch of the project's data contract: padding (collation) and validation.

Batch (masks True = valid): video (B, N_V, D_v) float; video_mask (B, N_V) bool; words (B, N_W, D_w)
float; word_mask (B, N_W) bool; word_sentence (B, N_W) long, -1 on padding; sentence_mask (B, N_S)
bool; spans (B, N_S, 2) float normalised (start, end), 0 on padding (only needed for losses).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

MODEL_KEYS = ("video", "video_mask", "words", "word_mask", "word_sentence", "sentence_mask")


def collate_paragraphs(samples: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Pad per-paragraph tensors into one batch.

    Each sample: video (N_V, D_v), words (N_W, D_w), word_sentence (N_W,) sentence index of each
    word (non-decreasing), and optionally spans (N_S, 2) normalised. N_S is taken from spans when
    given, else from word_sentence.
    """
    if not samples:
        raise ValueError("collate_paragraphs: no samples")

    def mask(lengths: list[int]) -> Tensor:
        return torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]

    num_sentences = [len(s["spans"]) if "spans" in s else int(s["word_sentence"].max()) + 1 for s in samples]
    batch = {
        "video": pad_sequence([s["video"].float() for s in samples], batch_first=True),
        "video_mask": mask([len(s["video"]) for s in samples]),
        "words": pad_sequence([s["words"].float() for s in samples], batch_first=True),
        "word_mask": mask([len(s["words"]) for s in samples]),
        "word_sentence": pad_sequence([s["word_sentence"].long() for s in samples], batch_first=True, padding_value=-1),
        "sentence_mask": mask(num_sentences),
    }
    if all("spans" in s for s in samples):
        batch["spans"] = pad_sequence([s["spans"].float() for s in samples], batch_first=True)
    return batch


def validate_batch(batch: dict[str, Tensor], require_spans: bool = False) -> None:
    """Raise ValueError naming the first way ``batch`` breaks the contract."""
    keys = MODEL_KEYS + (("spans",) if require_spans else ())
    missing = [k for k in keys if k not in batch]
    if missing:
        raise ValueError(f"model batch lacks {missing}")
    _check_shapes(batch)
    _check_masks(batch)
    _check_word_sentence(batch["word_sentence"], batch["word_mask"], batch["sentence_mask"])
    if "spans" in batch:
        spans = batch["spans"][batch["sentence_mask"]]
        if not torch.isfinite(spans).all() or (spans < 0).any() or (spans > 1).any():
            raise ValueError("batch['spans'] must be normalised to [0, 1]")
        if (spans[:, 0] > spans[:, 1]).any():
            raise ValueError("batch['spans'] has a span with start > end")


def _check_shapes(batch: dict[str, Tensor]) -> None:
    video, words, sentence_mask = batch["video"], batch["words"], batch["sentence_mask"]
    if video.dim() != 3 or words.dim() != 3:
        raise ValueError(f"video and words must be (B, N, D); got {tuple(video.shape)} and {tuple(words.shape)}")
    b, n_v, _ = video.shape
    n_w, n_s = words.shape[1], sentence_mask.shape[-1]
    expected = {
        "video_mask": (b, n_v),
        "words": (b, n_w, words.shape[2]),
        "word_mask": (b, n_w),
        "word_sentence": (b, n_w),
        "sentence_mask": (b, n_s),
    }
    if "spans" in batch:
        expected["spans"] = (b, n_s, 2)
    for key, shape in expected.items():
        if tuple(batch[key].shape) != shape:
            raise ValueError(f"batch[{key!r}] has shape {tuple(batch[key].shape)}, expected {shape}")


def _check_masks(batch: dict[str, Tensor]) -> None:
    for key in ("video_mask", "word_mask", "sentence_mask"):
        m = batch[key]
        if m.dtype != torch.bool:
            raise ValueError(f"batch[{key!r}] must be bool, got {m.dtype}")
        if not m.any(1).all():
            raise ValueError(f"batch[{key!r}]: a paragraph has no valid entry")
        # Positions, LSTM packing and word regrouping assume the padding comes last.
        prefix = torch.arange(m.shape[1], device=m.device) < m.sum(1, keepdim=True)
        if not torch.equal(m, prefix):
            raise ValueError(f"batch[{key!r}]: padding must follow the valid entries")


def _check_word_sentence(word_sentence: Tensor, word_mask: Tensor, sentence_mask: Tensor) -> None:
    n_s = sentence_mask.shape[-1]
    if ((word_sentence >= 0) != word_mask).any():
        raise ValueError("batch['word_sentence'] must be >= 0 exactly on valid words and -1 on padding")
    if (word_sentence >= n_s).any():
        raise ValueError(f"batch['word_sentence'] refers to a sentence >= N_S={n_s}")
    if (word_sentence[:, 1:] < word_sentence[:, :-1])[word_mask[:, 1:]].any():
        raise ValueError("batch['word_sentence'] must be non-decreasing (words in paragraph order)")
    counts = (word_sentence[..., None] == torch.arange(n_s, device=word_sentence.device)).sum(1)  # (B, N_S)
    if (counts[sentence_mask] == 0).any():
        raise ValueError("batch: a valid sentence has no words")
    if (counts[~sentence_mask] > 0).any():
        raise ValueError("batch: words refer to a padded sentence")
