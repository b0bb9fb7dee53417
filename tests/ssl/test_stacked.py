"""Training K θ-models fused is training them one by one (same numbers, to float tolerance)."""

import io

import pytest
import torch

from moco_helpers import default_dtype, phantom_images, tiny_moco, train_fused_and_separate
from thetascope.ssl.moco import MoCo
from thetascope.ssl.stacked import fuse, unfuse
from thetascope.ssl.train import TrainSettings

THETAS = [0.0, 45.0, 90.0]


def test_fuse_unfuse_round_trip_and_forward_equivalence():
    mods = [tiny_moco(s).encoder_q for s in (0, 1)]
    fused = fuse(mods)
    x = torch.rand(4, 3, 32, 32)
    for m in mods:
        m.eval()
    fused.eval()
    with torch.no_grad():
        want = torch.cat([m(x) for m in mods], 1)
        got = fused(x.repeat(1, 2, 1, 1))
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    copies = [tiny_moco(5).encoder_q for _ in mods]
    unfuse(fused, copies)
    for a, b in zip(mods, copies, strict=True):
        for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(),
                                     strict=True):
            assert torch.equal(va, vb), ka


@pytest.fixture
def float64():
    """Exactness is checked in float64 (``moco_helpers.default_dtype`` says why)."""
    with default_dtype(torch.float64):
        yield


@pytest.mark.slow
@pytest.mark.parametrize("queue_init", ["data", "random"])
def test_stacked_training_equals_sequential(queue_init, float64):
    x = phantom_images().double()
    settings = TrainSettings(steps=6, batch_size=8, lr=0.05, queue_init=queue_init,
                             precision="fp32")
    seq, seq_models, st, st_models = train_fused_and_separate(THETAS, x, settings, seed=3)
    for a, b in zip(seq, st, strict=True):
        torch.testing.assert_close(torch.tensor(b), torch.tensor(a), atol=1e-6, rtol=1e-6)
    for ma, mb in zip(seq_models, st_models, strict=True):
        for (k, va), (_, vb) in zip(ma.state_dict().items(), mb.state_dict().items(),
                                    strict=True):
            if va.is_floating_point():
                torch.testing.assert_close(vb, va, atol=1e-8, rtol=1e-8, msg=k)
            else:
                assert torch.equal(va, vb), k


def test_non_resnet_is_refused():
    with pytest.raises(ValueError, match="ResNets only"):
        fuse([MoCo("vit_b_16", dim=8, K=4, image_size=32).encoder_q for _ in range(2)])


@pytest.mark.slow
def test_theta_batch_runs_a_sweep(tmp_path):
    from rich.console import Console

    from thetascope.config import builtin_config_path, load_config
    from thetascope.sweep.runner import run_experiment

    cfg = load_config(builtin_config_path("smoke"), [
        "sweep.thetas=[0, 45, 90, 135, 180]", "sweep.theta_batch=2", "analysis.enabled=false",
        "orient.enabled=false"])
    console = Console(record=True, width=200, file=io.StringIO())
    res = run_experiment(cfg, tmp_path, console=console)
    assert res.n_ran == res.n_cells == 10 and not res.failed
    # this machine trains on the CPU, where fusing is slower: the run says so
    assert "set sweep.theta_batch=1" in console.export_text()
    metas = [p.read_text() for p in tmp_path.glob("cells/*/cell.json")]
    assert sum('"theta_batch": 2' in m for m in metas) == 8  # 2 datasets × two pairs
    # the fused path masks self-negatives and says how often it had to
    assert all('"self_negatives_masked": true' in m and '"self_negative_share"' in m
               for m in metas)
    assert len(res.results.groupby(["dataset", "theta"])) == 10


def test_theta_batch_rejects_unfusable_setups():
    from thetascope.config import ConfigError, ExperimentConfig, apply_overrides
    from thetascope.sweep.dispatch import check_theta_batch

    for extra in ("ssl.method=simclr", "ssl.encoder=convnext_tiny",
                  "runtime.checkpoint_every=5"):
        cfg = apply_overrides(ExperimentConfig(), ["sweep.theta_batch=4", extra])
        with pytest.raises(ConfigError, match="theta_batch"):
            check_theta_batch(cfg)


def test_momentum_update_matches_the_per_parameter_loop():
    """Same update as builder.py's ``k = k·m + q·(1 − m)``, to float32 rounding."""
    from thetascope.ssl.moco import momentum_update

    torch.manual_seed(0)
    queries = [torch.randn(5, 3), torch.randn(7)]
    keys = [torch.randn(5, 3), torch.randn(7)]
    want = [k.clone().mul_(0.99).add_(q, alpha=0.01) for k, q in zip(keys, queries, strict=True)]
    momentum_update(keys, queries, 0.99)
    for got, w in zip(keys, want, strict=True):
        torch.testing.assert_close(got, w, rtol=2e-7, atol=1e-7)
    with pytest.raises(ValueError, match="1 key vs 2 query"):
        momentum_update(keys[:1], queries, 0.99)
