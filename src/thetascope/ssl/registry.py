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
That lifecycle is ``thetascope.registry.Registry``'s, shared with datasets and metrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

from thetascope.plugins import load_entry_points
from thetascope.registry import Registry as _Registry
from thetascope.registry import UnknownNameError as UnknownNameError  # re-exported
from thetascope.ssl.specs import EncoderFactory, EncoderSpec, MethodBuilder, MethodSpec

T = TypeVar("T", EncoderSpec, MethodSpec)


class Registry(_Registry[T]):
    """``thetascope.registry.Registry`` for encoder and method specs: a spec whose factory
    (or build) is defined in the built-ins module is a built-in, however it is added.

        Registry("encoder", "thetascope.encoders", "thetascope.ssl.encoders", "hint")
    """

    def add(self, spec: T, overwrite: bool = False, *, origin: str = "runtime") -> T:
        fn = spec.factory if isinstance(spec, EncoderSpec) else spec.build
        if getattr(fn, "__module__", None) == self.builtins:
            origin = "builtin"
        return super().add(spec, overwrite, origin=origin)

    def _load_entry_points(self) -> list[str]:
        # looked up here at call time, so patching this module's name (tests do) takes effect
        return load_entry_points(self.group)


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
