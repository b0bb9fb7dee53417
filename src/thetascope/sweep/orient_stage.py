"""The orientation + statistics stage of a run (and the work of ``thetascope orient``).

    orient = orient_datasets(cfg, datasets)                  # histograms, S(θ), A(θ)
    paths = write_orient(out, orient, datasets)              # orient_*.parquet + figures
    stage = run_analysis_stage(cfg, out, datasets, results)  # the above + verdict.parquet

Images: every image of each dataset's SSP pool (what pre-training saw; it contains the
evaluation images), capped by ``orient.max_images``, plus any evaluation image the cap
left out (the image-level test needs each scored image's own S(θ)). Grayscale = mean over
channels, at ``data.image_size``: the pixels the network sees. The HoG SVM trains on the
first ``orient.svm_n_train`` SSP images and tests on the next ``orient.svm_n_test``, with
``geometry.interpolation`` and ``geometry.circle_mask`` for its rotations. S(θ) is
evaluated on ``orient.thetas`` and A(θ) on ``orient.svm_thetas``, each joined with the
sweep θ so the predictors are known exactly where the score is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from thetascope.config import ExperimentConfig
from thetascope.data.sample import LoadedDataset
from thetascope.orient.histograms import (
    bin_centres,
    dataset_histogram,
    orientation_histograms,
    self_overlap,
    to_gray,
)
from thetascope.orient.hog_svm import HogParams, SvmResult, hog_preset, hog_svm_test
from thetascope.sweep.store import atomic_write_parquet

log = logging.getLogger("thetascope")


@dataclass
class DatasetOrientation:
    ids: list[str]
    hists: np.ndarray  # (N, K)
    s_thetas: np.ndarray  # (T,)
    s_images: np.ndarray  # (N, T)
    s_dataset: np.ndarray  # (T,)
    example: np.ndarray  # (H, W) grayscale, the first evaluation image
    svm: SvmResult | None = None
    svm_note: str = ""


@dataclass
class OrientOutput:
    per_dataset: dict[str, DatasetOrientation]
    hog: HogParams
    hog_preset: str
    bin_width: float
    similarity: str
    dataset_curve: str
    seconds: float = 0.0
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def _grid(base, extra) -> np.ndarray:
    return np.unique(np.round(np.concatenate([np.asarray(base, float) % 360.0,
                                              np.asarray(extra, float) % 360.0]), 6))


def _images(ds: LoadedDataset, cap: int | None) -> tuple[np.ndarray, list[str]]:
    pool = ds.ssp[:cap] if cap else list(ds.ssp)
    have = {s.id for s in pool}
    pool = pool + [s for s in ds.eval if s.id not in have]
    return to_gray(np.stack([s.image for s in pool])), [s.id for s in pool]


def orient_dataset(ds: LoadedDataset, cfg: ExperimentConfig, params: HogParams,
                   extra_thetas=()) -> DatasetOrientation:
    o = cfg.orient
    gray, ids = _images(ds, o.max_images)
    hists = orientation_histograms(gray, o.bin_width, o.gradient_sigma, circle=True)
    th = _grid(o.thetas, extra_thetas)
    s_img = np.concatenate([self_overlap(hists[i:i + 64], th, o.bin_width, o.similarity)
                            for i in range(0, len(hists), 64)])
    s_set = (s_img.mean(axis=0) if o.dataset_curve == "mean_image"
             else self_overlap(dataset_histogram(hists), th, o.bin_width, o.similarity))
    example = to_gray(ds.eval[0].image[None])[0] if ds.eval else gray[0]
    res = DatasetOrientation(ids, hists, th, s_img, s_set, example)
    if o.svm:
        n_pool = min(len(ds.ssp), o.max_images or len(ds.ssp))
        try:
            res.svm = hog_svm_test(gray[:n_pool], _grid(o.svm_thetas, extra_thetas), params,
                                   o.svm_n_train, o.svm_n_test, o.svm_c, o.svm_gamma,
                                   o.svm_cv_folds, o.seed, cfg.geometry.interpolation,
                                   cfg.geometry.circle_mask)
        except ValueError as exc:  # too few images, or images smaller than a HoG block
            res.svm_note = str(exc)
            log.warning("HoG SVM test skipped for %s: %s", ds.name, exc)
    return res


def orient_datasets(cfg: ExperimentConfig, datasets: dict[str, LoadedDataset],
                    extra_thetas=()) -> OrientOutput:
    t = time.perf_counter()
    o = cfg.orient
    params = hog_preset(o.hog, orientations=o.hog_orientations,
                        pixels_per_cell=o.hog_pixels_per_cell,
                        cells_per_block=o.hog_cells_per_block, block_norm=o.hog_block_norm)
    per = {name: orient_dataset(ds, cfg, params, extra_thetas) for name, ds in datasets.items()}
    out = OrientOutput(per, params, o.hog, o.bin_width, o.similarity, o.dataset_curve)
    out.frames = orient_frames(out)
    out.seconds = time.perf_counter() - t
    return out


def orient_frames(o: OrientOutput) -> dict[str, pd.DataFrame]:
    """Long tables: histograms, S(θ) and A(θ) of every dataset."""
    hist, over, svm = [], [], []
    bins = bin_centres(o.bin_width)
    for name, d in o.per_dataset.items():
        n, k = d.hists.shape
        hist.append(pd.DataFrame({"dataset": name, "level": "image",
                                  "image_id": np.repeat(d.ids, k), "bin": np.tile(bins, n),
                                  "value": d.hists.ravel()}))
        hist.append(pd.DataFrame({"dataset": name, "level": "dataset", "image_id": "",
                                  "bin": bins, "value": dataset_histogram(d.hists)}))
        t = len(d.s_thetas)
        over.append(pd.DataFrame({"dataset": name, "level": "image",
                                  "image_id": np.repeat(d.ids, t),
                                  "theta": np.tile(d.s_thetas, n), "value": d.s_images.ravel()}))
        over.append(pd.DataFrame({"dataset": name, "level": "dataset", "image_id": "",
                                  "theta": d.s_thetas, "value": d.s_dataset}))
        if d.svm is not None:
            s = d.svm
            svm.append(pd.DataFrame({
                "dataset": name, "theta": s.thetas, "accuracy": s.accuracy,
                "p_rotated": s.p_rotated, "specificity": s.specificity,
                "cv_accuracy": s.cv_accuracy, "C": s.best_params.get("C"),
                "gamma": s.best_params.get("gamma"), "n_train": s.n_train, "n_test": s.n_test,
                "hog": o.hog_preset, "orientations": o.hog.orientations,
                "pixels_per_cell": o.hog.pixels_per_cell,
                "cells_per_block": o.hog.cells_per_block, "block_norm": o.hog.block_norm}))
    over_df = pd.concat(over, ignore_index=True) if over else pd.DataFrame()
    if not over_df.empty:
        over_df["similarity"] = o.similarity
        over_df["curve"] = np.where(over_df.level == "dataset", o.dataset_curve, "")
    return {"histograms": pd.concat(hist, ignore_index=True) if hist else pd.DataFrame(),
            "overlap": over_df,
            "svm": pd.concat(svm, ignore_index=True) if svm else pd.DataFrame()}


def write_orient(out: Path, o: OrientOutput, datasets: dict[str, LoadedDataset]) -> list[Path]:
    """``orient_histograms.parquet``, ``orient_overlap.parquet``, ``orient_svm.parquet`` and
    the orientation figures; returns the figure paths."""
    from thetascope.report.orient_figures import write_orient_figures

    out = Path(out)
    for key in ("histograms", "overlap", "svm"):
        atomic_write_parquet(out / f"orient_{key}.parquet", o.frames[key])
    examples = {n: d.example for n, d in o.per_dataset.items()}
    synthetic = {n: ds.synthetic for n, ds in datasets.items()}
    return write_orient_figures(out / "figures", o.frames, examples, o.hog, synthetic)


@dataclass
class AnalysisStage:
    verdict: pd.DataFrame | None
    figures: list[Path]
    orient: OrientOutput | None
    seconds: float


def _predictors(o: OrientOutput | None, names: list[str], image_level: bool):
    curves: dict[str, dict] = {}
    images: dict[str, dict] = {}
    if o is None:
        return curves, images
    for name, d in o.per_dataset.items():
        c: dict = {}
        if "self_overlap" in names:
            c["self_overlap"] = (d.s_thetas, d.s_dataset)
            if image_level:
                images[name] = {"self_overlap": (d.s_thetas, dict(zip(d.ids, d.s_images,
                                                                        strict=True)))}
        if "hog_svm" in names and d.svm is not None:
            c["hog_svm"] = (d.svm.thetas, d.svm.accuracy)
        curves[name] = c
    return curves, images


def training_checks(cfg: ExperimentConfig, datasets: dict[str, LoadedDataset],
                    losses: pd.DataFrame) -> dict:
    """Per dataset: did pre-training move the models (``analysis/training.py``)?"""
    from thetascope.analysis.training import final_losses, training_check
    from thetascope.ssl.registry import get_method
    from thetascope.ssl.train import TrainingConfigError, resolve_queue_size

    a, s = cfg.analysis, cfg.ssl
    final = final_losses(losses, a.loss_window)
    out = {}
    for name, ds in datasets.items():
        if ds is None:  # a dataset that could not be reloaded: nothing to size the queue by
            continue
        spec = get_method(s.method)
        try:
            k = None if not spec.uses_queue else resolve_queue_size(
                s.queue_size, s.batch_size, len(ds.ssp))
        except TrainingConfigError:
            continue
        f = final[final.dataset == name] if len(final) else final
        if len(f) and a.exclude_zero:
            f = f[~np.isclose(f.theta.to_numpy() % 360.0, 0.0)]
        chance = spec.chance_loss(s.batch_size, k) if spec.chance_loss else float("nan")
        out[name] = training_check(f["final_loss"].to_numpy() if len(f) else np.array([]),
                                   chance, a.max_loss_ratio)
        if spec.chance_loss is None:
            out[name].note = (f"method {spec.name!r} declares no chance loss "
                              "(MethodSpec.chance_loss), so this rule cannot be applied")
    return out


def run_analysis_stage(cfg: ExperimentConfig, out: Path, datasets: dict[str, LoadedDataset],
                       results: pd.DataFrame, references: pd.DataFrame | None = None,
                       losses: pd.DataFrame | None = None,
                       flags: dict[str, list[str]] | None = None) -> AnalysisStage:
    """Orientation analysis + statistics after aggregation; writes files, returns figures.
    ``results``: the trained rows; ``references``: the untrained/resample/chance rows;
    ``losses``: losses.parquet's table (for the training rule); ``flags``: per dataset,
    reasons that make its verdict inconclusive (e.g. degenerate masks)."""
    from thetascope.analysis.cube import score_cube
    from thetascope.analysis.verdict import VerdictSettings, build_verdict
    from thetascope.report.orient_figures import score_vs_orientation

    t = time.perf_counter()
    figs: list[Path] = []
    orient = None
    if cfg.orient.enabled:
        orient = orient_datasets(cfg, datasets, cfg.sweep.thetas)
        figs += write_orient(out, orient, datasets)
        log.info("orientation analysis: %.1f s", orient.seconds)
    verdict = None
    a = cfg.analysis
    refs = references if references is not None else pd.DataFrame()
    if a.enabled:
        if a.metric not in set(results["metric"]):
            log.warning("analysis.metric %s was not computed; statistics skipped", a.metric)
        else:
            cubes = {n: score_cube(results, n, a.metric) for n in datasets
                     if ((results.dataset == n) & (results.metric == a.metric)).any()}
            untrained = {}
            if len(refs) and "model" in refs:
                u = refs[(refs.model == "untrained") & (refs.metric == a.metric)]
                untrained = {n: score_cube(u, n, a.metric, "untrained") for n in cubes
                             if (u.dataset == n).any()}
            preds, img_preds = _predictors(orient, list(a.predictors), a.image_level)
            settings = VerdictSettings.from_config(cfg)
            training = training_checks(cfg, datasets, losses if losses is not None
                                       else pd.DataFrame())
            res = build_verdict(cubes, preds, img_preds, settings, untrained, training, flags)
            verdict = res.table.assign(metric=a.metric)
            if cfg.downstream.enabled:  # issue H: does the score curve predict downstream?
                from thetascope.analysis.downstream import downstream_verdict
                from thetascope.downstream import downstream_metric_names

                extra = downstream_verdict(results, cubes, downstream_metric_names(cfg),
                                           settings, a.metric)
                verdict = pd.concat([verdict, extra.assign(metric=a.metric)],
                                    ignore_index=True)
                if (Path(out) / "baselines.parquet").is_file():  # does the best θ beat them?
                    from thetascope.analysis.downstream_baselines import baseline_verdict

                    extra = baseline_verdict(results, pd.read_parquet(Path(out) /
                                                                      "baselines.parquet"),
                                             downstream_metric_names(cfg), settings)
                    if not extra.empty:
                        verdict = pd.concat([verdict, extra.assign(metric=a.metric)],
                                            ignore_index=True)
            if a.signatures and len(cubes) >= 2:  # issue H: dataset identifiable from curve?
                from thetascope.analysis.signatures import run_signatures, signature_verdict

                sig = run_signatures(results, cfg)
                log.info("curve signatures: %s", sig.summary())
                verdict = pd.concat([verdict, signature_verdict(sig, a.alpha, a.correction)
                                     .assign(metric=a.metric)], ignore_index=True)
            atomic_write_parquet(Path(out) / "verdict.parquet", verdict)
            atomic_write_parquet(Path(out) / "analysis_spectrum.parquet", res.spectra)
            atomic_write_parquet(Path(out) / "analysis_peaks.parquet", res.peaks)
            if orient is not None:
                p = score_vs_orientation(Path(out) / "figures", cubes, preds, a.metric,
                                         {n: ds.synthetic for n, ds in datasets.items()},
                                         untrained)
                figs += [p] if p is not None else []
    sec = time.perf_counter() - t
    log.info("orientation + statistics stage: %.1f s", sec)
    return AnalysisStage(verdict, figs, orient, sec)


def dataset_kinds() -> list[str]:
    """Every ``kind`` a dataset spec accepts: the dataset registry's names (``data/catalog.py``;
    built-in ones need no other field)."""
    from thetascope.data.catalog import dataset_names

    return sorted(dataset_names())


def orient_config(target: str, overrides: list[str]) -> ExperimentConfig:
    """A config path or shipped name, or a dataset kind: a config with that one dataset
    (``-s data.datasets.0.root=...`` for kinds that read a folder) and every other field at
    its default."""
    from thetascope.config import (
        ConfigError,
        builtin_config_path,
        config_from_dict,
        load_config,
        set_overrides,
    )

    if Path(target).is_file() or builtin_config_path(target).is_file():
        return load_config(target, overrides)
    if target not in dataset_kinds():
        raise ConfigError(f"{target!r} is neither a config file, a shipped config name, nor "
                          f"a dataset kind ({', '.join(dataset_kinds())})")
    raw = {"name": f"orient-{target}", "data": {"datasets": [{"kind": target}]}}
    set_overrides(raw, overrides)
    return config_from_dict(raw, f"orient {target}")


def orient_table(o: OrientOutput) -> list[dict[str, str]]:
    """One line per dataset for the terminal: S(θ)'s peaks and A(θ)'s range."""
    from scipy.signal import find_peaks

    rows = []
    for name, d in o.per_dataset.items():
        s = d.s_dataset
        idx, props = find_peaks(np.concatenate([s, s, s]), prominence=1e-3)
        keep = (idx >= len(s)) & (idx < 2 * len(s))
        order = np.argsort(-props["prominences"][keep])[:4]
        peaks = sorted(float(d.s_thetas[i]) for i in (idx[keep] - len(s))[order])
        a = ("not run: " + d.svm_note[:50] if d.svm is None else
             f"{d.svm.accuracy.min():.2f}–{d.svm.accuracy.max():.2f} "
             f"(cv {d.svm.cv_accuracy:.2f}, {d.svm.n_train}+{d.svm.n_test} images)")
        rows.append({"dataset": name, "images": str(len(d.ids)),
                     "S(θ) peaks": ", ".join(f"{p:g}°" for p in peaks) or "none",
                     "S(θ) range": f"{s.min():.3f}–{s.max():.3f}", "A(θ) range": a})
    return rows
