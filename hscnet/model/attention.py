"""Attention: scaled dot-product multi-head attention [28], its cosine variant of eqs. (1)-(2),
the multi-modal layer of sec. 3.3, and the standard self-/cross-attention block of [28].

Tokens are packed rows (``hscnet.model.packing``): every layer takes the real tokens of the batch,
paragraph after paragraph, and each paragraph's length; query segment i attends over memory segment
i only, so no work is spent on padding. Attention runs through ``F.scaled_dot_product_attention``
without a mask and without dropout on the attention weights, which lets PyTorch use its fused
kernel: activations grow linearly, not quadratically, with the 512-clip TACoS sequences (the
(h, N, N) weights are never stored).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hscnet.model.dropout import Dropout
from hscnet.model.packing import deinterleave, interleave


def feed_forward(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """Two-layer MLP of [28]: (..., dim) -> (..., dim)."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), Dropout(dropout), nn.Linear(hidden, dim))


class MultiHeadAttention(nn.Module):
    """Multi-head attention [28]; with ``sigma_init`` the cosine scores of eqs. (1)-(2).

    Cosine form, per head: s_ij = <phi(M_i), rho(M_j)> / (|phi(M_i)| |rho(M_j)|) / sigma and
    H = Softmax(s) psi(M), where phi, rho, psi are ``self.query``, ``self.key``, ``self.value``.
    sigma is one learned positive scalar per layer (the paper's "scalar parameter"), stored as
    its log. ``self.out`` is the usual output projection W^O of multi-head attention [28].
    """

    def __init__(self, dim: int, heads: int, sigma_init: float | None = None):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)  # phi in eq. (1)
        self.key = nn.Linear(dim, dim)  # rho in eq. (1)
        self.value = nn.Linear(dim, dim)  # psi in eq. (2)
        self.out = nn.Linear(dim, dim)
        self.cosine = sigma_init is not None
        if self.cosine:
            self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma_init)))

    def _heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.heads, -1))  # (K, h, D/h)

    def forward(self, query: Tensor, memory: Tensor, query_lengths: list[int], memory_lengths: list[int]) -> Tensor:
        """Packed query rows (K_Q, D) and memory rows (K_M, D); query segment i (``query_lengths``)
        attends over memory segment i (``memory_lengths``) -> (K_Q, D)."""
        q, k, v = self._heads(self.query(query)), self._heads(self.key(memory)), self._heads(self.value(memory))
        scale = None  # 1 / sqrt(D/h) of [28]
        if self.cosine:
            # Unit vectors make q.k the cosine of eq. (1); dividing q by sigma gives its sharpness.
            q = F.normalize(q, dim=-1) / self.log_sigma.exp()
            k = F.normalize(k, dim=-1)
            scale = 1.0
        return self.out(segment_attention(q, k, v, query_lengths, memory_lengths, scale).flatten(1))


def segment_attention(
    q: Tensor, k: Tensor, v: Tensor, query_lengths: list[int], memory_lengths: list[int], scale: float | None
) -> Tensor:
    """Softmax attention per segment: q (K_Q, h, d), k and v (K_M, h, d) -> (K_Q, h, d)."""
    if len(set(query_lengths)) == 1 and len(set(memory_lengths)) == 1:  # equal lengths: one batched call
        b = len(query_lengths)
        q, k, v = (x.unflatten(0, (b, -1)).transpose(1, 2) for x in (q, k, v))  # (B, h, N, d)
        return F.scaled_dot_product_attention(q, k, v, scale=scale).transpose(1, 2).flatten(0, 1)
    segments = zip(q.split(query_lengths), k.split(memory_lengths), v.split(memory_lengths), strict=True)
    hidden = [
        F.scaled_dot_product_attention(qs.transpose(0, 1), ks.transpose(0, 1), vs.transpose(0, 1), scale=scale)
        for qs, ks, vs in segments
    ]  # each (h, n_Q, d)
    return torch.cat([h.transpose(0, 1) for h in hidden])


class AttentionLayer(nn.Module):
    """Post-norm attention block of [28]: x = LN(x + MHA(x, memory)), then LN(x + FFN(x)).

    Self-attention when ``memory`` is ``x`` (the video layers of sec. 3.3); cross-attention
    otherwise (eq. 4), where the residual keeps the pooled query token Omega in the output.
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.attention = MultiHeadAttention(dim, heads)
        self.norm_attention = nn.LayerNorm(dim)
        self.ffn = feed_forward(dim, ffn_dim, dropout)
        self.norm_ffn = nn.LayerNorm(dim)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, memory: Tensor, x_lengths: list[int], memory_lengths: list[int]) -> Tensor:
        """Packed rows x (K_Q, D) and memory (K_M, D) with their segment lengths -> (K_Q, D)."""
        x = self.norm_attention(x + self.dropout(self.attention(x, memory, x_lengths, memory_lengths)))
        return self.norm_ffn(x + self.dropout(self.ffn(x)))


class MultiModalLayer(nn.Module):
    """One multi-modal layer of the hierarchical encoder (sec. 3.3).

    M = [proj_v(V); proj_q(Q)] (concatenation and projection), H = LN(M + attn(M)) with the
    cosine attention of eqs. (1)-(2), then two unshared modality-specific MLPs:
    V' = LN(H_V + MLP_V(H_V)), Q' = LN(H_Q + MLP_Q(H_Q)). Residuals and LayerNorm follow [28].
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float, sigma_init: float):
        super().__init__()
        self.proj_video = nn.Linear(dim, dim)
        self.proj_text = nn.Linear(dim, dim)
        self.attention = MultiHeadAttention(dim, heads, sigma_init)
        self.norm_attention = nn.LayerNorm(dim)
        self.mlp_video = feed_forward(dim, ffn_dim, dropout)
        self.mlp_text = feed_forward(dim, ffn_dim, dropout)
        self.norm_video = nn.LayerNorm(dim)
        self.norm_text = nn.LayerNorm(dim)
        self.dropout = Dropout(dropout)

    def forward(
        self, video: Tensor, video_lengths: list[int], text: Tensor, text_lengths: list[int]
    ) -> tuple[Tensor, Tensor]:
        """Packed rows video (K_V, D) and text (K_Q, D) of the same paragraphs -> (video', text')."""
        m = interleave(self.proj_video(video), video_lengths, self.proj_text(text), text_lengths)  # M per paragraph
        lengths = [n_v + n_q for n_v, n_q in zip(video_lengths, text_lengths, strict=True)]
        h = self.norm_attention(m + self.dropout(self.attention(m, m, lengths, lengths)))  # H, eq. (2)
        h_video, h_text = deinterleave(h, video_lengths, text_lengths)
        video = self.norm_video(h_video + self.dropout(self.mlp_video(h_video)))
        text = self.norm_text(h_text + self.dropout(self.mlp_text(h_text)))
        return video, text
