"""Feature encoders (sec. 3.2), the hierarchical multi-modal encoder (sec. 3.3) and the
visual-to-textual semantic aggregation (eqs. 5-6)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hscnet.model.attention import AttentionLayer, MultiModalLayer
from hscnet.model.config import ModelConfig
from hscnet.model.dropout import Dropout
from hscnet.model.packing import lengths, paragraph_rows, segment_mean, sentence_sizes, unpack


def sinusoidal_positions(length: int, dim: int) -> Tensor:
    """(length, dim) sinusoidal position table of [28]."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal position codes [28]: forward(lengths) -> (sum(lengths), D), positions
    0..n-1 of each paragraph's n tokens, packed."""

    def __init__(self, max_positions: int, dim: int):
        super().__init__()
        self.register_buffer("table", sinusoidal_positions(max_positions, dim), persistent=False)

    def forward(self, lengths: list[int]) -> Tensor:
        longest = max(lengths)
        if longest > self.table.shape[0]:
            raise ValueError(f"sequence of {longest} tokens exceeds ModelConfig.max_positions={self.table.shape[0]}")
        return paragraph_rows(self.table, lengths)


class FeatureEncoder(nn.Module):
    """Linear projection to D, then a stack of self-attention layers [28] (F^V or F^W, sec. 3.2).

    LayerNorm after the projection puts raw C3D activations (large, unnormalised) and GloVe
    vectors on the scale of the position codes added next.
    """

    def __init__(self, in_dim: int, cfg: ModelConfig):
        super().__init__()
        self.projection = nn.Linear(in_dim, cfg.hidden_dim)
        self.norm = nn.LayerNorm(cfg.hidden_dim)
        self.dropout = Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            AttentionLayer(cfg.hidden_dim, cfg.num_heads, cfg.ffn_dim, cfg.dropout) for _ in range(cfg.feature_layers)
        )

    def forward(self, features: Tensor, lengths: list[int], positions: Tensor) -> Tensor:
        """Packed rows: features (K, D_in) of paragraphs of ``lengths``, positions (K, D) -> (K, D)."""
        x = self.dropout(self.norm(self.projection(features)) + positions)
        for layer in self.layers:
            x = layer(x, x, lengths, lengths)
        return x


def aggregate(
    text: Tensor, text_mask: Tensor, video: Tensor, video_mask: Tensor, tau: float, clip_positions: Tensor
) -> tuple[Tensor, Tensor]:
    """Visual-to-textual semantic aggregation, eqs. (5)-(6), plus where the query attends.

    Packed rows text (K_Q, D) of the queries of ``text_mask`` (B, N_Q), video (K_V, D) and
    clip_positions (K_V, D) of the clips of ``video_mask`` (B, N_V) ->
    A (B, N_Q, N_V) similarity logits with -inf on padded clips (rows of padded queries are zeros on
    the clips), and packed g (K_Q, 3D) = [Q_bar; Softmax(A) V_bar;
    Softmax(A) P]. The last part is not in eq. (6): the attention-weighted clip position codes hand
    the decoder *where* the matched clips are, which it otherwise has to untangle from V_bar
    (hscnet/DESIGN.md, "Training recipe choices").
    """
    text_lengths, video_lengths = lengths(text_mask), lengths(video_mask)
    text, video = F.normalize(text, dim=-1), F.normalize(video, dim=-1)
    paragraphs = zip(
        text.split(text_lengths), video.split(video_lengths), clip_positions.split(video_lengths), strict=True
    )
    logits, g = [], []
    for query, clips, positions in paragraphs:
        a = query @ clips.T / tau  # (n_Q, n_V)
        weights = a.softmax(-1)
        logits.append(F.pad(a, (0, video_mask.shape[1] - len(clips))))  # padded clips: -inf below
        g.append(torch.cat([query, weights @ clips, weights @ positions], dim=-1))
    padded = unpack(torch.cat(logits), text_mask).masked_fill(~video_mask[:, None, :], float("-inf"))
    return padded, torch.cat(g)


class HierarchicalEncoder(nn.Module):
    """Word-, sentence- and paragraph-level visual-textual encoders, bottom-up (sec. 3.3).

    Levels missing from ``cfg.levels`` have no modules: without the word level the sentence
    level pools and attends over the feature-encoder words F^W and re-encodes F^V.

    Clip positions are added to the video tokens entering every multi-modal layer (as DETR adds
    them at every layer), not only at the input, so that the similarity A can depend on time; the
    decoder reads *where* the matched clips are from the Softmax(A) P part of g (``aggregate``).
    All tokens are packed rows (``hscnet.model.packing``): no layer computes on padding.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d, h, f, p = cfg.hidden_dim, cfg.num_heads, cfg.ffn_dim, cfg.dropout

        def multimodal_stack(depth: int) -> nn.ModuleList:
            return nn.ModuleList(MultiModalLayer(d, h, f, p, cfg.sigma_init) for _ in range(depth))

        self.positions = SinusoidalPositions(cfg.max_positions, d)
        self.video_encoder = FeatureEncoder(cfg.video_dim, cfg)
        self.text_encoder = FeatureEncoder(cfg.word_dim, cfg)
        if "word" in cfg.levels:
            self.word_layers = multimodal_stack(cfg.word_layers)
        self.sentence_query = AttentionLayer(d, h, f, p)  # cross-attention of eq. (4)
        self.sentence_video = AttentionLayer(d, h, f, p)  # self-attention on the video
        self.sentence_layers = multimodal_stack(cfg.sentence_layers)
        if "paragraph" in cfg.levels:
            self.paragraph_query = AttentionLayer(d, h, f, p)
            self.paragraph_video = AttentionLayer(d, h, f, p)
            self.paragraph_layers = multimodal_stack(cfg.paragraph_layers)

    @staticmethod
    def _run(
        layers: nn.ModuleList,
        video: Tensor,
        video_lengths: list[int],
        clip_positions: Tensor,
        text: Tensor,
        text_lengths: list[int],
    ) -> tuple[Tensor, Tensor]:
        for layer in layers:
            video, text = layer(video + clip_positions, video_lengths, text, text_lengths)
        return video, text

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Batch of the contract -> {"align_<level>": A (B, N_Q, N_V), "g_<level>": packed g (K_Q, 3D)}
        for each enabled level, with N_Q = N_W, N_S and 1 (K_Q = the batch's words, sentences and
        paragraphs) for word, sentence and paragraph."""
        video_mask, word_mask, sentence_mask = batch["video_mask"], batch["word_mask"], batch["sentence_mask"]
        n_v, n_w, n_s = lengths(video_mask), lengths(word_mask), lengths(sentence_mask)
        out = {}
        clip_positions = self.positions(n_v)  # (K_V, D)

        def align(text: Tensor, text_mask: Tensor, video: Tensor) -> tuple[Tensor, Tensor]:
            return aggregate(text, text_mask, video, video_mask, self.cfg.tau, clip_positions)

        video = self.video_encoder(batch["video"][video_mask], n_v, clip_positions)  # F^V (K_V, D)
        words = self.text_encoder(batch["words"][word_mask], n_w, self.positions(n_w))  # F^W (K_W, D)

        if "word" in self.cfg.levels:
            video, words = self._run(self.word_layers, video, n_v, clip_positions, words, n_w)
            out["align_word"], out["g_word"] = align(words, word_mask, video)

        pooled = segment_mean(words, sentence_sizes(batch["word_sentence"], sentence_mask))  # Omega^VS, eq. (3)
        sentences = self.sentence_query(pooled, words, n_s, n_w)  # Q^VS(0), eq. (4)
        video = self.sentence_video(video, video, n_v, n_v)  # V^VS(0)
        video, sentences = self._run(self.sentence_layers, video, n_v, clip_positions, sentences, n_s)
        out["align_sentence"], out["g_sentence"] = align(sentences, sentence_mask, video)

        if "paragraph" in self.cfg.levels:
            paragraph_mask = torch.ones_like(sentence_mask[:, :1])  # one paragraph token, always valid
            one = lengths(paragraph_mask)
            pooled = segment_mean(sentences, n_s)  # sentence pooling (B, D)
            paragraph = self.paragraph_query(pooled, sentences, one, n_s)  # Q^VP(0)
            video = self.paragraph_video(video, video, n_v, n_v)  # V^VP(0)
            video, paragraph = self._run(self.paragraph_layers, video, n_v, clip_positions, paragraph, one)
            out["align_paragraph"], out["g_paragraph"] = align(paragraph, paragraph_mask, video)
        return out
