"""Hostile settings and files that reach the run (not the data loaders): unknown keys,
θ grids out of range, batch/queue mismatches, a malicious-pickle checkpoint, and the
SmoothGrad memory budget's chunk-size rule.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/config/test_hostile_config.py
"""

from __future__ import annotations

import pytest
import torch
from rich.console import Console

from hostile_corpus import evil_checkpoint
from thetascope.attribution.smoothgrad import (
    SmoothGradSettings,
    effective_chunk,
    saved_bytes,
    smoothgrad_pair,
)
from thetascope.attribution.targets import pair_cosine
from thetascope.config import ConfigError, load_config
from thetascope.ssl.checkpoints import CheckpointError
from thetascope.ssl.moco import MoCo
from thetascope.ssl.train import TrainingConfigError
from thetascope.sweep.runner import run_experiment

TINY = ["sweep.thetas=[0]", "ssl.steps=1", "runtime.threads=1", "orient.enabled=false",
        "analysis.enabled=false"]


@pytest.mark.parametrize(("override", "message"), [
    ("ssl.step=3", "unknown key 'ssl.step'; did you mean 'steps'?"),
    ("salency.samples=4", "unknown key 'salency'; did you mean 'saliency'?"),
    ("data.datasets.0.max_evl=2", "did you mean 'max_eval'?"),
    ("sweep.thetas=[0, 400]", "thetas out of range [-360, 360]: [400.0]"),
    ("sweep.thetas=[.nan]", "thetas out of range [-360, 360]: [nan]"),
    ("sweep.thetas=0:1e9:1", "gives 1000000001 angles, more than 100000; use a larger step"),
    ("sweep.thetas=0:inf:1", "must use finite numbers"),
    ("sweep.thetas=0:180:0", "step must be positive"),
    ("sweep.thetas=[]", "thetas is empty"),
    ("orient.svm_thetas=[.inf]", "must be finite numbers"),
    ("sweep.seeds=[-1]", "seeds must lie in [0, 2**32)"),
    ("data.image_size=100000", "less than or equal to 4096"),
    ("saliency.memory_budget_mb=-1", "greater than or equal to 0"),
    ("ssl.queue_size=banana", "ssl.queue_size"),
])
def test_bad_settings_are_named_with_the_fix(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("smoke", [override])
    assert message in str(err.value)


@pytest.mark.parametrize(("override", "message"), [
    ("ssl.batch_size=100", "dataset 'mri-lesion': ssl.batch_size=100 exceeds the 48 SSP "
                           "images; set ssl.batch_size to at most 48"),
    ("ssl.queue_size=12", "ssl.queue_size=12 is not a multiple of ssl.batch_size=8"),
    ("ssl.batch_size=2", "ssl.batch_size=2 with ssl.split_bn=2 leaves one image per batch-norm "
                         "group"),
    ("ssl.queue_size=32", "dataset 'phantom-polyp': ssl.queue_size=32 + batch 8 exceeds"),
])
def test_batch_and_queue_mismatches_fail_once_before_any_cell(tmp_path, override, message):
    cfg = load_config("smoke", [*TINY, override])
    with pytest.raises(TrainingConfigError, match=message.replace("+", r"\+")):
        run_experiment(cfg, tmp_path, console=Console(quiet=True))
    assert not list((tmp_path / "cells").iterdir())  # nothing ran


def test_malicious_pickle_checkpoint_is_refused_unexecuted(tmp_path):
    marker = tmp_path / "pwned"
    evil = evil_checkpoint(tmp_path / "evil.pth", marker)
    cfg = load_config("smoke", [*TINY, f"ssl.weights={evil}"])
    with pytest.raises(CheckpointError, match=r"evil.pth: not a loadable weights-only "
                                              r"checkpoint .*contain code"):
        run_experiment(cfg, tmp_path / "out", console=Console(quiet=True))
    assert not marker.exists()  # the payload never ran
    torch.load(evil, weights_only=False)  # the file really is malicious (test of the test)
    assert marker.exists()


def test_chunk_rule():
    mb = 2**20
    assert effective_chunk(16, 2048, 885 * mb) == 1  # ResNet-50 at 512²: a row at a time
    assert effective_chunk(16, 4096, 885 * mb) == 4  # ⌊(4096 − 64)/885 − 0.5⌋
    assert effective_chunk(16, 2048, 10 * mb) == 16  # small rows: chunk_size stays
    assert effective_chunk(16, 0, 885 * mb) == 16  # 0: no cap
    assert effective_chunk(16, 100, 885 * mb) == 1  # never below one row


def test_budget_caps_chunks_on_a_small_model_and_keeps_the_maps():
    torch.manual_seed(0)
    model = MoCo("resnet18", dim=16, K=8).eval()
    target = pair_cosine(model.embed)
    x, r = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with saved_bytes() as saved:
        target(x[:1].clone().requires_grad_(True), r[:1].clone().requires_grad_(True))
    row_mb = saved[0] / 2**20
    assert 0.5 < row_mb < 50  # activations of one 32² row, weights excluded
    budget = 64 + int(row_mb * 3.6) + 1  # room for ⌊3.6 + ε − 0.5⌋ = 3 rows
    steps: list[int] = []
    capped = SmoothGradSettings(samples=8, chunk_size=16, memory_budget_mb=budget, precision="fp32")
    maps = smoothgrad_pair(target, x, r, capped, on_chunk=lambda d, n: steps.append(d))
    assert steps == [1, 4, 7, 10, 13, 16]  # the probe row, then 3 rows a pass
    free = smoothgrad_pair(target, x, r, SmoothGradSettings(samples=8, chunk_size=16,
                                                            memory_budget_mb=0, precision="fp32"))
    for a, b in zip(maps, free, strict=True):  # the chunking never changes a map
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- second round
@pytest.mark.parametrize(("override", "message"), [
    ("sweep.thetas=0:360:90", "0 and 360 are the same angle (θ is taken modulo 360)"),
    ("sweep.thetas=[0, 360]", "0 and 360 are the same angle"),
    ("sweep.thetas=[-90, 270]", "-90 and 270 are the same angle"),
    ("sweep.thetas=[0, 0]", "0 appears twice"),
    ("orient.svm_thetas=[10, 370]", "10 and 370 are the same angle"),
    ("data.datasets=[]", "no dataset given (data.datasets is empty); add one"),
    ("data.datasets=[{kind: mri-lesion, name: '" + "x" * 97 + "'}]", "97 bytes long, over 96"),
    ("data.datasets=[{kind: mri-lesion, name: \"a\\tb\"}]", "holds a control character"),
    ("data.min_contrast=-1", "data.min_contrast"),
    ("sweep.thetas={a: 1, a: 2}", "duplicate key 'a' (first at line 1)"),
])
def test_second_round_settings_are_one_line_naming_the_field(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("smoke", [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_angles_are_taken_modulo_360():
    cfg = load_config("smoke", ["sweep.thetas=[-90, 0, 90, 180]", "orient.thetas=[-1, 359.5]"])
    assert cfg.sweep.thetas == [270.0, 0.0, 90.0, 180.0]
    assert cfg.orient.thetas == [359.0, 359.5]
    assert load_config("smoke", ["sweep.thetas=[359.99999999]"]).sweep.thetas == [0.0]
    assert load_config("smoke", ["sweep.thetas=0:270:90"]).sweep.thetas == [0, 90, 180, 270]


def test_empty_and_duplicate_key_yaml_files_are_refused(tmp_path):
    for text in ("", "# only a comment\n", "---\n"):
        (tmp_path / "empty.yaml").write_text(text)
        with pytest.raises(ConfigError, match=r"empty.yaml: the file is empty .*leave out "
                                              "--config to run the shipped default"):
            load_config(tmp_path / "empty.yaml")
    (tmp_path / "dup.yaml").write_text("ssl:\n  steps: 3\nsweep:\n  seeds: [0]\nssl:\n"
                                       "  steps: 5\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: not valid YAML: line 5, column 1: "
                                          r"duplicate key 'ssl' \(first at line 1\)"):
        load_config(tmp_path / "dup.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ConfigError, match="bin.yaml: not a UTF-8 text file"):
        load_config(tmp_path / "bin.yaml")
