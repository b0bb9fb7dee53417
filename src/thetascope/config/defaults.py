"""The config's field defaults, for the lower layers' settings dataclasses.

The settings dataclasses below the sweep layer (``TrainSettings``, ``SmoothGradSettings``,
``DownstreamSettings``, ``VerdictSettings``, ``SignatureSettings``) take their defaults from
here, so a default changed in the config cannot drift from the one a dataclass states::

    from thetascope.config.defaults import default
    from thetascope.config.sections import SSLConfig

    @dataclass(frozen=True, kw_only=True)
    class TrainSettings:
        steps: int = default(SSLConfig, "steps")        # 32, whatever SSLConfig says

Each dataclass is built from a config by exactly one function, its ``from_config``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def default(model: type[BaseModel], name: str) -> Any:
    """The default of ``model``'s field ``name``; a list default comes back as a tuple
    (dataclass defaults must be immutable). Raises ``KeyError`` for an unknown field and
    ``ValueError`` for a required one."""
    info = model.model_fields[name]
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.is_required():
        raise ValueError(f"{model.__name__}.{name} has no default")
    else:
        value = info.default
    return tuple(value) if isinstance(value, list) else value
