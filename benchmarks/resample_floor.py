"""The floor of the geometry: how much does rotating a map by θ and back move its Dice?

    python benchmarks/resample_floor.py            # built-in data, θ every 15° on 0..180

For each built-in dataset and seed, the untrained model's θ = 0 maps go through rotate(θ)
then rotate(−θ) with ``saliency.map_rotation`` = bilinear (the rotate-back before issue I)
and = fourier (three Fourier shears, the default since), exactly as the ``resample``
reference of a run does (sweep/references.py); the maps are binarised (Otsu) and scored.
A map that does not change cannot score differently at different θ, so the peak-to-peak
range of its Dice-vs-θ curve is pure artefact; ``excess`` is its systematic part, the mean
at angles that are not multiples of 90° minus the mean at multiples (where every rotation
only permutes pixels). Writes benchmarks/results/resample_floor.json
(docs/METHODS.md, "saliency.map_rotation", quotes it).
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from thetascope.config import load_config  # noqa: E402
from thetascope.data.registry import create_dataset  # noqa: E402
from thetascope.sweep.plan import Cell  # noqa: E402
from thetascope.sweep.references import run_reference  # noqa: E402

DATASETS = "[{kind: mri-lesion}, {kind: ct-nodule}, {kind: phantom-cxr, count: 48}, " \
           "{kind: phantom-polyp, count: 48}]"


def main() -> None:
    torch.set_num_threads(1)
    out: dict = {"when": datetime.now(timezone.utc).isoformat(), "host": platform.node(),
                 "thetas": "0:180:15", "seeds": [0, 1], "metric": "dice", "rows": []}
    t0 = time.perf_counter()
    for method in ("bilinear", "fourier"):
        cfg = load_config(None, [f"data.datasets={DATASETS}", "sweep.thetas=0:180:15",
                                 "sweep.references=[resample]",
                                 f"saliency.map_rotation={method}"])
        for spec in cfg.data.datasets:
            ds = create_dataset(spec, cfg.data)
            curves = []
            for seed in (0, 1):
                cell = Cell("bench", ds.name, float("nan"), seed, "reference", "moco_v2",
                            cfg.ssl.encoder)
                rows = run_reference(cell, ds, cfg).rows
                d = rows[(rows.metric == "dice") & (rows.model == "resample")]
                curves.append(d.groupby("theta")["value"].mean().sort_index())
            mean = np.mean([c.to_numpy() for c in curves], axis=0)
            exact = np.isclose(curves[0].index.to_numpy() % 90.0, 0.0)
            row = {"dataset": ds.name, "map_rotation": method,
                   "ptp_mean_curve": float(np.ptp(mean)),
                   "excess": float(mean[~exact].mean() - mean[exact].mean()),
                   "ptp_per_seed": [float(np.ptp(c.to_numpy())) for c in curves],
                   "curve": [round(float(x), 5) for x in mean]}
            out["rows"].append(row)
            print(f"{ds.name:14s} {method:8s} ptp {row['ptp_mean_curve']:.4f} excess "
                  f"{row['excess']:+.4f} "
                  f"(seeds {', '.join(f'{x:.4f}' for x in row['ptp_per_seed'])})", flush=True)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    path = Path("benchmarks/results/resample_floor.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
