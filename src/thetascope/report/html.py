"""``report.html``: one self-contained page (images, charts and script inline, nothing
fetched) from which a reader who never used thetascope understands a run.

    thetascope report runs/default                 # writes runs/default/report.html
    write_report(Path("runs/default"))             # the same from Python; returns the path
    try_write_report(out, datasets)                # end of a run: warns instead of raising

Sections: overview (what was measured, per-dataset headline numbers), score vs θ (every
overlap metric, mean + 95% CI + seeds + peaks, hover for values), saliency gallery with a
θ slider, orientation analysis and verdict (when that stage ran), curve signatures (is
the dataset identifiable from its curve; ≥ 2 datasets), setup (datasets with
contact sheets, settings, resolved config, provenance), SSP losses, warnings.
Every user-supplied string goes through Jinja2's autoescape.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from thetascope.atomic import atomic_write_text
from thetascope.data.sample import LoadedDataset
from thetascope.report.downstream_section import downstream_section
from thetascope.report.gallery import contact_sheets, gallery_data
from thetascope.report.orient_section import orient_section, verdict_block
from thetascope.report.run_data import RunData, data_notes, load_run, provenance, warnings
from thetascope.report.sections import (
    READ_REFERENCES,
    headline_cards,
    loss_charts,
    metric_label,
    metric_tabs,
)
from thetascope.report.signature_section import run_signature_section

log = logging.getLogger("thetascope")


def environment() -> Environment:
    env = Environment(loader=PackageLoader("thetascope.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["slug"] = lambda s: "".join(c if c.isalnum() else "-" for c in str(s)).lower()
    return env


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("thetascope")
    except PackageNotFoundError:
        return "unknown"


def describe(cfg) -> list[tuple[str, str]]:
    """The run's protocol in plain words, as (step, what was done) pairs."""
    s, m, sal = cfg.ssl, cfg.metrics, cfg.saliency
    init = f"weights from {s.weights}" if s.weights else "random initialisation"
    from thetascope.ssl.registry import get_method, method_names

    method = get_method(s.method).display_name if s.method in method_names() else s.method
    thetas = ", ".join(f"{t:g}°" for t in cfg.sweep.thetas)
    seeds = ", ".join(str(x) for x in cfg.sweep.seeds)
    if cfg.sweep.protocol == "probe":
        train = (f"one {s.encoder} ({init}) per dataset and seed, {method}, {s.steps} steps of "
                 f"batch {s.batch_size}; θ ∈ {{{thetas}}} varied only at saliency time "
                 "(protocol probe).")
    else:
        train = (f"for every θ ∈ {{{thetas}}} a fresh {s.encoder} ({init}), {method}, "
                 f"{s.steps} steps of batch {s.batch_size}; the positive pair is an image x "
                 "and its copy rotated by θ (protocol fixed-theta).")
    view = {"mean": "the mean of the map of x and the map of rot_θ(x) rotated back",
            "original": "the map of x", "rotated": "the map of rot_θ(x) rotated back"}
    names = ", ".join(metric_label(n) for n in m.names)
    return [
        ("pre-training", train),
        ("saliency", f"SmoothGrad ({sal.samples} noisy copies, σ = {sal.noise_level:g} × the "
                     "intensity range) of the cosine similarity of the embeddings of x and "
                     f"rot_θ(x); the scored map is {view.get(sal.view, sal.view)}."),
        ("scoring", f"the map binarised ({m.binarize}) against the ground-truth mask: "
                    f"{names}; seed(s) {seeds}; 95% bootstrap CIs over images and seeds."),
    ]


def settings(cfg) -> list[tuple[str, str]]:
    s, sal, m, d, g = cfg.ssl, cfg.saliency, cfg.metrics, cfg.data, cfg.geometry
    rows = [
        ("protocol", cfg.sweep.protocol),
        ("SSP method", f"{s.method}: dim {s.dim}, queue {s.queue_size}, momentum "
                       f"{s.momentum:g}, temperature {s.temperature:g}, augment {s.augment}"),
        ("encoder", f"{s.encoder} ({s.weights or 'random initialisation'})"),
        ("training", f"{s.steps} steps × batch {s.batch_size}, lr {s.lr:g} ({s.schedule}), "
                     f"precision {s.precision}"),
        ("θ grid", ", ".join(f"{t:g}°" for t in cfg.sweep.thetas)),
        ("seeds", ", ".join(str(x) for x in cfg.sweep.seeds)),
        ("images", f"{d.image_size}² px, {d.channels} channel(s), intensity {d.intensity}, "
                   f"crop {d.crop}, ≤ {d.max_eval_images} evaluation images per dataset"),
        ("rotation", f"{g.interpolation} interpolation, fill {g.fill:g}, inscribed-circle mask "
                     f"{'on' if g.circle_mask else 'off'}"),
        ("saliency", f"target {sal.target}, SmoothGrad {sal.samples} samples, σ = "
                     f"{sal.noise_level:g} × range, map {sal.map}, {sal.backprop} backprop, "
                     f"view {sal.view}, rotate back {sal.rotate_back}, blur σ {sal.blur_sigma:g}, "
                     f"precision {sal.precision}"),
        ("map rotation", f"{sal.map_rotation} (the rotated view's map back into x's "
                         "frame)"),
        ("references", ", ".join(cfg.sweep.references) or "none"),
        ("binarisation", m.binarize),
        ("metrics", ", ".join(m.names) + f"; {m.bootstrap} bootstrap resamples"),
    ]
    if cfg.orient.enabled:
        o = cfg.orient
        rows.append(("orientation", f"{o.bin_width:g}° bins, similarity {o.similarity}, HoG "
                                    f"{o.hog}, SVM {o.svm_n_train} + {o.svm_n_test} images"))
    if cfg.analysis.enabled:
        a = cfg.analysis
        rows.append(("statistics", f"α = {a.alpha:g}, θ test {a.theta_test} "
                                   f"({a.sphericity}, df {a.min_f_df}) on {a.test_on}"
                                   f"{' without θ = 0' if a.exclude_zero else ''}, "
                                   f"correction {a.correction}, {a.permutations} permutations, "
                                   f"training rule final loss ≤ {100 * a.max_loss_ratio:g} % "
                                   "of chance"))
    return rows


def context(run: RunData, write_figures: bool = True) -> dict:
    galleries = []
    metric = run.metrics[0] if run.metrics else "dice"
    for name in run.names:
        g = gallery_data(run, name, metric)
        if g is not None:
            js = {"thetas": g["thetas"], "items": [{k: it[k] for k in ("sal", "bin", "score")}
                                                   for it in g["items"]]}
            galleries.append({"name": name, "title": run.title(name), "data": g, "js": js})
    sheets = contact_sheets(run, run.root / "figures") if write_figures else {}
    return {
        "run": run, "cfg": run.cfg, "describe": describe(run.cfg) if run.cfg else [],
        "settings": settings(run.cfg) if run.cfg else [], "cards": headline_cards(run),
        "tabs": metric_tabs(run), "galleries": galleries, "sheets": sheets,
        "orient": orient_section(run), "verdict": verdict_block(run),
        "orient_enabled": bool(run.cfg and run.cfg.orient.enabled),
        "losses": loss_charts(run), "warnings": warnings(run), "provenance": provenance(run),
        "data_notes": data_notes(run), "sig": run_signature_section(run),
        "down": downstream_section(run),
        "read_references": READ_REFERENCES if not run.ref_agg.empty else "",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": _version(),
    }


def render_report(run: RunData, write_figures: bool = True) -> str:
    return environment().get_template("report.html").render(**context(run, write_figures))


def write_report(run_dir: Path, datasets: dict[str, LoadedDataset] | None = None,
                 out: Path | None = None) -> Path:
    """Write ``report.html`` (default: into ``run_dir``) and the contact sheets under
    ``figures/``; returns the page's path."""
    t = time.perf_counter()
    run = load_run(Path(run_dir), datasets)
    path = Path(out) if out else run.root / "report.html"
    atomic_write_text(path, render_report(run))
    log.info("wrote %s (%.1f MB) in %.1f s", path, path.stat().st_size / 1e6,
             time.perf_counter() - t)
    return path


def try_write_report(run_dir: Path, datasets: dict[str, LoadedDataset] | None = None
                     ) -> Path | None:
    """``write_report`` for the end of a run: any failure is logged as a warning and the
    run's other outputs stand; ``thetascope report RUN_DIR`` can retry."""
    try:
        return write_report(run_dir, datasets)
    except Exception as exc:  # the run's results must never be lost to the report
        log.warning("report.html not written (%s: %s); retry with `thetascope report %s`",
                    type(exc).__name__, exc, run_dir)
        return None
