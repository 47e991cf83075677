"""Hierarchical progressive decoder (sec. 3.4): paragraph, sentence and word levels, then the
final grounding from multi-level features. All spans are normalised (start, end) in [0, 1]."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from hscnet.model.attention import MultiHeadAttention
from hscnet.model.config import ModelConfig
from hscnet.model.packing import length_mask, lengths, sentence_sizes, unpack
from hscnet.spans import spans_from_logits


def span_head(in_dim: int, hidden: int) -> nn.Sequential:
    """The paper's "two-layer MLP predictor": (..., in_dim) -> (..., 2) logits for ``spans_from_logits``."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2))


class SequenceLSTM(nn.Module):
    """Bidirectional single-layer LSTM over packed sequences (eqs. 7-8).

    Bidirectional so that each sentence (word) sees the ones before and after it. Packed rows
    (K, in_dim) of consecutive sequences of ``sequence_lengths`` (each >= 1) -> (K, dim).
    """

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, dim // 2, batch_first=True, bidirectional=True)

    def forward(self, rows: Tensor, sequence_lengths: list[int]) -> Tensor:
        real = length_mask(sequence_lengths, rows.device)  # (S, L)
        packed = pack_padded_sequence(unpack(rows, real), sequence_lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=real.shape[1])  # (S, L, dim)
        return out[real]


class HierarchicalDecoder(nn.Module):
    """Coarse-to-fine decoding of the aggregated features g^P, g^S, g^W (sec. 3.4).

    Ablations (see DESIGN.md): without the paragraph level the sentence LSTM reads g^S alone;
    without the word level the final head reads g^SP alone; without the word decoder the final
    cross-attention selects from a linear projection of g^W instead of g~^WS.
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
        """Encoder outputs (packed g) and the batch -> spans (padding rows are zeros):
        paragraph_span (B, 2), sentence_spans (B, N_S, 2), word_spans (B, N_S, M, 2) with
        word_span_mask (B, N_S, M), pred_spans (B, N_S, 2) — each when its part is enabled."""
        sentence_mask = batch["sentence_mask"]  # (B, N_S)
        n_s = lengths(sentence_mask)
        out: dict[str, Tensor] = {}

        g_s = encoded["g_sentence"]  # (K_S, 3D)
        if self.use_paragraph:
            g_p = encoded["g_paragraph"]  # (B, 3D)
            if "paragraph" in self.cfg.decoders:
                out["paragraph_span"] = spans_from_logits(self.paragraph_head(self.paragraph_linear(g_p)))
            g_s = torch.cat([g_s, g_p.repeat_interleave(torch.tensor(n_s, device=g_p.device), 0)], dim=-1)
        g_sp = self.sentence_lstm(g_s, n_s)  # g^SP (K_S, D), eq. (7)
        out["sentence_spans"] = unpack(spans_from_logits(self.sentence_head(g_sp)), sentence_mask)

        if not self.use_word:
            out["pred_spans"] = unpack(spans_from_logits(self.grounding_head(g_sp)), sentence_mask)
            return out

        sizes = sentence_sizes(batch["word_sentence"], sentence_mask)  # words of each real sentence
        g_w = encoded["g_word"]  # (K_W, 3D), paragraph order = sentence after sentence
        if "word" in self.cfg.decoders:
            context = g_sp.repeat_interleave(torch.tensor(sizes, device=g_sp.device), 0)
            words = self.word_lstm(torch.cat([g_w, context], dim=-1), sizes)  # g~^WS (K_W, D), eq. (8)
            grid = length_mask(sizes, words.device)  # (K_S, M): M = the batch's longest sentence
            out["word_spans"] = unpack(unpack(spans_from_logits(self.word_head(words)), grid), sentence_mask)
            out["word_span_mask"] = unpack(grid, sentence_mask)  # (B, N_S, M)
        else:
            words = self.word_projection(g_w)  # (K_W, D)
        g_ws = self.word_selection(g_sp, words, [1] * len(sizes), sizes)  # g^WS (K_S, D)
        final = self.grounding_head(torch.cat([g_ws, g_sp], dim=-1))  # [g^WS; g^SP] -> T_hat
        out["pred_spans"] = unpack(spans_from_logits(final), sentence_mask)
        return out
