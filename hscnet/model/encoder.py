"""Feature encoders (sec. 3.2), the hierarchical multi-modal encoder (sec. 3.3) and the
visual-to-textual semantic aggregation (eqs. 5-6)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hscnet.model.attention import AttentionLayer, MultiModalLayer
from hscnet.model.config import ModelConfig


def sinusoidal_positions(length: int, dim: int) -> Tensor:
    """(length, dim) sinusoidal position table of [28]."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal position codes [28]: forward(n) -> (n, D) for positions 0..n-1."""

    def __init__(self, max_positions: int, dim: int):
        super().__init__()
        self.register_buffer("table", sinusoidal_positions(max_positions, dim), persistent=False)

    def forward(self, n: int) -> Tensor:
        if n > self.table.shape[0]:
            raise ValueError(f"sequence of {n} tokens exceeds ModelConfig.max_positions={self.table.shape[0]}")
        return self.table[:n]


class FeatureEncoder(nn.Module):
    """Linear projection to D, then a stack of self-attention layers [28] (F^V or F^W, sec. 3.2).

    LayerNorm after the projection puts raw C3D activations (large, unnormalised) and GloVe
    vectors on the scale of the position codes added next.
    """

    def __init__(self, in_dim: int, cfg: ModelConfig):
        super().__init__()
        self.projection = nn.Linear(in_dim, cfg.hidden_dim)
        self.norm = nn.LayerNorm(cfg.hidden_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            AttentionLayer(cfg.hidden_dim, cfg.num_heads, cfg.ffn_dim, cfg.dropout) for _ in range(cfg.feature_layers)
        )

    def forward(self, features: Tensor, mask: Tensor, positions: Tensor) -> Tensor:
        """features (B, N, D_in), mask (B, N), positions (N, D) -> (B, N, D)."""
        x = self.dropout(self.norm(self.projection(features)) + positions)
        for layer in self.layers:
            x = layer(x, x, mask)
        return x


def pool_groups(tokens: Tensor, group: Tensor, num_groups: int) -> Tensor:
    """Mean of the tokens of each group (eq. 3): tokens (B, N, D), group (B, N) long in
    [0, num_groups) or -1 for padding -> (B, num_groups, D); empty groups give zeros."""
    one_hot = (group[..., None] == torch.arange(num_groups, device=group.device)).to(tokens.dtype)  # (B, N, G)
    total = one_hot.transpose(1, 2) @ tokens  # (B, G, D)
    return total / one_hot.sum(1).clamp(min=1)[..., None]


def aggregate(
    text: Tensor, video: Tensor, video_mask: Tensor, tau: float, clip_positions: Tensor
) -> tuple[Tensor, Tensor]:
    """Visual-to-textual semantic aggregation, eqs. (5)-(6), plus where the query attends.

    text (B, N_Q, D), video (B, N_V, D), video_mask (B, N_V), clip_positions (N_V, D) ->
    A (B, N_Q, N_V) similarity logits with -inf on padded clips,
    g (B, N_Q, 3D) = [Q_bar; Softmax(A) V_bar; Softmax(A) P]. The last part is not in eq. (6): the
    attention-weighted clip position codes hand the decoder *where* the matched clips are, which it
    otherwise has to untangle from V_bar (hscnet/DESIGN.md, "Training recipe choices").
    """
    text = F.normalize(text, dim=-1)
    video = F.normalize(video, dim=-1)
    logits = (text @ video.transpose(1, 2) / tau).masked_fill(~video_mask[:, None, :], float("-inf"))
    weights = logits.softmax(-1)  # (B, N_Q, N_V)
    return logits, torch.cat([text, weights @ video, weights @ clip_positions], dim=-1)


class HierarchicalEncoder(nn.Module):
    """Word-, sentence- and paragraph-level visual-textual encoders, bottom-up (sec. 3.3).

    Levels missing from ``cfg.levels`` have no modules: without the word level the sentence
    level pools and attends over the feature-encoder words F^W and re-encodes F^V.

    Clip positions are added to the video tokens entering every multi-modal layer (as DETR adds
    them at every layer), not only at the input, so that the similarity A can depend on time; the
    decoder reads *where* the matched clips are from the Softmax(A) P part of g (``aggregate``).
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
        video_mask: Tensor,
        clip_positions: Tensor,
        text: Tensor,
        text_mask: Tensor,
    ) -> tuple[Tensor, Tensor]:
        for layer in layers:
            video, text = layer(video + clip_positions, video_mask, text, text_mask)
        return video, text

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Batch of the contract -> {"align_<level>": A (B, N_Q, N_V), "g_<level>": g (B, N_Q, 3D)}
        for each enabled level, with N_Q = N_W, N_S and 1 for word, sentence and paragraph."""
        video_mask, word_mask, sentence_mask = batch["video_mask"], batch["word_mask"], batch["sentence_mask"]
        tau, out = self.cfg.tau, {}
        clip_positions = self.positions(video_mask.shape[1])  # (N_V, D)
        video = self.video_encoder(batch["video"], video_mask, clip_positions)  # F^V (B, N_V, D)
        words = self.text_encoder(batch["words"], word_mask, self.positions(word_mask.shape[1]))  # F^W (B, N_W, D)

        if "word" in self.cfg.levels:
            video, words = self._run(self.word_layers, video, video_mask, clip_positions, words, word_mask)
            out["align_word"], out["g_word"] = aggregate(words, video, video_mask, tau, clip_positions)

        pooled = pool_groups(words, batch["word_sentence"], sentence_mask.shape[1])  # Omega^VS, eq. (3)
        sentences = self.sentence_query(pooled, words, word_mask)  # Q^VS(0), eq. (4)
        video = self.sentence_video(video, video, video_mask)  # V^VS(0)
        video, sentences = self._run(self.sentence_layers, video, video_mask, clip_positions, sentences, sentence_mask)
        out["align_sentence"], out["g_sentence"] = aggregate(sentences, video, video_mask, tau, clip_positions)

        if "paragraph" in self.cfg.levels:
            pooled = pool_groups(sentences, torch.where(sentence_mask, 0, -1), 1)  # sentence pooling (B, 1, D)
            paragraph = self.paragraph_query(pooled, sentences, sentence_mask)  # Q^VP(0)
            video = self.paragraph_video(video, video, video_mask)  # V^VP(0)
            paragraph_mask = torch.ones_like(sentence_mask[:, :1])  # one paragraph token, always valid
            video, paragraph = self._run(
                self.paragraph_layers, video, video_mask, clip_positions, paragraph, paragraph_mask
            )
            out["align_paragraph"], out["g_paragraph"] = aggregate(paragraph, video, video_mask, tau, clip_positions)
        return out
