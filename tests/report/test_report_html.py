"""report.html and compare.html without a browser: sections, self-containment, escaping of
hostile dataset names, gallery data, numbers, fallbacks, the CLI, the page's size.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/report/test_report_html.py
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from report_helpers import EVIL, EVIL_OVERRIDES, QUOTED, fake_run, quiet_run
from thetascope.cli import app
from thetascope.report import html as report_html
from thetascope.report.html import try_write_report, write_report
from thetascope.report.svg import Chart, polar_svg

SECTIONS = ["overview", "scores", "gallery", "orientation", "setup", "training", "warnings"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny real run whose two datasets have hostile names; report.html at its end."""
    out = tmp_path_factory.mktemp("report") / "run"
    res = quiet_run(out, EVIL_OVERRIDES)
    return out, res


@pytest.fixture(scope="module")
def page(run) -> str:
    return (run[0] / "report.html").read_text(encoding="utf-8")


def _gallery_json(page: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/json" class="gdata">(.*?)</script>',
                        page, re.S)
    return [json.loads(b) for b in blocks]


def test_run_writes_a_report_with_every_section(run, page):
    out, res = run
    for sid in SECTIONS:
        assert f'id="{sid}"' in page, sid
    assert page.count('class="gallery"') == 2
    assert 'id="downstream"' not in page  # downstream rows only: downstream/test_downstream.py
    assert "Verdict" in page and "θ matters" in page  # the statistics stage ran
    assert "report.html" in (out / "run.log").read_text()
    assert "image(s) left out (empty mask)" in page  # mri-lesion slices without a lesion


def test_report_is_self_contained(page):
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)
    assert "<link rel=\"stylesheet\"" not in page and "@import" not in page
    assert not re.search(r"url\(\s*['\"]?https?:", page)
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/") for s in srcs)


def test_hostile_dataset_names_render_as_text(page):
    assert EVIL not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "polyp &#34;q&#34; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    # only our own script elements: the page script and one JSON block per gallery
    assert len(re.findall(r"<script\b", page)) == 1 + len(_gallery_json(page))
    for block in re.findall(r'class="gdata">(.*?)</script>', page, re.S):
        assert "<" not in block


def test_gallery_holds_one_map_per_theta_at_the_scored_resolution(run, page):
    out, res = run
    galleries = _gallery_json(page)
    thetas = sorted(res.results.theta.unique())
    for g in galleries:
        assert g["thetas"] == thetas
        assert len(g["items"]) == 2  # saliency.gallery_images of the smoke profile
        for item in g["items"]:
            assert len(item["sal"]) == len(item["bin"]) == len(item["score"]) == len(thetas)
            png = Image.open(io.BytesIO(base64.b64decode(item["sal"][0].split(",", 1)[1])))
            assert png.size == (32, 32)
    assert any(it["sal"][0] != it["sal"][1] for g in galleries for it in g["items"])
    first = galleries[0]["items"][0]
    r = res.results
    dice = r[(r.dataset == EVIL) & (r.seed == 0) & (r.metric == "dice") & (r.theta == 0)]
    assert first["score"][0] == pytest.approx(float(dice.value.iloc[0]))


def test_chart_tooltips_carry_the_aggregate_numbers(run, page):
    agg = pd.read_csv(run[0] / "aggregate.csv")
    row = agg[(agg.dataset == QUOTED) & (agg.metric == "iou") & (agg.theta == 90)].iloc[0]
    tips = re.findall(r'data-tip="([^"]*)"', page)
    want = f"IoU = {row['mean']:.3f}  95% CI [{row.ci_low:.3f}, {row.ci_high:.3f}]"
    assert any("θ = 90°" in t and want in t for t in tips)


def test_report_without_orientation_or_datasets_still_renders(run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run[0], copy)
    for p in [*copy.glob("orient_*.parquet"), copy / "verdict.parquet"]:
        p.unlink()
    page = write_report(copy, datasets={}).read_text(encoding="utf-8")
    assert "orientation files (<code>orient_*.parquet</code>) are not in this run" in page
    assert "No verdict" in page
    assert page.count("image not available") == 4  # 2 datasets × 2 gallery images
    assert "phantom-polyp" in page and ">48<" in page  # kinds and counts from run.log


def test_cli_report_and_a_failed_report_keeps_the_run(run, tmp_path, monkeypatch, caplog):
    copy = tmp_path / "copy"
    shutil.copytree(run[0], copy)
    (copy / "report.html").unlink()
    res = CliRunner().invoke(app, ["report", str(copy)])
    assert res.exit_code == 0, res.output
    assert (copy / "report.html").stat().st_size > 10_000
    bad = CliRunner().invoke(app, ["report", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "not a finished thetascope run" in bad.output

    def boom(*a, **k):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(report_html, "render_report", boom)
    with caplog.at_level(logging.WARNING, logger="thetascope"):
        assert try_write_report(copy) is None
    assert "template exploded" in caplog.text and "thetascope report" in caplog.text
    assert (copy / "results.parquet").is_file()


def test_compare_overlays_runs_and_escapes(run, tmp_path):
    a, b = tmp_path / "enc-a", tmp_path / "<i>enc-b</i>"
    shutil.copytree(run[0], a)
    shutil.copytree(run[0], b)
    out = tmp_path / "cmp.html"
    res = CliRunner().invoke(app, ["compare", str(a), str(b), "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    assert "<i>enc-b</i>" not in page and "&lt;i&gt;enc-b&lt;/i&gt;" in page
    assert EVIL not in page
    # one overlay per dataset and metric, each with a line per run
    assert page.count('<svg class="chart"') == 2 * 4
    assert page.count('class="ln"') >= 2 * 4 * 2
    assert "θ matters" in page


def test_svg_chart_escapes_and_breaks_lines_at_nan():
    c = Chart("<t>", "x", "y")
    c.line([0, 1, 2, 3], [0.1, np.nan, 0.3, 0.4], tip="<tip>")
    c.points([0, 1], [0.1, np.nan], tips=["a&b", "never drawn"])
    svg = str(c.to_svg())
    assert "<t>" not in svg and "&lt;t&gt;" in svg and "&lt;tip&gt;" in svg
    assert svg.count("<polyline") == 2 and svg.count('class="pt"') == 1
    assert "a&amp;b" in svg and "never drawn" not in svg
    polar = str(polar_svg([0, 90, 180, 270], [1, 2, 1, 0.5], "<p>"))
    assert "&lt;p&gt;" in polar and "strongest orientation 90°" in polar


def test_default_sized_report_stays_small(tmp_path):
    """configs/default.yaml's grid (2 datasets × 7 θ × 2 seeds, 4 gallery images at 64 px)
    with noise maps, the worst case for PNG compression."""
    cfg, datasets, _ = fake_run(tmp_path / "fake")
    path = write_report(tmp_path / "fake", datasets)
    size = path.stat().st_size
    print(f"default-sized report: {size / 1e6:.2f} MB")
    assert size < 15e6
    page = path.read_text(encoding="utf-8")
    galleries = _gallery_json(page)
    assert len(galleries) == 2
    assert all(len(g["thetas"]) == 7 and len(g["items"]) == 4 for g in galleries)
    assert (tmp_path / "fake" / "figures" / "contact_mri-lesion.svg").is_file()
