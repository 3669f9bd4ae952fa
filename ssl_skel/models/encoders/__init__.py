"""Skeleton encoders, registered by name in `ssl_skel.core.registry.ENCODERS`.

Importing this package imports every encoder module so each one registers itself.
"""

from __future__ import annotations

from ssl_skel.core.registry import ENCODERS
from ssl_skel.models.encoders import (  # noqa: F401  (registers "ctrgcn", "stgcn", "multistream")
    ctrgcn,
    multistream,
    stgcn,
    unified,  # noqa: F401  (registers "unified")
)
from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder


def build_encoder(name: str, params: dict, spec: InputSpec) -> SkeletonEncoder:
    """Encoder `name` with `params` (validated against its params dataclass) for `spec`.

    Raises ConfigError naming the unknown encoder or the bad parameter key.
    """
    entry = ENCODERS.get(name)
    validated = ENCODERS.validate_params(name, dict(params or {}), source=f"encoder {name!r}", section="model")
    return entry.cls(spec, validated)


__all__ = ["InputSpec", "SkeletonEncoder", "build_encoder", "ENCODERS"]
