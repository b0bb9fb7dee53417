"""The shipped paper and follow-up configs validate and run end to end on tiny layouts."""

from __future__ import annotations

import pytest
from rich.console import Console

from data_layouts import brats_2020, kvasir, lung_paper
from thetascope.config import ConfigError, load_config
from thetascope.sweep.runner import run_experiment


def _roots(tmp_path):
    return [f"data.datasets.0.root={brats_2020(tmp_path / 'brats', numbers=(1, 2, 3, 4, 5, 6))}",
            f"data.datasets.1.root={lung_paper(tmp_path / 'lung', n=6)}",
            f"data.datasets.2.root={kvasir(tmp_path / 'kvasir', n=6, renamed=True)}"]


def test_roots_are_required_and_named(tmp_path):
    with pytest.raises(ConfigError, match=r"--set data\.datasets\.0\.root="):
        load_config("paper")


@pytest.mark.parametrize("name", ["paper", "followup"])
def test_shipped_study_configs_validate(name, tmp_path):
    cfg = load_config(name, _roots(tmp_path))
    assert [d.kind for d in cfg.data.datasets] == ["brats", "lung", "kvasir"]
    assert cfg.ssl.encoder == "resnet50"
    assert len(cfg.sweep.thetas) == 360


@pytest.mark.slow
def test_paper_settings_run_end_to_end_at_toy_scale(tmp_path):
    """Every quirk of the paper config together (probe, frozen queue, guided backprop,
    shared noise, blur, '> 0' binarisation, no circle mask, nearest rotation), shrunk."""
    tiny = ["data.image_size=32", "ssl.encoder=resnet18", "ssl.batch_size=2", "ssl.steps=2",
            "ssl.split_bn=1", "data.datasets.0.slice_index=6",
            "saliency.samples=2", "saliency.chunk_size=4", "saliency.blur_kernel=5",
            "sweep.thetas=[0, 90]", "metrics.bootstrap=100"]
    cfg = load_config("paper", [*_roots(tmp_path), *tiny])
    res = run_experiment(cfg, tmp_path / "run", console=Console(quiet=True))
    assert not res.failed and set(res.results.dataset) == {"brats", "lung", "kvasir"}
    assert set(res.results.protocol) == {"probe"}
    assert "dice_paper" in set(res.results.metric)
