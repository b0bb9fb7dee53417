"""A named registry: name → item, with lazy built-ins, entry points, origins and scoped undo.

Encoders and SSL methods (``ssl/registry.py``), datasets (``data/catalog.py``) and metrics
(``metrics/registry.py``) are each one ``Registry``; their ``register_*`` functions check
and build an item (anything with a ``name``), then ``add`` it::

    from thetascope.registry import Registry

    COLOURS: Registry[Colour] = Registry(
        "colour", "thetascope.colours",            # kind (in messages), entry-point group
        "my_package.colours",                      # built-ins: a module imported, or a function
        "add one with my_package.register_colour") # the hint closing an unknown-name error
    COLOURS.add(Colour("teal", ...))               # key: the item's name
    COLOURS.get("teal"); COLOURS.names()           # ['ochre', 'teal']
    COLOURS.origin("teal")                         # 'runtime'
    COLOURS.get("mauve")        # UnknownNameError: unknown colour 'mauve'; registered: ochre,
                                #                   teal (add one with my_package.register_colour)
    with COLOURS.scoped():      # tests: whatever is added or removed inside is undone on exit
        COLOURS.add(Colour("tmp", ...))

The lifecycle: the built-ins register the first time the registry is used at all (their
module imports, or their function runs, once); the first lookup (``get``, ``find``,
``names``, ``origin``, ``scoped``) then loads the installed packages' entry points of
``group`` (``thetascope.plugins``). Every name has an origin: ``builtin`` (passed by the
built-ins), ``entry point`` (added while the entry points load) or ``runtime`` (added by a
script: it exists in that process only, so worker processes do not have it). Items that
carry their origin (a dataclass with an ``origin`` field) are stored with it filled in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from thetascope import plugins


class Named(Protocol):
    """What a registry holds: anything with a ``name``."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class UnknownNameError(KeyError, ValueError):
    """A name no registry entry has; the message lists the registered names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Name → item, filled by built-ins (``builtins``: a module imported once, or a function
    called once, which registers them), by entry points (``group``) and at run time.

    ``error``: the exception an unknown name raises (given the message); ``sort_names``:
    ``names()`` sorted (else in registration order, the built-ins first); ``fixed_builtins``:
    a built-in is never replaced or removed, and replacing another name needs
    ``replace=True`` (else ``overwrite=True`` replaces any name).

        DATASETS = Registry("dataset", "thetascope.datasets", _builtins, "add one with ...",
                            error=DataError, sort_names=False, fixed_builtins=True)
    """

    def __init__(self, kind: str, group: str, builtins: str | Callable[[], object], hint: str,
                 *, error: Callable[[str], Exception] = UnknownNameError,
                 sort_names: bool = True, fixed_builtins: bool = False) -> None:
        self.kind, self.group, self.builtins, self.hint = kind, group, builtins, hint
        self.error, self.sort_names, self.fixed_builtins = error, sort_names, fixed_builtins
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loading: str | None = None  # "entry point" while those load
        self._booted = self._plugins_loaded = False

    # ------------------------------------------------------------------ lifecycle
    def _boot(self) -> None:
        if not self._booted:
            self._booted = True  # set first: the built-ins register through us
            if isinstance(self.builtins, str):
                importlib.import_module(self.builtins)
            else:
                self.builtins()

    def _ready(self) -> None:
        self._boot()
        if not self._plugins_loaded:
            self._plugins_loaded = True
            self.load_plugins()

    def load_plugins(self) -> list[str]:
        """Load the entry points of ``group`` not loaded yet (the first lookup does; call it
        again after installing a package); returns the entry-point names loaded now."""
        self._boot()
        self._loading = "entry point"
        try:
            return self._load_entry_points()
        finally:
            self._loading = None

    def _load_entry_points(self) -> list[str]:
        return plugins.load_entry_points(self.group)

    # ------------------------------------------------------------------ changes
    def add(self, item: T, overwrite: bool = False, *, origin: str = "runtime") -> T:
        """Register ``item`` under its name and return it (with its origin, if it carries
        one). A ``runtime`` item added while the entry points load is an ``entry point``'s.
        A name already registered is refused unless ``overwrite`` (see ``fixed_builtins``)."""
        self.check_free(item.name, overwrite)
        if origin == "runtime" and self._loading:
            origin = self._loading
        if "origin" in getattr(item, "__dataclass_fields__", ()):
            item = dataclasses.replace(item, origin=origin)  # type: ignore[type-var]
        self._items[item.name] = item
        self._origins[item.name] = origin
        return item

    def check_free(self, name: str, overwrite: bool = False) -> None:
        """``ValueError`` if ``add`` would refuse ``name`` (check before costly work)."""
        self._boot()
        old = self._origins.get(name)
        if old is None or overwrite and not (self.fixed_builtins and old == "builtin"):
            return
        if not self.fixed_builtins:
            raise ValueError(f"{self.kind} {name!r} is already registered; pass overwrite=True "
                             "to replace it, or choose another name")
        raise ValueError(f"{self.kind} {name!r} is already registered ({old}); "
                         + ("built-ins cannot be replaced; pick another name" if old ==
                            "builtin" else f"pass replace=True, or unregister_{self.kind} it "
                            "first"))

    def remove(self, name: str) -> T:
        """Remove ``name`` and return its item; ``KeyError`` if it is not registered
        (``ValueError`` for a built-in of a ``fixed_builtins`` registry)."""
        self._boot()
        if name not in self._items:
            raise KeyError(f"{self.kind} {name!r} is not registered")
        if self.fixed_builtins and self._origins[name] == "builtin":
            raise ValueError(f"{self.kind} {name!r} is a built-in and cannot be unregistered")
        self._origins.pop(name, None)
        return self._items.pop(name)

    @contextlib.contextmanager
    def scoped(self) -> Iterator[None]:
        """Undo, on exit, everything added or removed inside the block."""
        self._ready()
        saved, origins = dict(self._items), dict(self._origins)
        try:
            yield
        finally:
            self._items.clear()
            self._items.update(saved)
            self._origins.clear()
            self._origins.update(origins)

    @contextlib.contextmanager
    def registered(self, name: str, register: Callable[[], object]) -> Iterator[T]:
        """Run ``register`` (which adds ``name``), yield the entry, remove it on exit
        (``registered_dataset``/``registered_metric``: a registration for one block)."""
        register()
        try:
            yield self.get(name)
        finally:
            with contextlib.suppress(KeyError):
                self.remove(name)

    # ------------------------------------------------------------------ lookups
    def get(self, name: str) -> T:
        """The item ``name``, or ``error(unknown(name))``."""
        self._ready()
        try:
            return self._items[name]
        except KeyError:
            raise self.error(self.unknown(name)) from None

    def find(self, name: str) -> T | None:
        """The item ``name``, or None."""
        self._ready()
        return self._items.get(name)

    def names(self) -> list[str]:
        """Every registered name (sorted, or in registration order: see ``sort_names``)."""
        self._ready()
        return sorted(self._items) if self.sort_names else list(self._items)

    def origin(self, name: str) -> str:
        """``builtin``, ``entry point`` or ``runtime`` (registered by a script)."""
        self.get(name)
        return self._origins[name]

    def unknown(self, name: str) -> str:
        """The unknown-name message: ``unknown <kind> 'x'; registered: a, b (<hint>)``."""
        return (f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())} "
                f"({self.hint})")
