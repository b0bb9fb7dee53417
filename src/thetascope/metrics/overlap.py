"""Overlap between a saliency map and a ground-truth mask, inside a valid region.

Every metric has a functional form on numpy arrays and explicit edge-case behaviour
(after MONAI): an empty ground-truth mask gives ``nan`` (the caller skips and counts it),
never a silent 0 or 1.

    pred = binarize(sal, valid, "otsu")                     # bool (H, W)
    dice(pred, gt)                                          # 2|P∩G| / (|P|+|G|)
    scores = score_image(sal, gt, valid, "otsu", ["dice", "iou", "pointing_game"])

Binarisation rules (``parse_binarize_rule``):
- ``otsu``: Otsu's threshold of the map's values inside the valid region (default);
- ``topk``: the k most salient valid pixels, k = mask area inside the valid region;
- ``fixed:<t>``: map min-max normalised inside the valid region, then > t;
- ``paper``: > 0, the reference code's rule (after its blur nearly everything is > 0).
"""

from __future__ import annotations

import numpy as np
from skimage.filters import threshold_otsu

# The built-in metrics (registered in ``metrics/registry.py``; ``metric_names()`` lists all).
METRICS = ("dice", "dice_paper", "iou", "pointing_game", "mass_in_mask")


def parse_binarize_rule(rule: str) -> tuple[str, float | None]:
    """Validate a rule string; returns (name, parameter)."""
    if rule in ("otsu", "topk", "paper"):
        return rule, None
    if rule.startswith("fixed:"):
        try:
            t = float(rule.split(":", 1)[1])
        except ValueError:
            t = -1.0
        if 0.0 <= t < 1.0:
            return "fixed", t
        raise ValueError(f"binarize rule {rule!r}: fixed:<t> needs 0 ≤ t < 1, e.g. fixed:0.5")
    raise ValueError(f"unknown binarize rule {rule!r}; use otsu, topk, fixed:<t> or paper")


def binarize(
    sal: np.ndarray, valid: np.ndarray, rule: str, gt: np.ndarray | None = None
) -> np.ndarray:
    """Binary saliency inside ``valid`` (always False outside it)."""
    name, t = parse_binarize_rule(rule)
    sal = np.asarray(sal, dtype=np.float64)
    vals = sal[valid]
    out = np.zeros(sal.shape, dtype=bool)
    if vals.size == 0:
        return out
    if name == "paper":
        out[valid] = vals > 0
    elif name == "otsu":
        if vals.max() > vals.min():
            out[valid] = vals > threshold_otsu(vals)
    elif name == "fixed":
        lo, hi = vals.min(), vals.max()
        if hi > lo:
            out[valid] = (vals - lo) / (hi - lo) > t
    else:  # topk
        if gt is None:
            raise ValueError("binarize rule 'topk' needs the ground-truth mask (k = its area)")
        k = int((gt & valid).sum())
        if k > 0:
            order = np.argsort(-vals, kind="stable")[:k]
            sel = np.zeros(vals.size, dtype=bool)
            sel[order] = True
            out[valid] = sel
    return out


def _counts(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int]:
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and mask {gt.shape} differ in shape")
    return int((pred & gt).sum()), int(pred.sum()), int(gt.sum())


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """Textbook Dice 2|P∩G| / (|P| + |G|); nan when the mask is empty."""
    inter, p, g = _counts(pred, gt)
    if g == 0:
        return float("nan")
    return 2.0 * inter / (p + g)


def dice_paper(pred: np.ndarray, gt: np.ndarray) -> float:
    """The reference code's variant 2I / (|S| + |M| + I) (paper-compat only)."""
    inter, p, g = _counts(pred, gt)
    if g == 0:
        return float("nan")
    return 2.0 * inter / (p + g + inter)


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union; nan when the mask is empty."""
    inter, p, g = _counts(pred, gt)
    if g == 0:
        return float("nan")
    return inter / (p + g - inter)


def pointing_game(sal: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> float:
    """Share of the map's maximal valid pixels that lie in the mask (1/0 for a unique max).

    nan when the mask is empty or the map is constant inside the valid region.
    """
    vals = np.asarray(sal, dtype=np.float64)[valid]
    g = np.asarray(gt, bool)[valid]
    if not g.any() or vals.size == 0 or vals.max() == vals.min():
        return float("nan")
    top = vals == vals.max()
    return float((top & g).sum() / top.sum())


def mass_in_mask(sal: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> float:
    """Share of the (non-negative) saliency mass inside the mask, within the valid region."""
    vals = np.clip(np.asarray(sal, dtype=np.float64)[valid], 0, None)
    g = np.asarray(gt, bool)[valid]
    total = vals.sum()
    if not g.any() or total <= 0:
        return float("nan")
    return float(vals[g].sum() / total)


def score_image(
    sal: np.ndarray, gt: np.ndarray, valid: np.ndarray, rule: str, names: list[str]
) -> dict[str, float]:
    """All requested metrics for one image, plus ``mask_outside_valid``.

    ``names`` are looked up in the metric registry (``metrics/registry.py``: the built-ins
    above and any registered one). The mask is scored inside ``valid`` only; the share of
    it lying outside is recorded so a reader can see how much of the foreground the circle
    mask cut away.
    """
    from thetascope.metrics.registry import get_metric

    specs = [get_metric(name) for name in names]
    gt = np.asarray(gt, bool)
    inside = gt & valid
    out: dict[str, float] = {
        "mask_outside_valid": float(1.0 - inside.sum() / gt.sum()) if gt.any() else float("nan")
    }
    pred = binarize(sal, valid, rule, gt) if any(s.binarized for s in specs) else None
    for spec in specs:
        out[spec.name] = spec(sal, pred, inside, valid)
    return out
