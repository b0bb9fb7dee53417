"""Which θ a figure draws as its own row or legend entry when a sweep has many.

    pick_rows([0, 1, 2, …, 359])        # 13 evenly spaced angles: 0, 30, 60, …, 359
    pick_rows([0, 30, 60, 90])          # all of them (at most ``limit``)

A gallery of 360 rows was 24 MB of PNG and minutes of matplotlib, and a legend of 360
angles hid its plot; the tables, results.parquet and report.html keep every θ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_ROWS = 13  # 0°, 15°, …, 180° on the papers' half circle


def pick_rows(thetas: Sequence[float], limit: int = MAX_ROWS) -> list[float]:
    """At most ``limit`` of ``thetas`` (in their order), evenly spaced, first and last kept."""
    thetas = list(thetas)
    if len(thetas) <= limit:
        return thetas
    idx = np.unique(np.round(np.linspace(0, len(thetas) - 1, limit)).astype(int))
    return [thetas[i] for i in idx]
