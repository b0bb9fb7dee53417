"""thetascope.registry.Registry: the lifecycle the encoder, method, dataset and metric
registries share (lazy built-ins, entry points, origins, scoped undo, unknown names)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from thetascope.registry import Registry, UnknownNameError


@dataclass(frozen=True)
class Item:
    name: str
    origin: str = "runtime"


def make(**kw) -> tuple[Registry[Item], list[str]]:
    booted: list[str] = []

    def builtins() -> None:
        booted.append("once")
        for name in ("b", "a"):
            reg.add(Item(name), origin="builtin")

    reg: Registry[Item] = Registry("colour", "thetascope.metrics", builtins, "add one", **kw)
    return reg, booted


@pytest.fixture
def no_plugins(monkeypatch):
    monkeypatch.setattr("thetascope.plugins.entry_points", lambda group: [])


def test_builtins_load_once_on_first_use_and_names_are_sorted_or_in_order(no_plugins):
    reg, booted = make()
    assert booted == []
    reg.add(Item("c"))
    assert booted == ["once"] and reg.names() == ["a", "b", "c"]
    assert make(sort_names=False)[0].names() == ["b", "a"]
    assert reg.get("a") == Item("a", "builtin") and reg.get("c").origin == "runtime"
    assert reg.find("zz") is None and booted == ["once"]


def test_unknown_names_raise_the_registry_error_listing_the_names(no_plugins):
    reg, _ = make()
    with pytest.raises(UnknownNameError, match=r"^unknown colour 'x'; registered: a, b "
                                               r"\(add one\)$") as err:
        reg.get("x")
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    with pytest.raises(RuntimeError, match="unknown colour 'x'"):
        make(error=RuntimeError)[0].origin("x")


def test_overwrite_and_fixed_builtins(no_plugins):
    reg, _ = make()
    with pytest.raises(ValueError, match="'a' is already registered; pass overwrite=True"):
        reg.add(Item("a"))
    assert reg.add(Item("a"), overwrite=True).origin == "runtime" and reg.remove("a")
    fixed, _ = make(fixed_builtins=True)
    with pytest.raises(ValueError, match=r"'a' is already registered \(builtin\); built-ins "
                                         "cannot be replaced"):
        fixed.add(Item("a"), overwrite=True)
    with pytest.raises(ValueError, match="'a' is a built-in and cannot be unregistered"):
        fixed.remove("a")
    fixed.add(Item("c"))
    with pytest.raises(ValueError, match=r"\(runtime\); pass replace=True, or "
                                         "unregister_colour it first"):
        fixed.check_free("c")
    with pytest.raises(KeyError, match="colour 'zz' is not registered"):
        fixed.remove("zz")


def test_entry_points_load_on_first_lookup_with_their_origin_and_scoped_undoes(monkeypatch):
    reg, _ = make()
    ep = SimpleNamespace(name="demo", value="demo_pkg:colours", dist=None,
                         load=lambda: lambda: reg.add(Item("p")))
    monkeypatch.setattr("thetascope.plugins.entry_points",
                        lambda group: [ep] if group == "thetascope.metrics" else [])
    monkeypatch.setattr("thetascope.plugins._loaded", set())
    reg.add(Item("c"))  # boots the built-ins, loads no entry point
    assert reg.origin("p") == "entry point" and reg.get("p").origin == "entry point"
    with reg.scoped():
        reg.remove("p")
        reg.add(Item("d"))
    assert reg.names() == ["a", "b", "c", "p"] and reg.origin("c") == "runtime"
