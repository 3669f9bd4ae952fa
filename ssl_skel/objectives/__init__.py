"""Training methods (SSL objectives and the supervised head), registered by name.

Importing this package imports every method module so each one registers itself in
`ssl_skel.core.registry.OBJECTIVES`; `build_method` is the one way the rest of the toolkit
builds a method from a config.
"""

from __future__ import annotations

from dataclasses import is_dataclass

from ssl_skel.core.config import ConfigError
from ssl_skel.core.registry import OBJECTIVES
from ssl_skel.models.encoders.base import SkeletonEncoder
from ssl_skel.objectives import skeletonclr, supervised, threestream, umurl  # noqa: F401  (register themselves)
from ssl_skel.objectives.base import Method


def build_method(name: str, params: dict, encoder: SkeletonEncoder, num_classes: int | None = None) -> Method:
    """Method `name` around `encoder`, `params` validated against its params dataclass.

    `params` is a mapping (from a config) or an instance of the method's params class.
    Raises ConfigError naming the unknown method (with the known ones) or the bad key
    (`objective.params.<key>`).
    """
    entry = OBJECTIVES.get(name)
    if is_dataclass(params) and isinstance(params, entry.params):
        validated = params
    elif params is None or isinstance(params, dict):
        validated = OBJECTIVES.validate_params(name, dict(params or {}), source=f"method {name!r}", section="objective")
    else:
        raise ConfigError(f"objective.params: expected a mapping for method {name!r}, got {params!r}")
    return entry.cls(encoder, validated, num_classes=num_classes)


__all__ = ["Method", "OBJECTIVES", "build_method"]
