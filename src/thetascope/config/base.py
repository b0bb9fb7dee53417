"""Shared base of the config models: the strict model, the error type, the version."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
)

# Bump when a change to the code alters the numbers a cell produces; it is part of every
# cell's identity, so results from an older protocol are recomputed rather than mixed in.
PROTOCOL_VERSION = 2


class ConfigError(ValueError):
    """A configuration problem, worded for the user (names the key and the fix)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
