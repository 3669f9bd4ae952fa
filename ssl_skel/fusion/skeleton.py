"""The skeleton branch of a fusion adapter: pretrained (frozen or fine-tuned) or fresh.

Frozen: the checkpoint's encoder, put in eval mode without gradients by the adapter; the
adapter keeps it as its `encoder` so checkpoints store it under "encoder.".
Fine-tuned: the encoder rebuilt from the checkpoint with its weights loaded strictly.
No checkpoint: a freshly built encoder from `skeleton.encoder` (tests need no pretraining).
"""

from __future__ import annotations

from ssl_skel.core.checkpoint import encoder_from_checkpoint
from ssl_skel.core.config import ConfigError, SkeletonBranchConfig
from ssl_skel.models.encoders import build_encoder
from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder


def build_skeleton_branch(cfg: SkeletonBranchConfig, spec: InputSpec) -> SkeletonEncoder:
    """The encoder for data of `spec`; a pretrained one must fit its joints and channels."""
    if not cfg.checkpoint:
        return build_encoder(cfg.encoder.name, cfg.encoder.params, spec)
    encoder = encoder_from_checkpoint(cfg.checkpoint)[0]
    have = encoder.spec
    if (have.layout, have.in_channels, have.num_persons) != (spec.layout, spec.in_channels, spec.num_persons):
        raise ConfigError(
            f"skeleton.checkpoint: {cfg.checkpoint} was trained on {have.layout} C={have.in_channels} "
            f"M={have.num_persons}; the fusion data is {spec.layout} C={spec.in_channels} M={spec.num_persons}"
        )
    return encoder
