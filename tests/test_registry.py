"""core.registry: entries register themselves; a registry imports the packages named to it on first use."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from ssl_skel.core.registry import ENCODERS, OBJECTIVES, Registry, import_submodules
from ssl_skel.core.schema import ConfigError


@dataclass(frozen=True)
class NoParams:
    pass


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A package `scratch_methods` whose __init__ imports its modules; each registers one entry in a
    fresh registry (reached through the module `scratch_target`). Yields (package name, registry)."""
    pkg = tmp_path / "scratch_methods"
    pkg.mkdir()
    init = "from ssl_skel.core.registry import import_submodules\n\nimport_submodules(__name__)\n"
    (pkg / "__init__.py").write_text(init)
    for name in ("alpha", "beta"):
        (pkg / f"{name}.py").write_text(
            f"from scratch_target import REG, NoParams\n\n@REG.register({name!r}, params=NoParams)\nclass M: ...\n"
        )
    target = type(sys)("scratch_target")
    target.REG, target.NoParams = Registry("scratch method"), NoParams
    monkeypatch.setitem(sys.modules, "scratch_target", target)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "scratch_methods", target.REG
    for mod in [m for m in sys.modules if m.startswith("scratch_methods")]:
        del sys.modules[mod]


def test_a_new_module_registers_itself_when_its_package_is_filled_from(scratch):
    package, reg = scratch
    reg.fill_from(package)
    assert package not in sys.modules  # nothing imported before the first look
    assert reg.names() == ["alpha", "beta"]
    assert reg.get("beta").cls.registered_name == "beta"
    with pytest.raises(ConfigError, match=r"unknown scratch method 'gamma' \(known: alpha, beta\)"):
        reg.get("gamma")


def test_import_submodules_lists_the_package_modules(scratch):
    package, reg = scratch
    assert import_submodules(package) == ["alpha", "beta"]
    assert reg.names() == ["alpha", "beta"]


def test_a_name_registered_twice_is_refused():
    reg = Registry("thing")
    reg.register("a", NoParams)(type("A", (), {}))
    with pytest.raises(ValueError, match="thing 'a' is registered twice"):
        reg.register("a", NoParams)(type("B", (), {}))


def test_the_package_facade_fills_the_shipped_registries():
    assert ENCODERS.packages == ["ssl_skel.models.encoders"] and OBJECTIVES.packages == ["ssl_skel.objectives"]
    assert {"stgcn", "unified"} <= set(ENCODERS.names()) and "umurl" in OBJECTIVES.names()
