"""What a finished ``thetascope run`` must tell the user beyond its tables.

    for note in run_notes(result): console.print("warning: " + note)
    report_fresh(result)     # False when report.html was not (re)written by this run

Degenerate images (``data/degenerate.py``) never reach a score; the run still says how many
each dataset lost, and whether they dominated its would-be evaluation set. A report that
could not be written only logs a warning in ``run.log``; the console says so too, rather
than claiming it was written.
"""

from __future__ import annotations

import time


def report_fresh(result) -> bool:
    """report.html exists and was written by this run (not left from an earlier one)."""
    page = result.out_dir / "report.html"
    try:
        return page.stat().st_mtime >= time.time() - result.wall_s - 1.0
    except OSError:
        return False


def run_notes(result) -> list[str]:
    """Warnings, one line each, for a finished ``RunResult``."""
    notes = []
    for ds in result.datasets.values():
        bad = getattr(ds, "degenerate", None)
        if not bad:
            continue
        first_id, first_reason = bad[0]
        note = (f"dataset '{ds.name}': {len(bad)} degenerate image(s), "
                f"{ds.degenerate_share:.0%} of those with a mask, left out of the evaluation "
                f"set (e.g. {first_id}: {first_reason}); listed in summary.md")
        if ds.degenerate_dominated:
            note += ("; they dominated it (over data.max_degenerate_share), so its scores "
                     "rest on the few images left")
        notes.append(note)
    if not report_fresh(result):
        notes.append(f"report.html was not written (see {result.out_dir}/run.log); "
                     f"`thetascope report {result.out_dir}` retries it")
    return notes
