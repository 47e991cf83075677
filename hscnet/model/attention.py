"""Attention: scaled dot-product multi-head attention [28], its cosine variant of eqs. (1)-(2),
the multi-modal layer of sec. 3.3, and the standard self-/cross-attention block of [28].

Masks follow the batch contract: True = valid token. Attention runs through
``F.scaled_dot_product_attention`` with a boolean mask and without dropout on the attention
weights, which lets PyTorch use its fused kernel: activations grow linearly, not quadratically,
with the 512-clip TACoS sequences (the (B, h, N, N) weights are never stored).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def feed_forward(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """Two-layer MLP of [28]: (..., dim) -> (..., dim)."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, dim))


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

    def _split(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # (B, h, N, D/h)

    def forward(self, query: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        """query (B, N_Q, D) attends over memory (B, N_K, D) with memory_mask (B, N_K) -> (B, N_Q, D)."""
        q, k, v = self._split(self.query(query)), self._split(self.key(memory)), self._split(self.value(memory))
        scale = None  # 1 / sqrt(D/h) of [28]
        if self.cosine:
            # Unit vectors make q.k the cosine of eq. (1); dividing q by sigma gives its sharpness.
            q = F.normalize(q, dim=-1) / self.log_sigma.exp()
            k = F.normalize(k, dim=-1)
            scale = 1.0
        hidden = F.scaled_dot_product_attention(q, k, v, attn_mask=memory_mask[:, None, None, :], scale=scale)
        return self.out(hidden.transpose(1, 2).flatten(2))


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
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        """x (B, N_Q, D), memory (B, N_K, D), memory_mask (B, N_K) -> (B, N_Q, D)."""
        x = self.norm_attention(x + self.dropout(self.attention(x, memory, memory_mask)))
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
        self.dropout = nn.Dropout(dropout)

    def forward(self, video: Tensor, video_mask: Tensor, text: Tensor, text_mask: Tensor) -> tuple[Tensor, Tensor]:
        """video (B, N_V, D), text (B, N_Q, D), masks (B, N_V) / (B, N_Q) -> (video', text')."""
        n_v = video.shape[1]
        m = torch.cat([self.proj_video(video), self.proj_text(text)], dim=1)  # M (B, N_V + N_Q, D)
        mask = torch.cat([video_mask, text_mask], dim=1)
        h = self.norm_attention(m + self.dropout(self.attention(m, m, mask)))  # H, eq. (2)
        h_video, h_text = h[:, :n_v], h[:, n_v:]
        video = self.norm_video(h_video + self.dropout(self.mlp_video(h_video)))
        text = self.norm_text(h_text + self.dropout(self.mlp_text(h_text)))
        return video, text
