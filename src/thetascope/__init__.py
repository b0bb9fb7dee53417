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
    ts.register_encoder("tiny_cnn", factory, feature_dim=64)   # then ssl.encoder: tiny_cnn
    ts.register_dataset("my_set", (images, masks))     # then data.datasets: [my_set]

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
    # extending thetascope: bring your own encoder, SSL method, metric or dataset
    "register_encoder": "thetascope.ssl.registry",
    "register_method": "thetascope.ssl.registry",
    "EncoderSpec": "thetascope.ssl.specs",
    "MethodSpec": "thetascope.ssl.specs",
    "SSLModel": "thetascope.ssl.model",
    "register_metric": "thetascope.metrics.registry",
    "register_dataset": "thetascope.data.catalog",
}

__all__ = [  # static, so linters and IDEs read it; tests/test_api.py checks it is _EXPORTS
    "__version__", "load_config", "run", "saliency", "score", "orientation", "verdict",
    "Orientation", "RunResult", "ExperimentConfig", "ConfigError",
    "register_encoder", "register_method", "EncoderSpec", "MethodSpec", "SSLModel",
    "register_metric", "register_dataset",
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
    from thetascope.data.catalog import register_dataset
    from thetascope.metrics.registry import register_metric
    from thetascope.ssl.model import SSLModel
    from thetascope.ssl.registry import register_encoder, register_method
    from thetascope.ssl.specs import EncoderSpec, MethodSpec
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
