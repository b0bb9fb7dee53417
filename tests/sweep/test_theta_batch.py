"""``sweep.theta_batch: auto`` (``sweep/theta_batch.py``): one model at a time on a CPU."""

from __future__ import annotations

import pytest
import torch

from thetascope.config import ConfigError, load_config
from thetascope.sweep.plan import cell_identity
from thetascope.sweep.theta_batch import can_fuse, fused_k, resolve_theta_batch


def test_auto_is_the_default_and_validated():
    cfg = load_config("smoke")
    assert cfg.sweep.theta_batch == "auto"
    assert load_config("smoke", ["sweep.theta_batch=4"]).sweep.theta_batch == 4
    for bad in ("0", "fast", "2.5"):
        with pytest.raises(ConfigError, match="theta_batch"):
            load_config("smoke", [f"sweep.theta_batch={bad}"])


def test_auto_resolves_to_one_on_a_cpu_and_keeps_cell_keys():
    cfg = load_config("smoke")
    resolved, why = resolve_theta_batch(cfg, torch.device("cpu"))
    assert resolved.sweep.theta_batch == 1 and "slower" in why
    assert fused_k(cfg) == 1  # unresolved auto plans one model at a time
    one = load_config("smoke", ["sweep.theta_batch=1"])
    assert cell_identity(resolved, {}, "fp", 90.0, 0) == cell_identity(one, {}, "fp", 90.0, 0)
    fixed, why = resolve_theta_batch(load_config("smoke", ["sweep.theta_batch=3"]),
                                     torch.device("cpu"))
    assert fixed.sweep.theta_batch == 3 and why == ""  # a number is kept as given


def test_what_cannot_fuse_resolves_to_one():
    assert can_fuse(load_config("smoke"))
    for override in ("ssl.method=simclr", "sweep.protocol=probe ssl.augment=mocov2",
                     "runtime.checkpoint_every=5", "ssl.encoder=convnext_tiny"):
        assert not can_fuse(load_config("smoke", override.split())), override
    probe = ["sweep.protocol=probe", "ssl.augment=mocov2", "sweep.theta_batch=4"]
    assert fused_k(load_config("smoke", probe)) == 1
