"""Reading YAML that may come from anyone: safe types only, YAML 1.2 booleans, capped size.

Why: presets, layout files and `key=value` overrides are all YAML, and a config path can name
any file. `parse_yaml` builds plain trees only (no Python objects), keeps `on`/`off`/`yes` as
strings, and refuses alias bombs, deep nesting, huge files and duplicate keys with one ConfigError
line that names the source, instead of eating memory or the recursion limit, or silently keeping
the last of two `train:` blocks.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ssl_skel.core.schema import ConfigError

MAX_CONFIG_BYTES = 1 << 20  # presets are a few KB; anything larger is not a config
MAX_YAML_ALIASES = 100  # an alias bomb ("billion laughs") needs many; presets use none
MAX_YAML_DEPTH = 50  # presets nest 3-4 levels; 5000-deep nesting would exhaust the recursion limit
MAX_YAML_NODES = 100_000  # values once aliases are expanded: a few aliases can otherwise stand for 10**9


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (only true/false: `amp: on` stays the string "on") and caps on
    aliases and nesting depth, so a hostile file fails fast with a ConfigError instead of eating memory."""

    yaml_implicit_resolvers = {
        key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_document(self) -> Any:
        node = super().compose_document()
        sizes: dict[int, int] = {}

        def size(n: Any) -> int:  # expanded size, each shared node counted once per use (memoised: linear)
            if id(n) in sizes and sizes[id(n)] < 0:
                raise ConfigError("a YAML alias refers to the value that holds it (recursive); refused")
            if id(n) not in sizes:
                sizes[id(n)] = -1  # in progress
                children = n.value if isinstance(n, yaml.SequenceNode) else []
                if isinstance(n, yaml.MappingNode):
                    children = [c for pair in n.value for c in pair]
                sizes[id(n)] = 1 + sum(size(c) for c in children)
            return sizes[id(n)]

        if node is not None and size(node) > MAX_YAML_NODES:
            raise ConfigError(f"expands to more than {MAX_YAML_NODES} values (YAML aliases); refused")
        if node is not None:
            _refuse_duplicate_keys(node)
        return node

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise ConfigError(f"more than {MAX_YAML_ALIASES} YAML aliases (*name); refused")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise ConfigError(f"nested more than {MAX_YAML_DEPTH} levels deep; refused")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _refuse_duplicate_keys(root: Any) -> None:
    """ConfigError naming the dotted key and its line when a mapping repeats a key (YAML would keep the last
    silently: a second `train:` block drops the first). Merge keys (`<<: *base`) may be overridden."""
    seen: set[int] = set()
    todo: list[tuple[Any, str]] = [(root, "")]
    while todo:
        node, path = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            todo += [(child, f"{path}[{i}]") for i, child in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge" or not isinstance(key, yaml.ScalarNode):
                    todo.append((value, path))
                    continue
                name = f"{path}.{key.value}" if path else str(key.value)
                if key.value in keys:
                    raise ConfigError(f"duplicate key {name} (line {key.start_mark.line + 1}); keep one of them")
                keys.add(key.value)
                todo.append((value, name))


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_yaml(text: str, source: str) -> Any:
    """YAML text -> plain tree (see `_Loader`); ConfigError naming `source` for anything unreadable."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: {len(text)} characters, more than a config may hold ({MAX_CONFIG_BYTES})")
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})".replace("\n", " ")) from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply; refused") from None
