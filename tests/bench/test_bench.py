"""The benchmark harness runs end to end on tiny workloads and writes the promised JSON."""

import json

import pytest

from thetascope.bench.common import Row


def test_row_ratio_and_target():
    assert Row("a", "b", 2.0, 3.0, "x/s", 1.4).ratio == pytest.approx(1.5)
    assert Row("a", "b", 2.0, 3.0, "x/s", 1.6).met is False
    assert Row("t", "budget", 300.0, 150.0, "s", 1.0, higher_is_better=False).ratio == 2.0


@pytest.mark.slow
def test_quick_suite_writes_json(tmp_path):
    pytest.importorskip("captum")
    from thetascope.bench.suite import run_suite

    rows, path = run_suite(quick=True, only=["training", "smoothgrad", "self_overlap",
                                             "multi_theta", "data_path", "hog_svm"],
                           out_dir=tmp_path)
    data = json.loads(path.read_text())
    assert len(data["rows"]) == len(rows) >= 7
    for row in data["rows"]:
        for key in ("name", "baseline", "baseline_value", "value", "unit", "ratio", "target",
                    "machine"):
            assert key in row
        assert row["value"] > 0 and row["baseline_value"] > 0
    sg = next(r for r in data["rows"] if r["name"] == "SmoothGrad fp32")
    # with no noise, thetascope's maps equal Captum's within float tolerance
    assert sg["notes"]["max_abs_diff_no_noise"] <= 1e-5 * max(1.0, sg["notes"]["scale_of_maps"])
    hog = next(r for r in data["rows"] if r["name"].startswith("HoG"))
    assert hog["notes"]["max_abs_diff_accuracy"] == 0.0


def test_bench_device_errors_are_one_line(tmp_path):
    import torch
    from typer.testing import CliRunner

    from thetascope.cli import app

    bad = CliRunner().invoke(app, ["bench", "--device", "gpu", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "use auto, cpu or cuda" in bad.output
    if not torch.cuda.is_available():
        res = CliRunner().invoke(app, ["bench", "--device", "cuda", "--out", str(tmp_path)])
        assert res.exit_code == 2 and "no CUDA device" in res.output
    assert not list(tmp_path.iterdir())  # nothing measured, nothing written
