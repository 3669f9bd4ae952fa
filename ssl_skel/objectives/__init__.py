"""Training methods (SSL objectives and the supervised head), registered by name.

Importing this package imports every module in it (`import_submodules`), so each method
registers itself in `ssl_skel.core.registry.OBJECTIVES` and a new method file needs no import
line here; `build_method` is the one way the rest of the toolkit builds a method from a config.
"""

from __future__ import annotations

from dataclasses import is_dataclass

from ssl_skel.core.config import ConfigError
from ssl_skel.core.registry import OBJECTIVES, import_submodules
from ssl_skel.models.encoders.base import SkeletonEncoder
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

import_submodules(__name__)  # every method module registers itself
