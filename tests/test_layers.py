"""The package's layers import only downward, and no modules import each other in a cycle.

Layers, top to bottom (as in DESIGN.md): commands -> evaluation -> fusion -> engine -> objectives -> models
-> data -> core. Imports are read from the source (every `import` statement, including
those inside functions), so a lazy import cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ssl_skel"
LAYERS = ("core", "data", "models", "objectives", "engine", "fusion", "evaluation", "commands")
TOP = ("ssl_skel", "ssl_skel.cli")  # the public facade and the CLI entry may import any layer


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = ("ssl_skel",) + path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str], root: Path = PACKAGE) -> set[str]:
    """Project modules a file imports: `from a.b import c` counts a.b.c when it is a module, else a.b."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        out.update(t for t in targets if t.split(".")[0] == "ssl_skel" and t in known)
    out.discard(name)
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(files)
    return {name: imported_modules(path, known, root) for name, path in files.items()}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if module in TOP or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for source, targets in graph.items():
        here = layer_of(source)
        if here is None:
            continue
        for target in sorted(targets):
            there = layer_of(target)
            if there is None or there > here:
                bad.append(f"{source} -> {target}")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_belongs_to_a_layer():
    stray = [m for m in import_graph() if m not in TOP and layer_of(m) is None]
    assert not stray, f"modules outside the layers {LAYERS}: {stray}"


def test_no_upward_imports():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    "files, expect",
    [
        # the cycles and upward imports the restructuring removed, rebuilt in a scratch tree
        (
            {
                "core/config.py": "from ssl_skel.core import registry\n",
                "core/registry.py": "from ssl_skel.core.config import X\n",
            },
            "cycle",
        ),
        (
            {
                "data/storage.py": "from ssl_skel.data.formats.common import x\n",
                "data/formats/common.py": "from ssl_skel.data.storage import y\n",
            },
            "cycle",
        ),
        (
            {
                "data/datasets.py": "from ssl_skel.models.encoders.base import InputSpec\n",
                "models/encoders/base.py": "",
            },
            "upward",
        ),
        ({"fusion/skeleton.py": "", "models/x.py": "def f():\n    from ssl_skel.fusion.skeleton import g\n"}, "upward"),
        ({"core/checkpoint.py": "from ssl_skel.data.storage import atomic_file\n", "data/storage.py": ""}, "upward"),
    ],
)
def test_the_checks_catch_what_they_guard(tmp_path, files, expect):
    root = tmp_path / "ssl_skel"
    for rel, text in files.items():
        path = root / rel
        for parent in [path.parent, *path.parent.parents]:
            if parent == tmp_path:
                break
            parent.mkdir(parents=True, exist_ok=True)
            (parent / "__init__.py").touch()
        path.write_text(text)
    graph = import_graph(root)
    if expect == "cycle":
        assert cycles(graph), graph
    else:
        assert upward_imports(graph), graph
