"""Both protocols and every executor give the same results; training resumes exactly."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from rich.console import Console

from thetascope.config import apply_overrides, builtin_config_path, load_config
from thetascope.data.phantoms import generate
from thetascope.ssl.moco import MoCo
from thetascope.ssl.pairs import pair_builder
from thetascope.ssl.train import TrainSettings, pretrain
from thetascope.sweep.runner import run_experiment

KEY = ["dataset", "theta", "seed", "image_id", "metric"]
BASE = ["sweep.thetas=[0, 90]", "runtime.threads=1", "runtime.cpus_per_task=1"]


def _cfg(*extra: str):
    return apply_overrides(load_config(builtin_config_path("smoke")), [*BASE, *extra])


def _rows(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(KEY).reset_index(drop=True)[[*KEY, "value", "protocol"]]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return run_experiment(_cfg(), tmp_path_factory.mktemp("local"), console=Console(quiet=True))


def test_training_resumes_exactly_from_a_checkpoint():
    images, _ = generate("phantom-polyp", count=24, size=32, seed=0)
    x = torch.from_numpy(images)[:, None].repeat(1, 3, 1, 1)
    pair = pair_builder("probe", 0.0, augment="reference", size=32)  # randomness included
    settings = TrainSettings(steps=6, batch_size=8, precision="fp32")

    def fresh():
        torch.manual_seed(0)
        return MoCo("resnet18", dim=8, K=8, split_bn=2)

    states = []
    full_model = fresh()
    full = pretrain(full_model, x, pair, settings, 0, checkpoint_every=2,
                    on_checkpoint=states.append)
    assert [s["step"] for s in states] == [2, 4]
    resumed_model = fresh()
    resumed = pretrain(resumed_model, x, pair, settings, 0, resume=states[0])
    assert resumed == full
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_probe_protocol_shares_one_model_per_dataset_and_seed(tmp_path):
    cfg = _cfg("sweep.protocol=probe", "ssl.augment=reference")
    res = run_experiment(cfg, tmp_path, console=Console(quiet=True))
    assert res.n_ran == res.n_cells == 4 and not res.failed
    assert set(res.results.protocol) == {"probe"}
    units = list((tmp_path / "pretrain").glob("*/model.pt"))
    assert len(units) == 2  # one per dataset (one seed)
    losses = pd.read_parquet(tmp_path / "losses.parquet")
    per_theta = losses.groupby(["dataset", "theta"]).loss.apply(list)
    for name in losses.dataset.unique():
        assert per_theta[name][0.0] == per_theta[name][90.0]  # the same pre-trained model
    again = run_experiment(cfg, tmp_path, console=Console(quiet=True))
    assert again.n_ran == 0


@pytest.mark.slow
def test_process_executor_matches_local(local_run, tmp_path):
    res = run_experiment(_cfg("runtime.executor=process", "runtime.workers=2"), tmp_path,
                         console=Console(quiet=True))
    assert not res.failed
    pd.testing.assert_frame_equal(_rows(res.results), _rows(local_run.results))


@pytest.mark.slow
def test_ray_executor_matches_local(local_run, tmp_path):
    pytest.importorskip("ray")
    res = run_experiment(_cfg("runtime.executor=ray", "runtime.address=local"), tmp_path,
                         console=Console(quiet=True))
    assert not res.failed
    pd.testing.assert_frame_equal(_rows(res.results), _rows(local_run.results))
    meta = [p.read_text() for p in tmp_path.glob("cells/*/cell.json")]
    assert all('"torch_threads": 1' in m for m in meta)


@pytest.mark.slow
def test_plan_command_counts_and_estimates(tmp_path):
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "plan.json"
    res = subprocess.run([sys.executable, "-m", "thetascope", "plan", "smoke", "--set",
                          "sweep.protocol=probe", "--set", "ssl.augment=reference", "--json",
                          str(out)], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "200"}, timeout=300)
    assert res.returncode == 0, res.stderr
    est = json.loads(out.read_text())
    assert est["cells"] == 2 * 3 * 1 and est["fits"] == 2  # probe: one fit per dataset/seed
    assert est["seconds_per_step"] > 0 and est["total_seconds"] > 0
    assert "model fits" in res.stdout
