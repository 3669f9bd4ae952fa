"""Skeleton encoders, registered by name in `ssl_skel.core.registry.ENCODERS`.

Importing this package imports every module in it (`import_submodules`), so each encoder
registers itself and a new encoder file needs no import line here.
"""

from __future__ import annotations

from ssl_skel.core.registry import ENCODERS, import_submodules
from ssl_skel.models.encoders.base import InputSpec, SkeletonEncoder


def build_encoder(name: str, params: dict, spec: InputSpec) -> SkeletonEncoder:
    """Encoder `name` with `params` (validated against its params dataclass) for `spec`.

    Raises ConfigError naming the unknown encoder or the bad parameter key.
    """
    entry = ENCODERS.get(name)
    validated = ENCODERS.validate_params(name, dict(params or {}), source=f"encoder {name!r}", section="model")
    return entry.cls(spec, validated)


__all__ = ["InputSpec", "SkeletonEncoder", "build_encoder", "ENCODERS"]

import_submodules(__name__)  # every encoder module registers itself
