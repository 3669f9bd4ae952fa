"""Name -> class registries for encoders and SSL methods.

Why: configs name an encoder or method as a string; each entry also registers the frozen
dataclass of its parameters, so a config is validated against exactly the parameters the
chosen class accepts, and new methods plug in without touching the training loop.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ssl_skel.core.schema import ConfigError, from_dict


@dataclass(frozen=True)
class Entry:
    name: str
    cls: type
    params: type  # frozen dataclass of the constructor's keyword parameters


class Registry:
    """A registry that imports the package that fills it on first use."""

    def __init__(self, kind: str, package: str) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, Entry] = {}
        self._loaded = False

    def register(self, name: str, params: type) -> Callable[[type], type]:
        def decorate(cls: type) -> type:
            if name in self._entries and self._entries[name].cls is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, cls, params)
            cls.registered_name = name
            return cls

        return decorate

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self.package)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> Entry:
        self._load()
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r} (known: {', '.join(self.names())})")
        return self._entries[name]

    def validate_params(self, name: str, params: dict, source: str, section: str) -> Any:
        try:
            entry = self.get(name)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {section}.name: {exc}") from None
        return from_dict(entry.params, params, source=source, prefix=f"{section}.params")


ENCODERS = Registry("encoder", "ssl_skel.models.encoders")
OBJECTIVES = Registry("objective", "ssl_skel.objectives")
ADAPTERS = Registry("fusion adapter", "ssl_skel.fusion")
