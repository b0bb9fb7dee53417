"""The public Python API (``thetascope/api.py``, re-exported by ``import thetascope``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

import thetascope
import thetascope as ts
from thetascope.config import ConfigError, ExperimentConfig
from thetascope.sweep.explain import explain_at


def tiny_encoder() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten())


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, so BN cannot be folded."""

    def __init__(self) -> None:
        super().__init__()
        self.body = tiny_encoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.body(x)
        return z if bool(z.sum() > -1e9) else -z


def images(n: int = 3, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).random((n, size, size)).astype(np.float32)


def test_exports_are_the_documented_names():
    assert set(thetascope.__all__) == {"__version__", *thetascope._EXPORTS}
    for name in thetascope._EXPORTS:
        assert getattr(thetascope, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = thetascope.nope


def test_load_config_accepts_every_form():
    by_name = ts.load_config("smoke")
    assert isinstance(by_name, ExperimentConfig) and by_name.name == "smoke"
    over = ts.load_config(by_name, ["sweep.thetas=[0, 45]"])
    assert over.sweep.thetas == [0.0, 45.0] and by_name.sweep.thetas != over.sweep.thetas
    from_dict = ts.load_config({"name": "nb", "sweep": {"seeds": [3]}})
    assert from_dict.name == "nb" and from_dict.sweep.seeds == [3]
    assert ts.load_config().name == "default"
    with pytest.raises(ConfigError, match="not int"):
        ts.load_config(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not found"):
        ts.load_config("no-such-config")


def test_saliency_is_the_sweeps_explain_step():
    """ts.saliency on a MoCo query encoder gives the maps a sweep cell scores."""
    from thetascope.ssl.moco import MoCo

    cfg = ts.load_config("smoke", ["saliency.precision=fp32"])
    model = MoCo("resnet18", dim=16, K=8, in_channels=1, image_size=32).eval()
    x = images()[:, None]
    want = explain_at(model, x, 90.0, cfg, torch.device("cpu"), seed=1)
    enc = next(m for n, m in model.named_children() if n == "encoder_q")
    got = ts.saliency(enc, x, 90, seed=1, config=cfg)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


def test_saliency_on_any_module_restores_its_mode():
    net = tiny_encoder().train()
    maps = ts.saliency(net, images(), 45, samples=4, precision="fp32", view="original")
    assert maps.shape == (3, 32, 32) and (maps >= 0).all() and maps.max() > 0  # |grad × x|
    assert net.training  # left as it was
    plain = ts.saliency(Untraceable(), images(), 45, samples=4, precision="fp32")
    assert plain.shape == (3, 32, 32) and plain.max() > 0
    with pytest.raises(ConfigError, match="samples"):
        ts.saliency(net, images(), 45, samples=0)
    with pytest.raises(TypeError, match="nn.Module"):
        ts.saliency(lambda x: x, images(), 45)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        ts.saliency(net, np.zeros(5), 45)


def test_score_by_hand():
    mask = np.zeros((32, 32), bool)
    mask[12:20, 12:20] = True
    perfect = ts.score(mask.astype(float), mask, metrics=["dice", "iou", "pointing_game"])
    assert perfect == {"mask_outside_valid": 0.0, "dice": 1.0, "iou": 1.0,
                       "pointing_game": 1.0}
    half = mask.copy()
    half[12:20, 16:20] = False  # the map covers half the mask: Dice 2·32/(32+64) = 2/3
    got = ts.score(half.astype(float), mask, metrics=["dice", "iou"])
    assert got["dice"] == pytest.approx(2 / 3) and got["iou"] == pytest.approx(0.5)
    empty = ts.score(half.astype(float), np.zeros((32, 32)), metrics=["dice"])
    assert np.isnan(empty["dice"])  # nothing to overlap: NaN, never 0 or 1
    with pytest.raises(ValueError, match="binary"):
        ts.score(half, mask * 3.0)
    with pytest.raises(ValueError, match="one shape"):
        ts.score(half, mask[:30])


def test_orientation_of_stripes():
    """Vertical stripes: all gradients horizontal (0° and 180°), so S is 1 at 0° and 180°
    and low at 90°."""
    x = np.tile(np.sin(np.linspace(0, 8 * np.pi, 48)), (48, 1))[None].astype(np.float32)
    o = ts.orientation(np.repeat(x, 2, axis=0), thetas=[0, 90, 180])
    assert o.histograms.shape[0] == 2 and o.s_images.shape == (2, 3)
    assert o.s_dataset[0] == pytest.approx(1.0)
    assert o.s_dataset[2] > 0.9 and o.s_dataset[1] < 0.2
    assert set(o.frame().curve) == {"S"}


@pytest.mark.slow
def test_run_then_verdict_of_the_folder(tmp_path):
    res = ts.run("smoke", tmp_path / "nb", progress=False,
                 overrides=["sweep.thetas=[0, 90, 180]", "runtime.threads=1"])
    assert isinstance(res, ts.RunResult) and (res.out_dir / "report.html").is_file()
    assert {"trained", "untrained"} <= set(pd.read_parquet(
        res.out_dir / "results.parquet").model)
    again = ts.verdict(res.out_dir)
    key = ["dataset", "test"]
    a = res.verdict.sort_values(key).reset_index(drop=True)
    b = again.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[[*key, "decision"]], b[[*key, "decision"]])
    with pytest.raises(FileNotFoundError, match="not a finished run folder"):
        ts.verdict(tmp_path)


def test_importing_the_package_does_not_import_torch() -> None:
    """``import thetascope`` and the data/metric registration calls stay light (torch takes
    seconds to import): the public names load lazily (PEP 562)."""
    import subprocess
    import sys

    code = ("import sys, thetascope; thetascope.register_dataset; thetascope.register_metric; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
