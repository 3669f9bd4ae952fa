"""The skeleton branch of a fusion adapter: pretrained (frozen or fine-tuned) or fresh.

Frozen: `ssl_skel.evaluation.api.load_encoder(path)` (eval mode, no gradients); the
adapter keeps its underlying encoder so checkpoints store it under "encoder.".
Fine-tuned: the encoder rebuilt from the checkpoint with its weights loaded strictly.
No checkpoint: a freshly built encoder from `skeleton.encoder` (tests need no pretraining).
"""
from __future__ import annotations

from dataclasses import asdict

from ssl_skel.config import ConfigError
from ssl_skel.models.encoders import build_encoder, encoder_params
from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder
from ssl_skel.models.fusion.config import SkeletonBranchConfig


def build_skeleton_branch(cfg: SkeletonBranchConfig, spec: InputSpec) -> SkeletonEncoder:
    """The encoder for data of `spec`; a pretrained one must fit its joints and channels."""
    if not cfg.checkpoint:
        return build_encoder(cfg.encoder.name, cfg.encoder.params, spec)
    from ssl_skel.evaluation.api import encoder_from_checkpoint, load_encoder

    encoder = load_encoder(cfg.checkpoint).encoder if cfg.freeze else encoder_from_checkpoint(cfg.checkpoint)[0]
    have = encoder.spec
    if (have.layout, have.in_channels, have.num_persons) != (spec.layout, spec.in_channels, spec.num_persons):
        raise ConfigError(
            f"skeleton.checkpoint: {cfg.checkpoint} was trained on {have.layout} C={have.in_channels} "
            f"M={have.num_persons}; the fusion data is {spec.layout} C={spec.in_channels} M={spec.num_persons}"
        )
    return encoder


def encoder_entry(encoder: SkeletonEncoder, name: str) -> dict:
    """The checkpoint's "encoder" entry, so `load_encoder` works on fusion checkpoints too."""
    return {"name": name, "params": encoder_params(encoder), "spec": asdict(encoder.spec), "prefix": "encoder."}
