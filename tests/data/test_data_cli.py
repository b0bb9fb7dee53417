"""``thetascope data inspect``: layout, counts, sizes, coverage, problems, contact sheet."""

from __future__ import annotations

from typer.testing import CliRunner

from data_layouts import brats_2020, kvasir
from thetascope.cli import app

runner = CliRunner()


def test_inspect_a_folder_writes_a_contact_sheet(tmp_path):
    root = kvasir(tmp_path / "Kvasir-SEG", n=3)
    (root / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    res = runner.invoke(app, ["data", "inspect", str(root), "--out", str(tmp_path / "out"),
                              "--image-size", "32", "--samples", "2"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "kind kvasir, layout original" in out
    assert "3 read; 3 with a non-empty mask, 0 empty masks" in out
    assert "56×48 (3)" in out and "foreground fraction mean 0.1" in out
    assert "unreadable image: 1" in out and "broken.jpg" in out
    assert (tmp_path / "out" / "contact_Kvasir-SEG.png").stat().st_size > 1000


def test_inspect_a_config_and_errors(tmp_path):
    root = brats_2020(tmp_path / "brats", numbers=(1, 2))
    cfg = tmp_path / "study.yaml"
    cfg.write_text(f"data:\n  datasets:\n    - kind: brats\n      root: {root}\n"
                   f"  cache_dir: {tmp_path / 'cache'}\n")
    res = runner.invoke(app, ["data", "inspect", str(cfg), "-o", str(tmp_path),
                              "--set", "data.image_size=32"])
    assert res.exit_code == 0, res.output
    assert "kind brats" in res.output and "problems  none" in res.output
    assert (tmp_path / "contact_brats.png").is_file()
    bad = runner.invoke(app, ["data", "inspect", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "not found" in bad.output
    group = runner.invoke(app, ["data"])  # a group without a command: usage error + help
    assert group.exit_code == 2, group.output
    assert "Usage: thetascope data" in group.output and "inspect" in group.output
