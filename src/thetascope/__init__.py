"""thetascope: how the rotation angle θ of contrastive self-supervised pre-training shapes
what a network attends to, dataset by dataset.

Run ``thetascope run`` for the built-in demo, ``thetascope --help`` for everything else.
From Python (README "Use from Python", ``examples/``)::

    import thetascope as ts

    res = ts.run("smoke", "runs/nb")                  # a sweep, as `thetascope run` does
    maps = ts.saliency(encoder, images, theta=90)      # SmoothGrad of the pair target
    ts.score(maps[0], masks[0], theta=90)              # Dice, IoU, pointing game, ...
    ts.orientation(images).s_dataset                   # S(θ)
    ts.verdict("runs/nb")                              # the verdict table of a run

The names below are imported on first use, so ``import thetascope`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "load_config": "thetascope.api",
    "run": "thetascope.api",
    "saliency": "thetascope.api",
    "score": "thetascope.api",
    "orientation": "thetascope.api",
    "verdict": "thetascope.api",
    "Orientation": "thetascope.api",
    "RunResult": "thetascope.sweep.runner",
    "ExperimentConfig": "thetascope.config",
    "ConfigError": "thetascope.config",
}

__all__ = [  # static, so linters and IDEs read it; tests/test_api.py checks it is _EXPORTS
    "__version__", "load_config", "run", "saliency", "score", "orientation", "verdict",
    "Orientation", "RunResult", "ExperimentConfig", "ConfigError",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports lazily
    from thetascope.api import (
        Orientation,
        load_config,
        orientation,
        run,
        saliency,
        score,
        verdict,
    )
    from thetascope.config import ConfigError, ExperimentConfig
    from thetascope.sweep.runner import RunResult


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'thetascope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
