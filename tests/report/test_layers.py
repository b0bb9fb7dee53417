"""report/ draws and writes pages; it never imports sweep/ (sweep/ drives report/).

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/report/test_layers.py
"""

from __future__ import annotations

import ast
from pathlib import Path

REPORT = Path(__file__).resolve().parents[2] / "src" / "thetascope" / "report"


def test_report_does_not_import_sweep():
    offenders = []
    for path in sorted(REPORT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}:{node.lineno} {n}" for n in names
                          if n == "thetascope.sweep" or n.startswith("thetascope.sweep.")]
    assert not offenders, f"report/ imports sweep/ (an import cycle): {offenders}"


def test_dense_theta_grids_draw_at_most_13_rows():
    from thetascope.report.theta_rows import pick_rows

    assert pick_rows([0, 90, 180]) == [0, 90, 180]
    rows = pick_rows(list(range(360)))
    assert len(rows) == 13 and rows[0] == 0 and rows[-1] == 359
    assert rows == sorted(set(rows))
