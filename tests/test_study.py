"""The reference study (docs/STUDY.md): its config loads and plans, the write-up links only
figures that exist, and the default run is sized to teach something (issue K)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from thetascope.cli import app
from thetascope.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_study_config_uses_the_real_data_only():
    cfg = load_config("study")
    assert [d.kind for d in cfg.data.datasets] == ["mri-lesion", "ct-nodule"]
    assert len(cfg.sweep.thetas) >= 13 and min(cfg.sweep.thetas) == 0
    assert max(cfg.sweep.thetas) == 180 and len(cfg.sweep.seeds) >= 3
    assert set(cfg.sweep.references) == {"untrained", "resample", "chance"}
    assert cfg.data.max_eval_images >= 14  # every slice with a mask of either set


def test_plan_study_runs(tmp_path):
    out = tmp_path / "plan.json"
    res = CliRunner().invoke(app, ["plan", "study", "--json", str(out)])
    assert res.exit_code == 0, res.output
    est = json.loads(out.read_text())
    assert est["cells"] == 2 * 13 * 3 and est["reference_passes"] == 2 * 3 * 13


def test_every_figure_the_study_links_exists():
    text = (ROOT / "docs" / "STUDY.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((study/[^)]+)\)", text)
    assert links, "STUDY.md links no figure"
    for link in links:
        assert (ROOT / "docs" / link).is_file(), link
    total = sum((ROOT / "docs" / link).stat().st_size for link in set(links))
    assert total <= 1.5 * 2**20
    assert "thetascope run --config study" in text
    assert "docs/STUDY.md" in (ROOT / "README.md").read_text(encoding="utf-8")[:3000]


def test_default_run_trains_long_enough_on_two_datasets():
    """The default run's models must learn (analysis.max_loss_ratio); 88 bf16 steps gave
    final losses of 43–45 % of chance on its two datasets (docs/PERFORMANCE.md)."""
    cfg = load_config(None)
    assert cfg.ssl.steps >= 80 and cfg.ssl.precision == "auto"
    assert len(cfg.data.datasets) >= 2 and len(cfg.sweep.seeds) >= 2
