"""Run folders for the report tests: a real (tiny) run, and a default-sized run folder whose
cells are filled with random maps and scores (no training) to measure the page's size.

    res = quiet_run(tmp / "run", EVIL_OVERRIDES)
    cfg, datasets, results = fake_run(tmp / "fake")           # configs/default.yaml's grid
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

EVIL = "<script>alert(1)</script>"
QUOTED = 'polyp "q" & <b>bold</b>'
# Two datasets with hostile names, two θ, one seed, two SSP steps: a few seconds.
EVIL_OVERRIDES = [
    f"data.datasets=[{{kind: mri-lesion, name: '{EVIL}', max_eval: 3}}, "
    f"{{kind: phantom-polyp, name: '{QUOTED}', count: 24, size: 64, max_eval: 3}}]",
    "sweep.thetas=[0, 90]", "ssl.steps=2",
]


def quiet_run(out: Path, overrides: list[str] | None = None, config: str = "smoke"):
    from thetascope.config import load_config
    from thetascope.sweep.runner import run_experiment

    cfg = load_config(config, overrides or [])
    return run_experiment(cfg, out, console=Console(file=io.StringIO()))


def fake_run(out: Path, config: str = "default", overrides: list[str] | None = None):
    """A finished-looking run folder with the config's full grid; maps are uniform noise
    (the worst case for PNG size), scores uniform in [0, 1]."""
    from thetascope.analysis.curves import aggregate
    from thetascope.config import dump_config, fingerprint, load_config
    from thetascope.sweep.plan import plan_cells
    from thetascope.sweep.runner import load_datasets
    from thetascope.sweep.store import ResultStore

    cfg = load_config(config, overrides or [])
    datasets = load_datasets(cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(f"# thetascope resolved config; fingerprint "
                                     f"{fingerprint(cfg)}\n" + dump_config(cfg))
    store = ResultStore(out)
    rng = np.random.default_rng(0)
    cells = plan_cells(cfg, datasets)
    size = cfg.data.image_size
    for c in cells:
        ids = [s.id for s in datasets[c.dataset].eval]
        rows = pd.DataFrame([{"dataset": c.dataset, "theta": c.theta, "seed": c.seed,
                              "image_id": i, "metric": m, "value": float(rng.uniform()),
                              "cell": c.key} for i in ids for m in cfg.metrics.names])
        k = min(cfg.saliency.gallery_images, len(ids))
        sal = rng.random((k, size, size)).astype(np.float16)
        maps = {"ids": np.array(ids[:k]), "saliency": sal, "binary": sal > 0.5}
        meta = {"key": c.key, "dataset": c.dataset, "theta": c.theta, "seed": c.seed,
                "started": "2026-01-01T00:00:00", "finished": "2026-01-01T00:01:00",
                "wall_s": 1.0, "train_s": 0.8, "saliency_s": 0.2, "device": "cpu"}
        store.write_cell(c.key, rows, list(rng.uniform(2, 4, cfg.ssl.steps)), maps, meta)
    results = store.collect([c.key for c in cells])
    results.to_parquet(out / "results.parquet", index=False)
    agg = pd.concat([aggregate(results, m, n_boot=100) for m in cfg.metrics.names],
                    ignore_index=True)
    agg.to_csv(out / "aggregate.csv", index=False)
    losses = pd.concat([pd.DataFrame({"dataset": c.dataset, "theta": c.theta, "seed": c.seed,
                                      "step": range(cfg.ssl.steps),
                                      "loss": store.read_losses(c.key)}) for c in cells])
    losses.to_parquet(out / "losses.parquet", index=False)
    return cfg, datasets, results
