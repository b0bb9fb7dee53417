"""Entry points through which an installed package adds encoders, methods, metrics or datasets.

A plugin package declares, in its own ``pyproject.toml``::

    [project.entry-points."thetascope.encoders"]
    tiny_cnn = "my_package.encoders:register"      # a callable run once, or a module

and thetascope calls ``load_entry_points("thetascope.encoders")`` the first time it needs
the encoder registry. Each entry point is loaded once; a callable is called with no
arguments (it is expected to call ``register_encoder`` and friends), a module is imported
for its side effects. A plugin that fails to load is reported by name, never silently
skipped.
"""

from __future__ import annotations

from importlib.metadata import entry_points

GROUPS = ("thetascope.encoders", "thetascope.methods", "thetascope.metrics",
          "thetascope.datasets")
_loaded: set[str] = set()


class PluginError(RuntimeError):
    """An entry point named by an installed package could not be loaded."""


def load_entry_points(group: str) -> list[str]:
    """Load every not-yet-loaded entry point of ``group``; return the names loaded now.

        load_entry_points("thetascope.encoders")   # ['tiny_cnn'] the first time, then []
    """
    if group not in GROUPS:
        raise ValueError(f"unknown entry-point group {group!r}; known: {', '.join(GROUPS)}")
    done: list[str] = []
    for ep in entry_points(group=group):
        key = f"{group}:{ep.name}:{ep.value}"
        if key in _loaded:
            continue
        _loaded.add(key)
        try:
            obj = ep.load()
            if callable(obj):
                obj()
        except Exception as exc:  # noqa: BLE001 - any plugin failure is reported by name
            raise PluginError(
                f"the {group} entry point {ep.name!r} ({ep.value}, from the installed package "
                f"{getattr(ep.dist, 'name', '?')}) failed to load: {type(exc).__name__}: {exc}. "
                "Fix or uninstall that package."
            ) from exc
        done.append(ep.name)
    return done
