"""UMDR's attention blocks: top-k sparse softmax, pre-norm self-attention transformer, and CFCer's
cross-attention (q and v from one modality, k from the other). Shapes (B, n, D)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def topk_softmax(dots: torch.Tensor, topk: float) -> torch.Tensor:
    """Softmax over the int(topk * n) largest scores of each row, -inf elsewhere."""
    k = max(int(dots.shape[-1] * topk), 1)
    index = dots.topk(k, dim=-1).indices
    mask = torch.zeros_like(dots, dtype=torch.bool).scatter_(-1, index, True)
    return dots.masked_fill(~mask, float("-inf")).softmax(-1)


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, _ = x.shape
    return x.reshape(b, n, heads, -1).transpose(1, 2)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2, self.dropout = nn.Linear(dim, hidden), nn.Linear(hidden, dim), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(x)))))


class TopKSelfAttention(nn.Module):
    """Multi-head self-attention with the top-k mask and an output projection: (B, n, D) -> same."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float, topk: float) -> None:
        super().__init__()
        self.heads, self.scale, self.topk = heads, dim_head**-0.5, topk
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, -1))
        attn = topk_softmax(q @ k.transpose(-1, -2) * self.scale, self.topk)
        return self.to_out((attn @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1))


class Transformer(nn.Module):
    """Pre-norm layers; `forward` returns the output and each layer's token-0 (cls) embedding."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int, dropout: float, topk: float):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    nn.LayerNorm(dim),
                    TopKSelfAttention(dim, heads, dim_head, dropout, topk),
                    nn.LayerNorm(dim),
                    FeedForward(dim, mlp_dim, dropout),
                ]
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        cls = []
        for norm1, attn, norm2, ffn in self.layers:
            x = attn(norm1(x)) + x
            x = ffn(norm2(x)) + x
            cls.append(x[:, 0])
        return x, cls


class CrossAttention(nn.Module):
    """CFCer's AttentionNet: q, v from x_r, k from x_d, top-k mask, no output projection;
    out = LN(attn) + x_r, then out + FFN(LN(out)). x_r, x_d (B, n, D) -> (B, n, D)."""

    def __init__(self, dim: int, heads: int, dim_head: int, mlp_dim: int, dropout: float, topk: float) -> None:
        super().__init__()
        self.heads, self.scale, self.topk = heads, dim_head**-0.5, topk
        inner = heads * dim_head
        self.q, self.k, self.v = (nn.Linear(dim, inner, bias=False) for _ in range(3))
        self.norm = nn.LayerNorm(dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, mlp_dim, dropout)
        self.last_attention: torch.Tensor | None = None

    def forward(self, x_r: torch.Tensor, x_d: torch.Tensor) -> torch.Tensor:
        q, k = _split_heads(self.q(x_r), self.heads), _split_heads(self.k(x_d), self.heads)
        v = _split_heads(self.v(x_r), self.heads)
        attn = topk_softmax(q @ k.transpose(-1, -2) * self.scale, self.topk)
        self.last_attention = attn.detach()
        out = self.norm((attn @ v).transpose(1, 2).reshape(x_r.shape)) + x_r
        return self.ffn(self.ffn_norm(out)) + out
