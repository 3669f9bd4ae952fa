"""UMDR's parameters (`params:` of a fusion preset with `adapter: umdr`); release values in the comments."""

from __future__ import annotations

from dataclasses import dataclass

from ssl_skel.core.config import check


@dataclass(frozen=True)
class UMDRParams:
    widths: tuple[int, ...] = (16, 32, 64)  # spatial CNN stages; one RCM after each
    dim: int = 64  # token width (release 512)
    heads: int = 4
    dim_head: int = 16  # heads * dim_head must equal dim (cross-attention adds x to LN(out))
    mlp_dim: int = 96  # FFN width (release 768 = 1.5 * 512)
    dropout: float = 0.1  # transformer / FFN dropout (release emb_dropout 0.1)
    depth: int = 3  # temporal transformer depth per branch (release N = 6); >= len(widths)
    topk: float = 0.7  # kept share of keys per query
    rate_factor: int = 2  # branch frame rates k F / rate_factor, k = 1, 2, 3
    rcm_dim_head: int = 16
    temp_start: float = 0.04
    temp_end: float = 0.07
    temp_warmup: float = 0.3  # share of training over which the logit temperature rises
    branch_weight: float = 0.5  # loss_lamdb [1, 0.5, 0.5, 0.5]
    distill_weight: float = 0.2
    distill_temperature: float = 0.6
    distill_warmup: float = 0.05  # share of training without distillation (release 5 of 100 epochs)
    scc_depth: int = 2
    tcc_depth: int = 4
    mixup_alpha: float = 0.8  # 0 = no mixup when ShuffleMix is not drawn
    shufflemix_prob: float = 0.2
    shufflemix_alpha: float = 0.3
    smoothing: float = 0.1
    use_skeleton: bool = False

    def __post_init__(self) -> None:
        check(len(self.widths) >= 1 and self.dim >= 1 and self.heads >= 1, "widths, dim, heads must be positive")
        check(self.heads * self.dim_head == self.dim, "heads * dim_head must equal dim")
        check(self.depth >= len(self.widths), "depth must be >= len(widths) (one distillation target per RCM)")
        check(0.0 < self.topk <= 1.0 and self.rate_factor >= 1, "topk in (0, 1], rate_factor >= 1")
        check(0.0 <= self.dropout < 1.0 and self.mlp_dim >= 1, "dropout in [0, 1), mlp_dim >= 1")
        check(self.temp_start > 0 and self.temp_end > 0 and self.distill_temperature > 0, "temperatures > 0")
        check(0.0 <= self.temp_warmup <= 1.0 and 0.0 <= self.distill_warmup <= 1.0, "warm-up shares in [0, 1]")
        check(min(self.branch_weight, self.distill_weight) >= 0, "loss weights must be >= 0")
        check(self.scc_depth >= 0 and self.tcc_depth >= 0, "scc_depth, tcc_depth >= 0")
        check(0.0 <= self.shufflemix_prob <= 1.0 and self.shufflemix_alpha > 0, "shufflemix_prob in [0, 1], alpha > 0")
        check(self.mixup_alpha >= 0 and 0.0 <= self.smoothing < 1.0, "mixup_alpha >= 0, smoothing in [0, 1)")
