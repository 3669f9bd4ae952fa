"""UMDR: unified multimodal de- and re-coupling for RGB-D (Zhou et al., TPAMI 2023).

As the authors' code does it (zhoubenjia/MotionRGBD-PAMI: `lib/model/DSN_v2.py`,
`DTN_v2.py`, `trans_module.py`, `fusion_Net.py`, `train.py`, `train_fusion.py`,
`utils/mixup.py`):
- per modality (RGB "M", depth "K") a *decoupled* network: a spatial CNN with 2D kernels
  turns each frame into a token (average pool, LayerNorm, linear), and a temporal network
  reads the tokens at three frame rates (F/2, F, 3F/2 frames by `uniform_sampling`), each
  branch a temporal conv (kernel int(sqrt(rate))), a max-pool over 3 frames, a cls token
  with positional embedding and a transformer with top-k sparse attention (each query
  keeps its int(0.7 n) largest keys), a LayerNorm + linear head whose logits are divided
  by a temperature that goes 0.04 -> 0.07 over the first 30% of training; the modality's
  answer is the max over the three branches' logits;
- *recoupling* (`RCMModule`) after every CNN stage: per frame, channels attend to channels
  (q, k linear over time, one head per frame, dim_head 16) to re-mix the frame's maps, a
  sigmoid frame gate from LN(MLP(mean over c, h, w)) weights the frames, and a residual
  adds the input back; each RCM's gate logits, mapped to the token width, are distilled
  toward softmax(sum over branches of the temporal transformers' cls embedding at layer
  -(3 - i)) / 0.6 (not detached), weight 0.2, off for the first 5% of training;
- unimodal loss 1 CE(max) + 0.5 (CE(F/2) + CE(F) + CE(3F/2)) + 0.2 distillation, against
  mixed soft targets;
- CFCer cross-modal fusion: a joint LayerNorm over both modalities' frame tokens, then
  `scc_depth` (2) layers of [EnhanceModule gating (sigmoid MLPs on LN(cat(r, d)) scale
  each modality), cross-attention r<-d and d<-r]; the temporal features (mean of the
  branch cls features) are gated by another EnhanceModule and put in front of the tokens
  (LayerNorm, learned positional embedding); `tcc_depth` (4) layers of cross-attention
  follow; per-modality heads on token 0 give out_M, out_K. Cross-attention takes q and v
  from its own modality and k from the other, no output projection, top-k 0.7 mask,
  LN(out) + x, then a pre-norm FFN with residual;
- two stages as in the release: "unimodal" trains the decoupled networks, "fusion" trains
  CFCer alone on their features (extracted under no_grad), loss SoftCE(out_M) +
  SoftCE(out_K); the answer is (s_M + s_K + out_M + out_K) / 4;
- mixing on every training batch, per modality with independent draws and the partner
  batch reversed (x.flip(0)): with probability 0.2 ShuffleMix (lambda ~ Beta(0.3, 0.3);
  round((1 - lambda) F) random frames taken from the partner), otherwise mixup (lambda ~
  Beta(0.8, 0.8)); target lambda smooth(y) + (1 - lambda) smooth(y_partner), label
  smoothing 0.1, with the sampled lambda.

Remaining differences: tiny widths (token width 64, 4 heads x 16, FFN 96, transformer
depth 3 instead of 512, 8 x 64, 768, 6), a small 2D CNN instead of the I3D-style SMS
stem and blocks, one temporal conv instead of the temporal inception module; progress
through training (the temperature and distillation schedules) is counted in optimiser
steps of the current stage; "all" (not in the release) trains both stages' losses at
once; `use_skeleton` (not in UMDR, off by default) adds the toolkit's skeleton encoder
as a pose head trained with CE in the unimodal stage and averaged into the answer.

Shapes: rgb (N, 3, F, H, W), depth (N, 1, F, H, W) [, views[0] (N, C, T, V, M)] ->
predict {"fused", "rgb", "depth" [, "pose"]}: (N, K).

Modules: `params`, `mixing`, `attention`, `cfcer`, `decoupled`, `adapter` (the registered
`UMDR`); every name is importable from here.
"""

from __future__ import annotations

from ssl_skel.fusion.umdr.adapter import UMDR
from ssl_skel.fusion.umdr.attention import CrossAttention, FeedForward, TopKSelfAttention, Transformer, topk_softmax
from ssl_skel.fusion.umdr.cfcer import CFCer, EnhanceModule
from ssl_skel.fusion.umdr.decoupled import RCM, DecoupledNet, TemporalBranch, rcm_distillation, uniform_sampling
from ssl_skel.fusion.umdr.mixing import mix_batch, shufflemix, smooth_one_hot
from ssl_skel.fusion.umdr.params import UMDRParams

__all__ = [
    "CFCer",
    "CrossAttention",
    "DecoupledNet",
    "EnhanceModule",
    "FeedForward",
    "RCM",
    "TemporalBranch",
    "TopKSelfAttention",
    "Transformer",
    "UMDR",
    "UMDRParams",
    "mix_batch",
    "rcm_distillation",
    "shufflemix",
    "smooth_one_hot",
    "topk_softmax",
    "uniform_sampling",
]
