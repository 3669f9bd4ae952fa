"""UmURL's unified multi-modal skeleton encoder (Sun et al., ACM MM 2023).

Why one encoder for three modalities: joint, bone and motion streams are embedded
separately and fused early, so one transformer serves them all at roughly the cost of a
single-stream model, and the same weights also embed each modality alone.

Design (followed from the paper and the authors' public code, HuiGuanLab/UmURL, `umurl.py`):
- Two token streams per clip `x: (N, C, T, V, M)`:
  temporal tokens, one per frame, holding all persons' joints `(N, T, M*V*C)`;
  spatial tokens, one per (person, joint), holding that joint's trajectory `(N, M*V, T*C)`.
- Per modality (joint, bone, motion) and per stream a small embedding MLP
  Linear -> LayerNorm -> ReLU -> Linear to width `hidden_size`.
- "fused": the three modality embeddings are averaged, then a bias-free Linear per stream.
- One modality-agnostic transformer per stream, shared by all modalities: post-norm layers
  (LayerNorm after each residual, ReLU feed-forward of width `ffn_size`, the authors'
  `dim_feedforward = d_model`), sinusoidal positions on the temporal stream only.
- Max-pooling over tokens in each stream and concatenation: a `2 * hidden_size` feature.
- Defaults = the authors' NTU settings: hidden 1024, 1 head, 1 layer, no dropout. With the
  UmURL objective's three projectors (2048-2048-4096) the model has ~72M parameters.

Where this differs:
- Bone and motion come from the shared layout declarations (ssl_skel.data.modalities), so any
  layout works (25/20/17 joints, 2D or 3D, one or two persons).
- Speed: the attention layer uses one fused QKV projection (and
  F.scaled_dot_product_attention on CUDA); and `forward_streams` runs every requested stream
  (fused and single modalities, possibly of different augmented views) through ONE
  batched transformer call per token stream, concatenated along the batch axis, and each
  modality's embedding MLP once over all views that need it. The authors run the
  transformer once per modality.
- Fewer FLOPs, same function: with one head the attention's four projections are folded
  into two (d, d) products (`TransformerLayer.merged_attention`: 4 instead of 6 d^2 per
  token), and at inference the fused stream's three embedding outputs are folded into the
  fusion layer (`UnifiedEncoder._fold`). Both are exact algebra (tests compare outputs and
  gradients with the unfolded computation); only float rounding differs.
- Positions are a non-persistent buffer built from `clip_length` (not saved in weights).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ssl_skel.core.config import check
from ssl_skel.core.registry import ENCODERS
from ssl_skel.data.modalities import to_modality
from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder

SINGLE_MODALITIES = ("joint", "bone", "motion")


@dataclass(frozen=True)
class UnifiedParams:
    """Width and depth of the unified encoder (defaults: the UmURL paper's)."""

    hidden_size: int = 1024
    num_heads: int = 1
    num_layers: int = 1
    ffn_size: int = 0  # 0: equal to hidden_size, as in the authors' code
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check(
            self.hidden_size >= 1 and self.num_heads >= 1 and self.num_layers >= 1,
            "hidden_size, num_heads and num_layers must be >= 1",
        )
        check(self.hidden_size % self.num_heads == 0, "hidden_size must be divisible by num_heads")
        check(self.ffn_size >= 0, "ffn_size must be >= 0 (0 = hidden_size)")
        check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """(length, dim) sine/cosine table of "Attention is all you need" (Vaswani et al. 2017)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table


class TokenEmbedding(nn.Module):
    """Linear -> LayerNorm -> ReLU -> Linear: raw token values -> hidden width."""

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.inp = nn.Linear(in_features, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, hidden)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (B, L, in_features) -> the activations before the last Linear."""
        return F.relu(self.norm(self.inp(tokens)), inplace=not torch.is_grad_enabled())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (B, L, in_features) -> (B, L, hidden)."""
        return self.out(self.hidden(tokens))


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v for q, k, v: (B, heads, L, d).

    On CUDA: F.scaled_dot_product_attention (flash kernels). On CPU the explicit products
    are faster at these shapes (one head of width 1024, 50-64 tokens; BENCHMARKS.md).
    """
    if q.is_cuda:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    weights = torch.matmul(q, k.transpose(-2, -1)).mul_(q.shape[-1] ** -0.5).softmax(dim=-1)
    return torch.matmul(F.dropout(weights, dropout) if dropout else weights, v)


class TransformerLayer(nn.Module):
    """Post-norm transformer layer (as torch.nn.TransformerEncoderLayer, norm_first=False).

    x = LN1(x + Attn(x)); x = LN2(x + W2 relu(W1 x)). One fused QKV projection keeps the
    work in a few large matrix products.

    With one head (the paper's setting) and no attention dropout, the four attention
    projections are folded into two (d, d) products per call (`merged_attention`), the same
    function in fewer FLOPs: 4 instead of 6 d^2 multiply-adds per token, at a cost of
    2 d^3 per call for the folded weights (6 d^3 with their gradients), so it is used when
    a call has at least `merge_min_tokens` tokens (default: d).
    """

    merge_min_tokens: int | None = None  # None: the layer's width (where folding starts to pay)

    def __init__(self, dim: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.ff1 = nn.Linear(dim, ffn)
        self.ff2 = nn.Linear(ffn, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        # torch's MultiheadAttention initialisation: Xavier input projection, zero biases
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.zeros_(self.qkv.bias)
        nn.init.zeros_(self.proj.bias)

    def use_merged(self, x: torch.Tensor) -> bool:
        b, length, dim = x.shape
        attention_dropout = self.dropout if self.training else 0.0
        least = dim if self.merge_min_tokens is None else self.merge_min_tokens
        return self.heads == 1 and attention_dropout == 0.0 and not x.is_cuda and b * length >= least

    def plain_attention(self, x: torch.Tensor) -> torch.Tensor:
        """proj(softmax(q k^T / sqrt(d_head)) v) per head, q, k, v from the fused projection."""
        b, length, dim = x.shape
        h = self.heads
        # unbind (not qkv[i]) along the QKV axis of the projection's own layout: its
        # backward stacks the three gradients straight into that layout, one copy
        q, k, v = (t.transpose(1, 2) for t in self.qkv(x).view(b, length, 3, h, dim // h).unbind(2))
        att = attention(q, k, v, self.dropout if self.training else 0.0)
        return self.proj(att.transpose(1, 2).reshape(b, length, dim))

    def merged_attention(self, x: torch.Tensor) -> torch.Tensor:
        """The one-head attention of `plain_attention` with its projections folded (exact algebra).

        scores_ij = (Wq x_i + bq).(Wk x_j + bk) / sqrt(d)
                  = x_i' G x_j + c_j + (terms constant in j, which softmax over j ignores),
          G = Wq' Wk / sqrt(d), c_j = x_j.(Wk' bq) / sqrt(d);
        out_i = Wo sum_j a_ij (Wv x_j + bv) + bo = sum_j a_ij (M x_j) + (Wo bv + bo), M = Wo Wv,
        since each row of a sums to 1 (no attention dropout). bk only enters the terms softmax
        ignores: its gradient is exactly zero, which it receives here as well.
        """
        b, length, dim = x.shape
        scale = dim**-0.5
        wq, wk, wv = self.qkv.weight.view(3, dim, dim).unbind(0)
        bq, bk, bv = self.qkv.bias.view(3, dim).unbind(0)
        g = (wq.t() @ wk).mul_(scale)  # (d, d)
        m_t = wv.t() @ self.proj.weight.t()  # M' (d, d)
        flat = x.reshape(b * length, dim)
        key_bias = (flat @ ((wk.t() @ bq) * scale)).view(b, 1, length) + bk.sum() * 0.0
        scores = torch.baddbmm(key_bias, (flat @ g).view(b, length, dim), x.transpose(1, 2))
        weights = scores.softmax(dim=-1)
        out_bias = torch.addmv(self.proj.bias, self.proj.weight, bv)
        values = torch.addmm(out_bias, flat, m_t).view(b, length, dim)
        return torch.bmm(weights, values)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, L, dim) -> (B, L, dim)."""
        att = self.merged_attention(x) if self.use_merged(x) else self.plain_attention(x)
        if not torch.is_grad_enabled() and not (self.training and self.dropout):
            # inference: the same values with fewer fresh (B, L, d) buffers
            x = self.norm1(att.add_(x))
            return self.norm2(self.ff2(F.relu(self.ff1(x), inplace=True)).add_(x))
        x = self.norm1(x + self.drop(att))
        return self.norm2(x + self.drop(self.ff2(self.drop(F.relu(self.ff1(x))))))


class TokenTransformer(nn.Module):
    """A stack of layers then max-pooling over tokens: (B, L, dim) -> (B, dim)."""

    def __init__(self, dim: int, heads: int, layers: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TransformerLayer(dim, heads, ffn, dropout) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x.amax(dim=1)


@ENCODERS.register("unified", params=UnifiedParams)
class UnifiedEncoder(SkeletonEncoder):
    """Joint, bone and motion fused early into one spatio-temporal transformer (UmURL).

    `forward_modalities(x, names)` and `forward_streams([(name, x), ...])` return
    (N, 2 * hidden_size) features; "fused" is the unified multi-modal embedding.
    """

    modalities = ("fused",) + SINGLE_MODALITIES

    def __init__(self, spec: InputSpec, params: UnifiedParams) -> None:
        super().__init__(spec)
        self.params = params
        d = params.hidden_size
        ffn = params.ffn_size or d
        c, t, v, m = spec.in_channels, spec.clip_length, self.layout.num_joints, spec.num_persons
        self.temporal_embed = nn.ModuleDict({k: TokenEmbedding(m * v * c, d) for k in SINGLE_MODALITIES})
        self.spatial_embed = nn.ModuleDict({k: TokenEmbedding(t * c, d) for k in SINGLE_MODALITIES})
        self.temporal_fuse = nn.Linear(d, d, bias=False)
        self.spatial_fuse = nn.Linear(d, d, bias=False)
        self.temporal = TokenTransformer(d, params.num_heads, params.num_layers, ffn, params.dropout)
        self.spatial = TokenTransformer(d, params.num_heads, params.num_layers, ffn, params.dropout)
        self.register_buffer("positions", sinusoidal_positions(t, d), persistent=False)
        self.dim = 2 * d

    # ------------------------------------------------------------------ input
    def check_input(self, x: torch.Tensor) -> None:
        """Also checks T: spatial tokens hold a joint's whole trajectory (T*C values)."""
        super().check_input(x)
        if x.shape[2] != self.spec.clip_length:
            raise ValueError(
                f"unified encoder built for clips of T={self.spec.clip_length} frames "
                f"(spatial tokens hold T*C values), got T={x.shape[2]}; "
                f"resample clips to data.clip_length={self.spec.clip_length}"
            )
        if not x.is_floating_point():
            raise ValueError(f"expected floating-point joint coordinates, got dtype {x.dtype}")

    @staticmethod
    def _tokens(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (N, C, T, V, M) -> temporal (N, T, M*V*C) and spatial (N, M*V, T*C) tokens."""
        n, c, t, v, m = x.shape
        temporal = x.permute(0, 2, 4, 3, 1).reshape(n, t, m * v * c)
        spatial = x.permute(0, 4, 3, 2, 1).reshape(n, m * v, t * c)
        return temporal, spatial

    def _embed(self, modality: str, clips: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One embedding MLP call per stream over all clips that need `modality`."""
        x = torch.cat(clips) if len(clips) > 1 else clips[0]
        temporal, spatial = self._tokens(to_modality(x, modality, self.layout))
        temporal = self.temporal_embed[modality](temporal)
        spatial = self.spatial_embed[modality](spatial)
        sizes = [clip.shape[0] for clip in clips]
        return list(zip(temporal.split(sizes), spatial.split(sizes)))

    @staticmethod
    def _fuse(layer: nn.Linear, parts: list[torch.Tensor]) -> torch.Tensor:
        """layer(mean(parts)), with the 1/3 folded into the (small) weight: one fewer full pass."""
        total = parts[0] + parts[1]
        for part in parts[2:]:
            total = total.add_(part)
        return F.linear(total, layer.weight * (1.0 / len(parts)))

    # ------------------------------------------------------------------ forward
    fold_min_tokens: int | None = None  # None: 3 * hidden_size tokens per call (where folding starts to pay)

    def _folds(self, streams: Sequence[tuple[str, torch.Tensor]]) -> bool:
        """Fold the fused stream's embedding outputs into the fusion layer (inference only, large calls)."""
        if torch.is_grad_enabled() or not any(name == "fused" for name, _ in streams):
            return False
        tokens = sum(x.shape[0] for name, x in streams if name == "fused") * self.spec.clip_length
        least = 3 * self.params.hidden_size if self.fold_min_tokens is None else self.fold_min_tokens
        return tokens >= least

    @staticmethod
    def _fold(hidden: list[torch.Tensor], embeds: list[TokenEmbedding], fuse: nn.Linear) -> torch.Tensor:
        """fuse(mean_k out_k(h_k)) as sum_k h_k (Wf W_k / 3)' + Wf mean_k b_k: one d^2 per token fewer.

        The same linear map (exact algebra, float rounding aside); its weights cost 3 d^3 per call.
        """
        w = fuse.weight * (1.0 / len(hidden))
        bias = w @ sum(e.out.bias for e in embeds)
        shape = hidden[0].shape
        out = None
        for h, e in zip(hidden, embeds):
            flat = h.reshape(-1, shape[-1])
            weight_t = (w @ e.out.weight).t()
            out = torch.addmm(bias, flat, weight_t) if out is None else out.addmm_(flat, weight_t)
        return out.view(shape)

    def _streams_folded(self, streams: Sequence[tuple[str, torch.Tensor]]) -> tuple[list, list]:
        """Token sequences of each stream, fused ones folded (`_fold`); embeddings shared per clip."""
        hidden: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}

        def get(modality: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if (modality, id(x)) not in hidden:
                temporal, spatial = self._tokens(to_modality(x, modality, self.layout))
                hidden[modality, id(x)] = (
                    self.temporal_embed[modality].hidden(temporal),
                    self.spatial_embed[modality].hidden(spatial),
                )
            return hidden[modality, id(x)]

        temporal_seq, spatial_seq = [], []
        for name, x in streams:
            if name == "fused":
                parts = [get(k, x) for k in SINGLE_MODALITIES]
                t_embeds = [self.temporal_embed[k] for k in SINGLE_MODALITIES]
                s_embeds = [self.spatial_embed[k] for k in SINGLE_MODALITIES]
                temporal_seq.append(self._fold([p[0] for p in parts], t_embeds, self.temporal_fuse))
                spatial_seq.append(self._fold([p[1] for p in parts], s_embeds, self.spatial_fuse))
            else:
                ht, hs = get(name, x)
                temporal_seq.append(self.temporal_embed[name].out(ht))
                spatial_seq.append(self.spatial_embed[name].out(hs))
        return temporal_seq, spatial_seq

    def _streams_batched(self, streams: Sequence[tuple[str, torch.Tensor]]) -> tuple[list, list]:
        """Token sequences of each stream; each modality's embedding runs once over all clips needing it."""
        clips: dict[int, torch.Tensor] = {}
        wanted: dict[str, list[int]] = {k: [] for k in SINGLE_MODALITIES}
        for name, x in streams:
            clips[id(x)] = x
            for modality in SINGLE_MODALITIES if name == "fused" else (name,):
                if id(x) not in wanted[modality]:
                    wanted[modality].append(id(x))
        embedded: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}
        for modality, keys in wanted.items():
            if keys:
                for key, pair in zip(keys, self._embed(modality, [clips[k] for k in keys])):
                    embedded[modality, key] = pair

        temporal_seq, spatial_seq = [], []
        for name, x in streams:
            if name == "fused":
                parts = [embedded[k, id(x)] for k in SINGLE_MODALITIES]
                temporal_seq.append(self._fuse(self.temporal_fuse, [p[0] for p in parts]))
                spatial_seq.append(self._fuse(self.spatial_fuse, [p[1] for p in parts]))
            else:
                temporal_seq.append(embedded[name, id(x)][0])
                spatial_seq.append(embedded[name, id(x)][1])
        return temporal_seq, spatial_seq

    def forward_streams(self, streams: Sequence[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        """[(modality, x: (N_i, C, T, V, M)), ...] -> [(N_i, dim) features], in order.

        Different streams may use different clips (e.g. augmented views); all of them go
        through the transformers in one batched call per token stream.
        """
        if not streams:
            return []
        self.check_modalities([name for name, _ in streams])
        for _, x in streams:
            self.check_input(x)
        make = self._streams_folded if self._folds(streams) else self._streams_batched
        temporal_seq, spatial_seq = make(streams)
        temporal = torch.cat(temporal_seq) if len(streams) > 1 else temporal_seq[0]
        spatial = torch.cat(spatial_seq) if len(streams) > 1 else spatial_seq[0]
        temporal = temporal + self.positions.to(temporal.dtype)
        features = torch.cat([self.temporal(temporal), self.spatial(spatial)], dim=1)
        return list(features.split([x.shape[0] for _, x in streams]))

    def forward_modalities(self, x: torch.Tensor, modalities: Sequence[str]) -> dict[str, torch.Tensor]:
        """x: (N, C, T, V, M) -> {modality: (N, dim)}, all in one batched transformer call."""
        names = list(dict.fromkeys(modalities))
        return dict(zip(names, self.forward_streams([(name, x) for name in names])))
