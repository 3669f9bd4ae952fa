"""Skeleton encoders, registered by name in `ssl_skel.registry.ENCODERS`.

Importing this package imports every encoder module so each one registers itself.
"""
from __future__ import annotations

from dataclasses import asdict

from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder
from ssl_skel.models.encoders import unified  # noqa: F401  (registers "unified")
from ssl_skel.models.encoders import ctrgcn, multistream, stgcn  # noqa: F401  (registers "ctrgcn", "stgcn", "multistream")
from ssl_skel.registry import ENCODERS


def build_encoder(name: str, params: dict, spec: InputSpec) -> SkeletonEncoder:
    """Encoder `name` with `params` (validated against its params dataclass) for `spec`.

    Raises ConfigError naming the unknown encoder or the bad parameter key.
    """
    entry = ENCODERS.get(name)
    validated = ENCODERS.validate_params(name, dict(params or {}), source=f"encoder {name!r}", section="model")
    return entry.cls(spec, validated)


def encoder_params(encoder: SkeletonEncoder) -> dict:
    """The plain-dict params an encoder was built with (for checkpoints), if it keeps them."""
    params = getattr(encoder, "params", None)
    return asdict(params) if params is not None else {}


__all__ = ["InputSpec", "SkeletonEncoder", "build_encoder", "encoder_params", "ENCODERS"]
