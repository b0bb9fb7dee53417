"""The metric registry: every score a sweep writes is looked up here by name.

    from thetascope.metrics.registry import register_metric, metric_names

    @register_metric("peak_distance", about="Pixels from the map's maximum to the mask.")
    def peak_distance(saliency_map, mask):
        ...                                    # -> float; nan for an empty mask

    register_metric("hit", my_fn, binarized=True)   # fn(binary_map, mask), as Dice is called
    metric_names()              # ("dice", "dice_paper", "iou", "pointing_game", ..., "hit")
    with registered_metric("tmp", fn):          # undone on exit (tests, notebooks)
        ...

The built-ins (``metrics/overlap.py``) are registered through the same function, and the
config's ``metrics.names`` and ``analysis.metric`` accept exactly ``metric_names()``. An
installed package adds metrics through the ``thetascope.metrics`` entry point group
(``thetascope.plugins``), read on the registry's first lookup (``METRIC_REGISTRY``, a
``thetascope.registry.Registry``, holds the lifecycle).

The contract of ``fn(saliency_map, mask) -> float`` (``score_image`` calls it per image):

- ``saliency_map``: float64 (H, W), the scored SmoothGrad map (non-negative), set to 0
  outside the *valid region* (the pixels that hold image content at θ: the inscribed circle
  with ``geometry.circle_mask``). With ``binarized=True`` it is instead the bool map that
  ``metrics.binarize`` selects (the rule is ``metrics.binarize``; False outside the valid
  region), exactly as Dice and IoU get it;
- ``mask``: bool (H, W), the ground truth inside the valid region. It is never empty when
  thetascope calls ``fn``: an image whose mask is empty there scores ``nan`` (skipped and
  counted, like the built-ins) without a call. Called directly on an empty mask, ``fn``
  should return ``float("nan")``, never 0 or 1;
- ``with_valid=True`` (the built-in pointing game and mass in mask): ``fn(saliency_map,
  mask, valid)`` gets the untouched map and the valid region as a third argument;
- return a float (``nan`` when the score is undefined, e.g. a constant map). Larger is
  taken to mean more overlap only in wording; nothing assumes a range.

Chance level (the "chance" reference curve): ``chance="noise"`` (default) is the mean score
of uniform-noise maps, ``chance="share"`` the mask's share of the valid region (exact for
threshold-free scores such as mass in mask).

Processes: a metric registered at run time exists in this Python process only. The local
executor (the default) scores in this process; ``runtime.executor: process`` or ``ray``
workers import thetascope afresh, so register such metrics through the entry point.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from thetascope.registry import Registry

# Names every results table already uses for something else.
RESERVED = {"mask_outside_valid", "probe_accuracy", "fewshot_dice", "finetune_dice",
            "linear_probe_accuracy"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric; ``origin``: builtin, entry point or runtime (a script)."""

    name: str
    fn: Callable[..., float]
    binarized: bool = False
    with_valid: bool = False
    chance: Literal["noise", "share"] = "noise"
    label: str = ""
    about: str = ""
    origin: str = "runtime"

    def __call__(self, sal: np.ndarray, pred: np.ndarray | None, inside: np.ndarray,
                 valid: np.ndarray) -> float:
        """Score one image (``pred``: the binarised map, needed when ``binarized``)."""
        if not inside.any():
            return float("nan")
        if self.binarized:
            out = self.fn(pred, inside)
        elif self.with_valid:
            out = self.fn(sal, inside, valid)
        else:
            out = self.fn(np.where(valid, np.asarray(sal, np.float64), 0.0), inside)
        try:
            return float(out)
        except (TypeError, ValueError):
            raise TypeError(
                f"metric {self.name!r} returned {type(out).__name__} {out!r:.60}, not a "
                "number; its function must return one float per image (nan when undefined)"
            ) from None


METRIC_REGISTRY: Registry[MetricSpec] = Registry(
    "metric", "thetascope.metrics", lambda: _builtins(),
    "add one with thetascope.register_metric; a metric registered in a script exists in that "
    "process only: runtime.executor=local, or an entry point",
    error=ValueError, sort_names=False, fixed_builtins=True)


def register_metric(name: str, fn: Callable[..., float] | None = None, *,
                    binarized: bool = False, with_valid: bool = False,
                    chance: Literal["noise", "share"] = "noise", label: str = "",
                    about: str = "", replace: bool = False, origin: str = "runtime"):
    """Register ``fn`` under ``name``; without ``fn``, a decorator. Returns ``fn``.

    A name already registered is refused unless ``replace=True`` (a built-in never is)."""
    if fn is None:
        return lambda f: register_metric(name, f, binarized=binarized, with_valid=with_valid,
                                         chance=chance, label=label, about=about,
                                         replace=replace, origin=origin)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"metric name {name!r}: use a letter then letters, digits or '_' "
                         "(at most 48), e.g. 'peak_distance'")
    if name in RESERVED:
        raise ValueError(f"metric name {name!r} is already a column of every results table; "
                         "pick another")
    if not callable(fn):
        raise TypeError(f"metric {name!r}: fn must be a callable (saliency_map, mask) -> "
                        f"float, got {type(fn).__name__}")
    if binarized and with_valid:
        raise ValueError(f"metric {name!r}: binarized and with_valid exclude each other")
    if chance not in ("noise", "share"):
        raise ValueError(f"metric {name!r}: chance must be 'noise' or 'share', got {chance!r}")
    spec = MetricSpec(name, fn, binarized, with_valid, chance, label or name, about)
    METRIC_REGISTRY.add(spec, replace, origin=origin)
    return fn


def unregister_metric(name: str) -> None:
    """Remove a metric registered at run time (built-ins stay)."""
    METRIC_REGISTRY.remove(name)


@contextlib.contextmanager
def registered_metric(name: str, fn: Callable[..., float], **kwargs) -> Iterator[MetricSpec]:
    """``register_metric`` for the ``with`` block only."""
    with METRIC_REGISTRY.registered(name, lambda: register_metric(name, fn, **kwargs)) as spec:
        yield spec


def metric_names() -> tuple[str, ...]:
    """Every registered metric: the built-ins first, then the others in order."""
    return tuple(METRIC_REGISTRY.names())


def get_metric(name: str) -> MetricSpec:
    """The registered metric ``name``, or a ValueError that lists the registered ones."""
    return METRIC_REGISTRY.get(name)


def find_metric(name: str) -> MetricSpec | None:
    """The registered metric ``name``, or None (labels of a report read in another process)."""
    return METRIC_REGISTRY.find(name)


def unknown_metric(name: str) -> str:
    return METRIC_REGISTRY.unknown(name)


def _builtins() -> None:
    """Register the built-ins (``METRIC_REGISTRY`` calls this once, on first use)."""
    from thetascope.metrics.overlap import dice, dice_paper, iou, mass_in_mask, pointing_game

    b = {"origin": "builtin"}
    register_metric("dice", dice, binarized=True, label="Dice", about=(
        "Dice = 2|S∩M| / (|S|+|M|) between the binarised saliency map S and the mask M."),
        **b)
    register_metric("dice_paper", dice_paper, binarized=True, label="Dice (paper variant)",
                    about="The reference code's 2I / (|S| + |M| + I) (paper-compat only).",
                    **b)
    register_metric("iou", iou, binarized=True, label="IoU", about=(
        "IoU (Jaccard) = |S∩M| / |S∪M| between the binarised saliency map and the mask."),
        **b)
    register_metric("pointing_game", pointing_game, with_valid=True, chance="share",
                    label="pointing game", about=(
                        "Pointing game: 1 when the saliency maximum lies inside the mask, "
                        "else 0; the mean is a hit rate. Threshold-free."), **b)
    register_metric("mass_in_mask", mass_in_mask, with_valid=True, chance="share",
                    label="mass in mask", about=(
                        "Share of the total saliency that falls inside the mask. "
                        "Threshold-free; chance level ≈ the mask's share of the image."), **b)
