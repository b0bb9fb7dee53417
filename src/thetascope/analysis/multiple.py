"""Multiple-comparison adjustment of a family of p-values (nan entries are left out).

    adjust([0.01, 0.04, np.nan, 0.03], "holm")     # -> [0.03, 0.06, nan, 0.06]

``holm`` (default; family-wise error, any dependence), ``bonferroni``, ``bh``
(Benjamini–Hochberg false discovery rate, via ``scipy.stats.false_discovery_control``),
``none``. Holm is written out because scipy has no Holm and statsmodels is not a
dependency; it is five lines.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import false_discovery_control

CORRECTIONS = ("holm", "bonferroni", "bh", "none")


def adjust(p_values, method: str = "holm") -> np.ndarray:
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = len(q)
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; choose one of {list(CORRECTIONS)}")
    if m == 0:
        return out
    if method == "none":
        adj = q
    elif method == "bonferroni":
        adj = np.minimum(1.0, q * m)
    elif method == "bh":
        adj = false_discovery_control(q, method="bh")
    else:  # Holm step-down: sorted p_(k) × (m − k), cumulative max, capped at 1
        order = np.argsort(q)
        stepped = np.maximum.accumulate(q[order] * (m - np.arange(m)))
        adj = np.empty(m)
        adj[order] = np.minimum(1.0, stepped)
    out[ok] = adj
    return out
