"""Name -> class registries for encoders, SSL methods and fusion adapters.

Why: configs name an encoder or method as a string; each entry also registers the frozen
dataclass of its parameters, so a config is validated against exactly the parameters the
chosen class accepts, and new methods plug in without touching the training loop.

Who fills them: each entry's own module registers it (`@ENCODERS.register(name, params)`).
This bottom layer names no module above it: the package facade (`ssl_skel/__init__.py`, which
Python runs before any submodule) says which package fills which registry (`fill_from`), and
a registry imports that package on first use. `import_submodules` lets a package import all
its modules, so a new method file registers itself without an import line elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil
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
    """A registry that imports the packages that fill it (`fill_from`) on first use."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.packages: list[str] = []
        self._entries: dict[str, Entry] = {}
        self._loaded = False

    def fill_from(self, package: str) -> None:
        """Import `package` (whose modules register entries here) before the registry is first read."""
        if package not in self.packages:
            self.packages.append(package)
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
            for package in self.packages:
                importlib.import_module(package)

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


def import_submodules(package: str) -> list[str]:
    """Import every module of `package` (a package's `__init__` passes its `__name__`); their names, sorted.

    Only the package's own modules: the layer of what is imported is the caller's own.
    """
    path = importlib.import_module(package).__path__
    names = sorted(info.name for info in pkgutil.iter_modules(path))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names


ENCODERS = Registry("encoder")
OBJECTIVES = Registry("objective")
ADAPTERS = Registry("fusion adapter")
