"""A whole smoke sweep on a generated BraTS 2020 folder (``kind: auto``), summary included."""

from __future__ import annotations

import pandas as pd
import pytest
from rich.console import Console

from data_layouts import brats_2020
from thetascope.config import apply_overrides, builtin_config_path, load_config
from thetascope.sweep.runner import run_experiment


@pytest.mark.slow
def test_smoke_sweep_on_a_brats_folder(tmp_path):
    root = brats_2020(tmp_path / "MICCAI_BraTS2020_TrainingData",
                      numbers=(1, 2, 3, 4, 5, 6, 7, 355), gz=True)
    (root / "BraTS20_Training_008").mkdir()  # an empty case folder: skipped and listed
    datasets = (f"[{{kind: auto, root: {root}, name: brats, max_eval: 3}}]")
    cfg = apply_overrides(load_config(builtin_config_path("smoke")), [
        f"data.datasets={datasets}", "data.image_size=32", f"data.cache_dir={tmp_path / 'c'}",
        "sweep.thetas=[0, 90]", "sweep.seeds=[0]", "ssl.batch_size=4", "ssl.steps=2",
    ])
    res = run_experiment(cfg, tmp_path / "run", console=Console(quiet=True))
    df = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert set(df.dataset) == {"brats"} and set(df.theta) == {0.0, 90.0}
    assert df.image_id.str.startswith("BraTS20_Training_").all()
    assert df[df.metric == "dice"].value.between(0, 1).all()
    assert res.datasets["brats"].kind == "brats" and len(res.datasets["brats"].ssp) == 8
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "## Skipped inputs" in summary and "BraTS20_Training_008` | empty folder" in summary
    assert len(list((tmp_path / "c").glob("brats-*.npz"))) == 1
    again = run_experiment(cfg, tmp_path / "run", console=Console(quiet=True))
    assert again.n_ran == 0 and again.datasets["brats"].cache_status == "hit"
