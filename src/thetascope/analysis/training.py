"""Did pre-training move the model? The rule that guards every verdict of a run.

    chance = get_method("moco_v2").chance_loss(16, 32)    # ln 33 = 3.50 (MethodSpec)
    check = training_check(final_losses, chance, max_ratio=0.5)
    check.moved, check.ratio, check.note

A contrastive model that has not learned scores its positive like any negative: the
InfoNCE loss sits at ln(number of candidates), the loss of a uniform guess (MoCo v2: the K
queued negatives and the positive, ln(K + 1); SimCLR: the 2N − 1 other views of the batch,
ln(2N − 1)). A run whose models end near that level has measured saliency of models that
barely differ from their initialisation, and a "θ does not matter" from it is no evidence.
The rule: the median over a dataset's cells (θ = 0 left out when ``analysis.exclude_zero``:
identical views are an easier task) of the final loss (the mean of the last ``window``
share of steps, at least one) must be at most ``max_ratio`` × chance, i.e. the positive's
average probability exp(−loss) at least chance^max_ratio (a square root at 0.5). Masked
self-negatives (``ssl.mask_self_negatives``) leave slightly fewer candidates than K + 1, so
the rule is slightly lenient there. The default 0.5 asks the model to solve the task well beyond a
coin flip among candidates; the default run of an earlier version (32 steps, losses
2.3–3.0 of 3.50, i.e. 66–86 %) fails it, as it should.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class TrainingCheck:
    moved: bool | None  # None: not decidable (no losses)
    ratio: float  # median final loss / chance
    final_loss: float
    chance: float
    n_cells: int
    note: str = ""
    max_ratio: float = float("nan")  # what the rule asked for


def final_losses(losses: pd.DataFrame, window: float = 0.1) -> pd.DataFrame:
    """Per (dataset, θ, seed): the mean loss over the last ``window`` share of steps."""
    if losses.empty:
        return pd.DataFrame(columns=["dataset", "theta", "seed", "final_loss"])
    rows = []
    for (d, t, s), g in losses.groupby(["dataset", "theta", "seed"], sort=True):
        g = g.sort_values("step")
        k = max(1, int(round(window * len(g))))
        rows.append({"dataset": d, "theta": float(t), "seed": int(s),
                     "final_loss": float(g["loss"].iloc[-k:].mean())})
    return pd.DataFrame(rows)


def training_check(final: np.ndarray, chance: float, max_ratio: float = 0.5) -> TrainingCheck:
    """The rule above on the final losses of one dataset's cells (θ = 0 already left out)."""
    f = np.asarray(final, dtype=np.float64)
    f = f[np.isfinite(f)]
    if not len(f) or not math.isfinite(chance) or chance <= 0:  # no losses or no chance level
        return TrainingCheck(None, float("nan"), float("nan"), chance, len(f),
                             "no training losses to check", max_ratio)
    med = float(np.median(f))
    ratio = med / chance
    moved = bool(ratio <= max_ratio)
    note = (f"final InfoNCE {med:.2f} (median of {len(f)} cells) is {100 * ratio:.0f} % of "
            f"chance ln(candidates) = {chance:.2f}; the rule asks ≤ {100 * max_ratio:.0f} %")
    return TrainingCheck(moved, ratio, med, chance, len(f), note, max_ratio)
