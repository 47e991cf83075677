"""Hierarchical progressive decoder (sec. 3.4): paragraph, sentence and word levels, then the
final grounding from multi-level features. All spans are normalised (start, end) in [0, 1]."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from hscnet.model.attention import MultiHeadAttention
from hscnet.model.config import ModelConfig
from hscnet.spans import spans_from_logits


def span_head(in_dim: int, hidden: int) -> nn.Sequential:
    """The paper's "two-layer MLP predictor": (..., in_dim) -> (..., 2) logits for ``spans_from_logits``."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2))


class SequenceLSTM(nn.Module):
    """Bidirectional single-layer LSTM over padded sequences (eqs. 7-8).

    Bidirectional so that each sentence (word) sees the ones before and after it; packing makes
    the outputs independent of the padding. (K, L, in_dim), lengths (K,) >= 1 -> (K, L, dim),
    zeros past each length.
    """

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, dim // 2, batch_first=True, bidirectional=True)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out


def regroup_words(tokens: Tensor, word_sentence: Tensor, num_sentences: int) -> tuple[Tensor, Tensor]:
    """Paragraph-ordered word tokens -> tokens per sentence, padded to M = the longest sentence.

    tokens (B, N_W, C), word_sentence (B, N_W) non-decreasing sentence index, -1 on padding ->
    (B, N_S, M, C) with zeros on padding, and the mask (B, N_S, M) of real words.
    """
    b, n_w, _ = tokens.shape
    valid = word_sentence >= 0
    sentence = word_sentence.clamp(min=0)
    one_hot = (sentence[..., None] == torch.arange(num_sentences, device=tokens.device)) & valid[..., None]
    counts = one_hot.sum(1)  # (B, N_S)
    starts = counts.cumsum(1) - counts  # index of each sentence's first word
    position = torch.arange(n_w, device=tokens.device) - starts.gather(1, sentence)  # (B, N_W)
    longest = int(counts.max())
    batch_index = torch.arange(b, device=tokens.device)[:, None].expand(b, n_w)
    index = (batch_index[valid], sentence[valid], position[valid])
    grouped = tokens.new_zeros(b, num_sentences, longest, tokens.shape[-1])
    grouped[index] = tokens[valid]
    mask = torch.zeros(b, num_sentences, longest, dtype=torch.bool, device=tokens.device)
    mask[index] = True
    return grouped, mask


def scatter_rows(values: Tensor, mask: Tensor) -> Tensor:
    """Place ``values`` (K, ...) at the True entries of ``mask`` (B, N), zeros elsewhere -> (B, N, ...)."""
    full = values.new_zeros(*mask.shape, *values.shape[1:])
    full[mask] = values
    return full


class HierarchicalDecoder(nn.Module):
    """Coarse-to-fine decoding of the aggregated features g^P, g^S, g^W (sec. 3.4).

    Ablations (see DESIGN.md): without the paragraph level the sentence LSTM reads g^S alone;
    without the word level the final head reads g^SP alone; without the word decoder the final
    cross-attention selects from a linear projection of the regrouped g^W instead of g~^WS.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d, g = cfg.hidden_dim, 3 * cfg.hidden_dim  # g^l = [Q_bar; Softmax(A) V_bar; Softmax(A) P]: 3D channels
        self.use_paragraph = "paragraph" in cfg.levels
        self.use_word = "word" in cfg.levels
        if "paragraph" in cfg.decoders:
            self.paragraph_linear = nn.Linear(g, d)
            self.paragraph_head = span_head(d, d)
        self.sentence_lstm = SequenceLSTM(g + (g if self.use_paragraph else 0), d)  # eq. (7)
        self.sentence_head = span_head(d, d)
        if "word" in cfg.decoders:
            self.word_lstm = SequenceLSTM(g + d, d)  # eq. (8)
            self.word_head = span_head(d, d)
        elif self.use_word:
            self.word_projection = nn.Linear(g, d)
        if self.use_word:
            self.word_selection = MultiHeadAttention(d, cfg.num_heads)
        self.grounding_head = span_head(2 * d if self.use_word else d, d)

    def forward(self, encoded: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Encoder outputs and the batch -> spans (padding rows are zeros):
        paragraph_span (B, 2), sentence_spans (B, N_S, 2), word_spans (B, N_S, M, 2) with
        word_span_mask (B, N_S, M), pred_spans (B, N_S, 2) — each when its part is enabled."""
        sentence_mask = batch["sentence_mask"]  # (B, N_S)
        num_sentences = sentence_mask.shape[1]
        out: dict[str, Tensor] = {}

        g_s = encoded["g_sentence"]  # (B, N_S, 3D)
        if self.use_paragraph:
            g_p = encoded["g_paragraph"][:, 0]  # (B, 3D)
            if "paragraph" in self.cfg.decoders:
                out["paragraph_span"] = spans_from_logits(self.paragraph_head(self.paragraph_linear(g_p)))
            g_s = torch.cat([g_s, g_p[:, None].expand(-1, num_sentences, -1)], dim=-1)
        g_sp = self.sentence_lstm(g_s, sentence_mask.sum(1))  # g^SP (B, N_S, D), eq. (7)
        out["sentence_spans"] = spans_from_logits(self.sentence_head(g_sp)) * sentence_mask[..., None]

        if not self.use_word:
            out["pred_spans"] = spans_from_logits(self.grounding_head(g_sp)) * sentence_mask[..., None]
            return out

        # Only real sentences go through the word LSTM and the selection: a padded sentence has no words.
        g_w, word_mask = regroup_words(encoded["g_word"], batch["word_sentence"], num_sentences)  # (B, N_S, M, 3D)
        g_w, word_mask, g_sp_real = g_w[sentence_mask], word_mask[sentence_mask], g_sp[sentence_mask]  # (K, M, .)
        if "word" in self.cfg.decoders:
            context = g_sp_real[:, None].expand(-1, g_w.shape[1], -1)
            words = self.word_lstm(torch.cat([g_w, context], dim=-1), word_mask.sum(1))  # g~^WS (K, M, D), eq. (8)
            out["word_spans"] = scatter_rows(
                spans_from_logits(self.word_head(words)) * word_mask[..., None], sentence_mask
            )
            out["word_span_mask"] = scatter_rows(word_mask, sentence_mask)
        else:
            words = self.word_projection(g_w)  # (K, M, D)
        g_ws = self.word_selection(g_sp_real[:, None], words, word_mask)  # g^WS (K, 1, D)
        final = self.grounding_head(torch.cat([g_ws[:, 0], g_sp_real], dim=-1))  # [g^WS; g^SP] -> T_hat
        out["pred_spans"] = scatter_rows(spans_from_logits(final), sentence_mask)
        return out
