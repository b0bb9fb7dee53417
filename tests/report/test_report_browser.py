"""report.html in a real headless browser (Debian's chromium driven by playwright): loads
from file:// fast and without console errors, every visible figure has a size, the metric
tabs and the θ slider work, hostile names stay text. Saves a screenshot of the page's top
to tests/artifacts/report_top.png.

    apt-get install -y chromium && .venv/bin/pip install playwright   # never `playwright install`
    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -s tests/report/test_report_browser.py
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from report_helpers import EVIL, EVIL_OVERRIDES, quiet_run

pytestmark = pytest.mark.slow  # a browser and a smoke run: end to end

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM.is_file() and not shutil.which("chromium"):
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM) if CHROMIUM.is_file()
                              else shutil.which("chromium"), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def smoke_report(browser, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "smoke"
    quiet_run(out)
    return out / "report.html"


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    t = time.perf_counter()
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, errors, time.perf_counter() - t


def _visible_sizes(page) -> list[tuple[float, float]]:
    return page.eval_on_selector_all(
        "svg.chart, img", "els => els.filter(e => e.checkVisibility())"
        ".map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])")


def test_loads_fast_without_errors_and_saves_a_screenshot(browser, smoke_report):
    page, errors, seconds = _open(browser, smoke_report)
    nav = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    size = smoke_report.stat().st_size
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report_top.png"
    page.screenshot(path=str(shot))
    print(f"\nreport {size / 1e6:.2f} MB, load {seconds:.2f} s (loadEventEnd {nav:.0f} ms); "
          f"screenshot {shot}")
    assert errors == []
    assert seconds < 2.0 and nav < 2000
    assert page.title().startswith("thetascope report")
    page.close()


def test_every_figure_has_a_size_and_the_metric_tabs_switch(browser, smoke_report):
    page, errors, _ = _open(browser, smoke_report)
    page.eval_on_selector_all("details", "els => els.forEach(d => d.open = true)")
    sizes = _visible_sizes(page)
    # 2 cards + 2 dice charts + 2 polar + 4 S/A + 4 predictor + 2 loss; images: gallery, sheets
    assert len(sizes) >= 16
    assert all(w > 0 and h > 0 for w, h in sizes), sizes
    dice = page.locator('[data-group="metric"][data-key="dice"] svg.chart').first
    iou = page.locator('[data-group="metric"][data-key="iou"] svg.chart').first
    assert dice.is_visible() and not iou.is_visible()
    page.get_by_role("button", name="IoU").click()
    assert iou.is_visible() and not dice.is_visible()
    box = iou.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100
    page.locator('[data-key="iou"] circle.pt').first.hover()
    tip = page.locator("#tip")
    assert tip.is_visible() and "IoU = " in tip.inner_text() and "95% CI" in tip.inner_text()
    assert errors == []
    page.close()


def test_theta_slider_swaps_the_maps(browser, smoke_report):
    page, errors, _ = _open(browser, smoke_report)
    gallery = page.locator(".gallery").first
    sal = gallery.locator("img.sal").first
    binary = gallery.locator("img.bin").first
    before = (sal.get_attribute("src"), binary.get_attribute("src"))
    assert gallery.locator("output").inner_text() == "0°"
    gallery.locator("input[type=range]").press("End")
    assert gallery.locator("output").inner_text() == "180°"
    after = (sal.get_attribute("src"), binary.get_attribute("src"))
    assert after[0] != before[0] and after[0].startswith("data:image/png;base64,")
    assert sal.evaluate("e => e.complete && e.naturalWidth") == 32
    score = gallery.locator(".score").first.inner_text()
    assert score != "—" and 0.0 <= float(score) <= 1.0
    assert errors == []
    page.close()


def test_hostile_names_stay_text_in_the_browser(browser, tmp_path):
    quiet_run(tmp_path / "evil", EVIL_OVERRIDES + ["orient.enabled=false",
                                                    "analysis.enabled=false"])
    page, errors, _ = _open(browser, tmp_path / "evil" / "report.html")
    assert errors == []  # an executed alert(1) would show up as a dialog
    assert EVIL in page.locator(".card h3").first.inner_text()
    assert page.locator("script").count() == 1 + page.locator(".gallery").count()
    assert "did not run" in page.locator("#orientation").inner_text()
    page.close()


def test_compare_page_loads_and_switches_metric(browser, smoke_report, tmp_path):
    from thetascope.report.compare import write_compare

    other = tmp_path / "other"
    shutil.copytree(smoke_report.parent, other)
    out = write_compare([smoke_report.parent, other], tmp_path / "cmp.html")
    page, errors, seconds = _open(browser, out)
    sizes = _visible_sizes(page)
    assert len(sizes) == 2 and all(w > 0 and h > 0 for w, h in sizes)  # one per dataset
    page.get_by_role("button", name="mass in mask").click()
    assert page.locator('[data-key="mass_in_mask"] svg.chart').first.is_visible()
    assert errors == [] and seconds < 2.0
    page.close()
