"""Calibration of the verdict, measured by simulation: each question's false-positive rate
under null designs and its power on planted effects (src/thetascope/analysis/calibration.py
describes the designs).

    python benchmarks/calibration.py                       # 1000 datasets per design
    python benchmarks/calibration.py --n 200 --grid 0:180:15 --workers 2

Writes benchmarks/results/calibration[-<grid>].json and prints a markdown table (the one in
docs/METHODS.md). Target: every false-positive rate ≤ 0.07 (with its 95% binomial
interval). Numpy only; each worker runs single-threaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from thetascope.analysis.calibration import (  # noqa: E402
    QUESTIONS,
    binomial_ci,
    calibration_settings,
    default_designs,
    evaluate,
    shipped_self_overlap,
    with_thetas,
)

TARGET = 0.07


def _one(args):
    design, n, seed, s_images, df = args
    t = time.perf_counter()
    counts = evaluate(design, n, seed, s_images, calibration_settings(min_f_df=df))
    return design, counts, time.perf_counter() - t


def _grid(text: str) -> list[float]:
    a, b, s = (float(x) for x in text.split(":"))
    return [a + k * s for k in range(int(round((b - a) / s)) + 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="simulated datasets per design")
    ap.add_argument("--grid", default="0:180:30", help="θ grid start:stop:step (inclusive)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--only", default="", help="substring of the design names to run")
    ap.add_argument("--df", default="min", choices=["min", "satterthwaite"],
                    help="analysis.min_f_df: min F′'s denominator degrees of freedom")
    args = ap.parse_args()
    designs = with_thetas(default_designs(), _grid(args.grid))
    designs = [d for d in designs if args.only in d.name]
    s_images = shipped_self_overlap()
    jobs = [(d, args.n, 1000 * k, s_images, args.df) for k, d in enumerate(designs)]
    t0 = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for d, counts, sec in pool.map(_one, jobs):
            for q in QUESTIONS:
                lo, hi = binomial_ci(counts[q], args.n)
                rows.append({"design": d.name, "question": q, "null": q in d.null,
                             "yes": counts[q], "n": args.n, "rate": counts[q] / args.n,
                             "ci_low": lo, "ci_high": hi})
            print(f"{d.name}: {counts} ({sec:.0f} s)", flush=True)
    worst = max((r for r in rows if r["null"]), key=lambda r: r["rate"])
    result = {
        "when": datetime.now(timezone.utc).isoformat(), "host": platform.node(),
        "grid": args.grid, "n_per_design": args.n, "target_fpr": TARGET, "min_f_df": args.df,
        "seconds": round(time.perf_counter() - t0, 1), "worst_null": worst,
        "all_null_rates_at_target": all(r["rate"] <= TARGET for r in rows if r["null"]),
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.grid == "0:180:30" else "-" + args.grid.replace(":", "_")
    suffix += "" if args.df == "min" else f"-{args.df}"
    suffix += "" if not args.only else "-subset"
    path = args.out / f"calibration{suffix}.json"
    path.write_text(json.dumps(result, indent=1))
    print(markdown(rows))
    print(f"worst null rate {worst['rate']:.3f} ({worst['design']}, {worst['question']}); "
          f"wrote {path}")


def markdown(rows: list[dict]) -> str:
    """Designs as rows, questions as columns: rate [95% CI]; power cells in italics."""
    designs = list(dict.fromkeys(r["design"] for r in rows))
    head = "| design | " + " | ".join(q.replace("_", " ") for q in QUESTIONS) + " |"
    lines = [head, "|---" * (len(QUESTIONS) + 1) + "|"]
    for d in designs:
        cells = []
        for q in QUESTIONS:
            r = next(x for x in rows if x["design"] == d and x["question"] == q)
            txt = f"{r['rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
            cells.append(txt if r["null"] else f"*{txt}*")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
