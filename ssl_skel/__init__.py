"""ssl_skel: self-supervised skeleton action representation learning.

The public API is re-exported here lazily, so `import ssl_skel` stays cheap.
"""

from __future__ import annotations

from typing import Any

from ssl_skel.core import registry as _registry

__version__ = "0.1.0"

# The composition root: which package fills which registry (core names no layer above it).
# Each package is imported when its registry is first read, so this costs nothing here.
_registry.ENCODERS.fill_from("ssl_skel.models.encoders")
_registry.OBJECTIVES.fill_from("ssl_skel.objectives")
_registry.ADAPTERS.fill_from("ssl_skel.fusion")

_EXPORTS = {
    "load_config": "ssl_skel.core.config",
    "Config": "ssl_skel.core.config",
    "ConfigError": "ssl_skel.core.config",
    "get_layout": "ssl_skel.data.layouts",
    "Layout": "ssl_skel.data.layouts",
    "LayoutError": "ssl_skel.data.layouts",
    "resolve_layout": "ssl_skel.data.layouts",
    "convert_arrays": "ssl_skel.data.formats.arrays",
    "open_arrays": "ssl_skel.data.sources",
    "load_encoder": "ssl_skel.evaluation.api",
    "export_encoder": "ssl_skel.evaluation.api",
    "ExportError": "ssl_skel.evaluation.api",
    "EXPORT_FORMATS": "ssl_skel.evaluation.api",
    "FrozenEncoder": "ssl_skel.evaluation.api",
    "build_encoder": "ssl_skel.models.encoders",
    "SkeletonEncoder": "ssl_skel.models.encoders.base",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ssl_skel' has no attribute {name!r}")
