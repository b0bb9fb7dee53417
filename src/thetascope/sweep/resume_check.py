"""Validate finished cells before a resume trusts them; name the damaged ones.

    damaged = report_damaged(store, cells, console)   # [(label, problem)], recomputed
    damaged_in_run(Path("runs/x"))   # the same check, read-only, for `thetascope report`

A finished cell (or probe pre-training unit) whose files fail to load (a truncated or junk
``rows.parquet``, ``maps.npz``, ``loss.json``, a ``cell.json`` holding ``[]``) is never
trusted: ``ResultStore.is_done`` is False for it, so the run recomputes it, and this names
it once in the console and in ``run.log``. Nothing is deleted here: a recomputed cell
replaces the folder; one that is not recomputed stays out of every result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from thetascope.sweep.plan import Cell
from thetascope.sweep.store import NOT_FINISHED, ResultStore

log = logging.getLogger("thetascope")


def _label(c: Cell) -> str:
    if c.baseline:
        return f"{c.dataset} baseline {c.baseline} seed={c.seed}"
    return f"{c.dataset} θ={c.theta:g} seed={c.seed}"


def report_damaged(store: ResultStore, cells: Sequence[Cell],
                   console: Console) -> list[tuple[str, str]]:
    """Check the finished cells of ``cells`` (and their probe units) in ``store``; print
    and log one warning per damaged one; return [(label, problem)]."""
    found = [(f"cell {key} ({_label(c)})", why) for c, (key, why) in
             zip(cells, ((c.key, store.problem(c.key)) for c in cells), strict=True)
             if why not in (None, NOT_FINISHED)]
    # a unit is re-trained only for cells still to run: check just those units
    units = sorted({c.pretrain_key for c in cells if c.pretrain_key and not store.is_done(c.key)})
    found += [(f"pre-training unit {key}", why) for key in units
              if (why := store.unit_problem(key)) not in (None, NOT_FINISHED)]
    for what, why in found:
        msg = (f"{what} in {store.cells_dir.parent} is damaged ({why}); it is not trusted "
               "and is recomputed")
        console.print(f"[yellow]warning:[/yellow] {escape(msg)}", highlight=False,
                      soft_wrap=True)
        log.warning(msg)
    return found


def damaged_in_run(run_dir: Path) -> list[tuple[str, str]]:
    """(key, problem) of the damaged cells that a finished run folder's results.parquet
    names (cells of earlier configs in the same folder are not its concern); reads only."""
    import pandas as pd

    from thetascope.sweep.store import CELL_CHECKS, folder_problem

    try:
        keys = set(pd.read_parquet(Path(run_dir) / "results.parquet", columns=["cell"]).cell)
    except Exception:  # no results (yet): the report says what is missing
        return []
    found = [(k, folder_problem(Path(run_dir) / "cells" / str(k), CELL_CHECKS, "cell.json"))
             for k in sorted(map(str, keys))]
    return [(k, why) for k, why in found if why not in (None, NOT_FINISHED)]
