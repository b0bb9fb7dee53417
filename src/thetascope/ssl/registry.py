"""Encoder and SSL-method registries, timm-style: adding an encoder is one registered function.

    from thetascope.ssl.registry import register_encoder, get_encoder, encoder_names

    @register_encoder("tiny_cnn", feature_dim=64, stage_forward=tiny_stages, layers=(1, 2))
    def tiny_cnn(in_channels: int, image_size: int) -> nn.Module:
        return nn.Sequential(...)                  # (N, C, H, W) -> (N, 64)

    register_encoder("tiny_cnn", tiny_cnn, feature_dim=64)      # the same, as a call
    register_encoder(EncoderSpec("tiny_cnn", tiny_cnn, 64))     # or with a spec
    get_encoder("tiny_cnn").feature_dim                         # 64
    encoder_names()                         # ['convnext_tiny', 'resnet18', ..., 'tiny_cnn']
    get_encoder("alexnet")                  # UnknownNameError listing the registered names

    register_method("my_byol", build_byol, label="BYOL")        # build -> an SSLModel
    get_method("moco_v2").uses_queue                            # True

    with scoped_registrations():            # tests: everything registered inside is undone
        register_encoder("tiny_cnn", tiny_cnn, feature_dim=64)

The built-ins (``ssl/encoders.py``: resnet18/34/50, convnext_tiny, vit_b_16;
``ssl/methods.py``: moco_v2, simclr) register through the same functions the first time a
registry is used. The first lookup (``get_*`` or ``*_names``) also loads the installed
packages' entry points (``thetascope.encoders`` / ``thetascope.methods``, see
``thetascope.plugins``). ``ENCODERS.origin(name)`` says which: ``builtin``, ``entry point``
or ``runtime`` (registered by a script: it exists in that process only, so worker processes,
``runtime.executor`` process or ray, do not have it; ``sweep/preflight.py`` refuses that).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, Generic, TypeVar

from thetascope.plugins import load_entry_points
from thetascope.ssl.specs import EncoderFactory, EncoderSpec, MethodBuilder, MethodSpec

T = TypeVar("T", EncoderSpec, MethodSpec)


class UnknownNameError(KeyError, ValueError):
    """A name no registry entry has; the message lists the registered names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Name → spec, filled by built-ins (``builtins``: a module imported once, which
    registers them) and by entry points (``group``), each loaded on first use."""

    def __init__(self, kind: str, group: str, builtins: str, hint: str) -> None:
        self.kind, self.group, self.builtins, self.hint = kind, group, builtins, hint
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loading: str | None = None  # "entry point" while those load
        self._booted = self._plugins_loaded = False

    def _boot(self) -> None:
        if not self._booted:
            self._booted = True  # set first: the built-ins module registers through us
            importlib.import_module(self.builtins)

    def _ready(self) -> None:
        self._boot()
        if not self._plugins_loaded:
            self._plugins_loaded = True
            self._loading = "entry point"
            try:
                load_entry_points(self.group)
            finally:
                self._loading = None

    def add(self, spec: T, overwrite: bool = False) -> T:
        self._boot()
        if spec.name in self._items and not overwrite:
            raise ValueError(f"{self.kind} {spec.name!r} is already registered; pass "
                             "overwrite=True to replace it, or choose another name")
        self._items[spec.name] = spec
        fn = spec.factory if isinstance(spec, EncoderSpec) else spec.build
        builtin = getattr(fn, "__module__", None) == self.builtins
        self._origins[spec.name] = "builtin" if builtin else self._loading or "runtime"
        return spec

    def get(self, name: str) -> T:
        self._ready()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; registered: "
                           f"{', '.join(self.names())} ({self.hint})") from None

    def names(self) -> list[str]:
        self._ready()
        return sorted(self._items)

    def origin(self, name: str) -> str:
        """``builtin``, ``entry point`` or ``runtime`` (registered by a script)."""
        self.get(name)
        return self._origins[name]

    def remove(self, name: str) -> T:
        self._boot()
        if name not in self._items:
            raise KeyError(f"{self.kind} {name!r} is not registered")
        self._origins.pop(name, None)
        return self._items.pop(name)

    @contextlib.contextmanager
    def scoped(self) -> Iterator[None]:
        self._ready()
        saved, origins = dict(self._items), dict(self._origins)
        try:
            yield
        finally:
            self._items.clear()
            self._items.update(saved)
            self._origins.clear()
            self._origins.update(origins)


ENCODERS: Registry[EncoderSpec] = Registry(
    "encoder", "thetascope.encoders", "thetascope.ssl.encoders",
    "add one with thetascope.register_encoder")
METHODS: Registry[MethodSpec] = Registry(
    "SSL method", "thetascope.methods", "thetascope.ssl.methods",
    "add one with thetascope.register_method")


def _register(registry: Registry, spec_type: type, name_or_spec: Any, obj: Any,
              overwrite: bool, fields: dict[str, Any]) -> Any:
    if isinstance(name_or_spec, spec_type):  # register_x(spec)
        if obj is not None or fields:
            raise TypeError(f"register a {spec_type.__name__} alone, without more arguments")
        return registry.add(name_or_spec, overwrite)
    if not isinstance(name_or_spec, str):
        raise TypeError(f"expected a name or a {spec_type.__name__}, got {name_or_spec!r}")
    name = name_or_spec
    if isinstance(obj, spec_type):  # register_x(name, spec)
        if fields:
            raise TypeError(f"pass either a {spec_type.__name__} or its fields, not both")
        return registry.add(obj if obj.name == name else replace(obj, name=name), overwrite)
    if obj is None:  # @register_x(name, **fields) as a decorator
        def decorate(fn: Callable) -> Callable:
            registry.add(spec_type(name, fn, **fields), overwrite)
            return fn
        return decorate
    return registry.add(spec_type(name, obj, **fields), overwrite)


def register_encoder(name_or_spec: str | EncoderSpec, factory: EncoderFactory | EncoderSpec
                     | None = None, /, *, overwrite: bool = False, **fields: Any) -> Any:
    """Register an encoder; ``fields`` are ``EncoderSpec``'s (``feature_dim`` is required).

    Returns the spec, or (without a factory) a decorator that registers the function it
    decorates and returns it unchanged.
    """
    return _register(ENCODERS, EncoderSpec, name_or_spec, factory, overwrite, fields)


def get_encoder(name: str) -> EncoderSpec:
    """The registered encoder ``name``; ``UnknownNameError`` (a KeyError and a ValueError)
    listing the registered names."""
    return ENCODERS.get(name)


def encoder_names() -> list[str]:
    """Every registered encoder name, sorted."""
    return ENCODERS.names()


def unregister_encoder(name: str) -> EncoderSpec:
    """Remove a registration (tests); returns its spec."""
    return ENCODERS.remove(name)


def register_method(name_or_spec: str | MethodSpec, build: MethodBuilder | MethodSpec
                    | None = None, /, *, overwrite: bool = False, **fields: Any) -> Any:
    """Register an SSL method; ``fields`` are ``MethodSpec``'s. ``build(ssl, *,
    in_channels, image_size, n_images)`` returns an ``SSLModel``. As ``register_encoder``,
    without ``build`` it is a decorator."""
    return _register(METHODS, MethodSpec, name_or_spec, build, overwrite, fields)


def get_method(name: str) -> MethodSpec:
    """The registered method ``name``; ``UnknownNameError`` listing the registered names."""
    return METHODS.get(name)


def method_names() -> list[str]:
    """Every registered SSL method name, sorted."""
    return METHODS.names()


def unregister_method(name: str) -> MethodSpec:
    """Remove a registration (tests); returns its spec."""
    return METHODS.remove(name)


@contextlib.contextmanager
def scoped_registrations() -> Iterator[None]:
    """Undo, on exit, every encoder and method registered or removed inside."""
    with ENCODERS.scoped(), METHODS.scoped():
        yield
