"""Figures of a run, written as PNG and SVG under ``figures/``.

    paths = write_figures(out, cfg, results, agg, losses, store, cells, datasets)

- ``dice_vs_theta.png``: per dataset, the mean over images and seeds with its 95% CI band
  and each seed's curve faint;
- ``metrics_vs_theta.png``: every overlap metric, datasets as rows;
- ``gallery_<dataset>.png``: rows θ, columns evaluation images; the scored saliency map
  with the mask contour (cyan) and the binarised map's outline (white);
- ``loss_curves.png``: SSP loss per step, one line per θ (mean over seeds).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from thetascope.analysis.curves import seed_curves  # noqa: E402
from thetascope.atomic import atomic_write_file  # noqa: E402
from thetascope.report.theta_rows import MAX_ROWS, pick_rows  # noqa: E402

SYNTH = " (synthetic)"


def _title(name: str, datasets: dict) -> str:
    ds = datasets.get(name)
    return name + (SYNTH if ds is not None and ds.synthetic else "")


def _save(fig, path: Path, dpi: int = 110) -> Path:
    """Write ``path`` (PNG) and its SVG twin; returns the PNG's path."""
    # atomic (temporary + rename): a run killed mid-plot leaves no truncated figure
    atomic_write_file(path, lambda t: fig.savefig(t, dpi=dpi, bbox_inches="tight"), False)
    atomic_write_file(path.with_suffix(".svg"), lambda t: fig.savefig(t, bbox_inches="tight"),
                      False)
    plt.close(fig)
    return path


# the references drawn beside every trained curve (sweep/references.py): style, label
REFERENCE_STYLE = {
    "untrained": ("#7f7f7f", "--", "untrained model"),
    "resample": ("#9467bd", ":", "geometry alone (resample)"),
    "chance": ("#111111", (0, (1, 3)), "chance"),
}


def _model(agg: pd.DataFrame, model: str) -> pd.DataFrame:
    if "model" not in agg:
        return agg if model == "trained" else agg.iloc[:0]
    return agg[agg.model == model]


def plot_metric_vs_theta(ax, agg: pd.DataFrame, seeds: pd.DataFrame, dataset: str,
                         metric: str) -> None:
    sel = (agg.dataset == dataset) & (agg.metric == metric)
    a = _model(agg[sel], "trained").sort_values("theta")
    for _, s in seeds[seeds.dataset == dataset].groupby("seed"):
        s = s.sort_values("theta")
        ax.plot(s.theta, s.value, color="tab:blue", alpha=0.25, lw=1)
    ax.fill_between(a.theta, a.ci_low, a.ci_high, color="tab:blue", alpha=0.2, lw=0,
                    label="95% CI")
    dense = len(a) > 2 * MAX_ROWS  # hundreds of θ: a line, not hundreds of markers
    ax.plot(a.theta, a["mean"], "-" if dense else "o-", color="tab:blue",
            lw=1.2 if dense else 2, ms=4, label="trained (mean)")
    for model, (color, style, label) in REFERENCE_STYLE.items():
        r = _model(agg[sel], model).sort_values("theta")
        if len(r) and r["mean"].notna().any():
            ax.plot(r.theta, r["mean"], color=color, ls=style, lw=1.4, label=label)
    ax.set_xlabel("θ (degrees)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    if len(a):
        th = a.theta.to_numpy()
        ax.set_xticks(th if len(a) <= MAX_ROWS else np.arange(0, th.max() + 1, 45 if
                                                              th.max() > 180 else 30))


def dice_vs_theta(out: Path, results, agg, datasets, metric="dice") -> Path:
    names = list(datasets)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.6), squeeze=False)
    seeds = seed_curves(results, metric)
    for ax, name in zip(axes[0], names, strict=True):
        plot_metric_vs_theta(ax, agg, seeds, name, metric)
        ax.set_title(_title(name, datasets))
    axes[0][0].legend(loc="best", fontsize=8)
    fig.suptitle(f"{metric} between saliency and mask vs pre-training angle θ "
                 "(faint: individual seeds; grey: the same measurement without learning)",
                 fontsize=10)
    return _save(fig, out / f"{metric}_vs_theta.png")


def metrics_vs_theta(out: Path, results, agg, datasets, metrics: list[str]) -> Path:
    names = list(datasets)
    fig, axes = plt.subplots(len(names), len(metrics), squeeze=False,
                             figsize=(3.4 * len(metrics), 2.8 * len(names)))
    for j, m in enumerate(metrics):
        seeds = seed_curves(results, m)
        for i, name in enumerate(names):
            plot_metric_vs_theta(axes[i][j], agg, seeds, name, m)
            axes[i][j].set_title(f"{_title(name, datasets)}: {m}", fontsize=9)
    axes[0][0].legend(loc="best", fontsize=6)
    fig.tight_layout()
    return _save(fig, out / "metrics_vs_theta.png")


def gallery(out: Path, name: str, ds, cells, store, thetas: list[float],
            untrained: dict | None = None) -> Path | None:
    """Rows θ, columns the first evaluation images; with ``untrained`` (the seed's
    reference maps: ids, thetas, untrained (T, k, H, W)) a first row of the untrained
    model's maps at the first θ, so training's effect on the maps is visible."""
    seed0 = min(c.seed for c in cells)
    by_theta = {c.theta: c for c in cells if c.dataset == name and c.seed == seed0
                and store.is_done(c.key)}
    rows = pick_rows([t for t in thetas if t in by_theta])  # ≤ 13 rows on a dense grid
    if not rows:
        return None
    first = store.read_maps(by_theta[rows[0]].key)
    ids = [str(i) for i in first["ids"]]
    if not ids:
        return None
    lookup = {s.id: s for s in ds.eval}
    ref = None
    if untrained is not None and "untrained" in untrained and \
            [str(i) for i in untrained["ids"]] == ids:
        ref = untrained["untrained"][0].astype(np.float32)  # at the grid's first θ
        ref_theta = float(untrained["thetas"][0])
    extra = 1 if ref is not None else 0
    fig, axes = plt.subplots(len(rows) + 1 + extra, len(ids), squeeze=False,
                             figsize=(1.9 * len(ids), 1.9 * (len(rows) + 1 + extra)))
    for j, sid in enumerate(ids):
        s = lookup[sid]
        axes[0][j].imshow(s.image[0], cmap="gray", vmin=0, vmax=1)
        axes[0][j].contour(s.mask, levels=[0.5], colors="cyan", linewidths=0.8)
        axes[0][j].set_title(sid, fontsize=7)
    if ref is not None:
        for j, sid in enumerate(ids):
            axes[1][j].imshow(ref[j], cmap="inferno", vmin=0, vmax=float(ref[j].max()) or 1.0)
            axes[1][j].contour(lookup[sid].mask, levels=[0.5], colors="cyan", linewidths=0.8)
        axes[1][0].set_ylabel(f"untrained\nθ={ref_theta:g}°", fontsize=9)
    for i, t in enumerate(rows, start=1 + extra):
        maps = store.read_maps(by_theta[t].key)
        for j, sid in enumerate(ids):
            ax = axes[i][j]
            sal = maps["saliency"][j].astype(np.float32)
            ax.imshow(sal, cmap="inferno", vmin=0, vmax=float(sal.max()) or 1.0)
            ax.contour(lookup[sid].mask, levels=[0.5], colors="cyan", linewidths=0.8)
            if maps["binary"][j].any():
                ax.contour(maps["binary"][j], levels=[0.5], colors="white", linewidths=0.6,
                           linestyles="dashed")
        axes[i][0].set_ylabel(f"θ={t:g}°", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].set_ylabel("image", fontsize=9)
    fig.suptitle(f"{name}{SYNTH if ds.synthetic else ''}: saliency (seed {seed0}); cyan = "
                 "mask, white dashed = binarised map", fontsize=9)
    fig.tight_layout()
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
    return _save(fig, out / f"gallery_{safe}.png", dpi=80)


def loss_curves(out: Path, losses: pd.DataFrame, datasets) -> Path | None:
    if losses.empty:
        return None
    names = list(datasets)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.4), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, name in zip(axes[0], names, strict=True):
        d = losses[losses.dataset == name]
        thetas = sorted(d.theta.unique())
        dense = len(thetas) > MAX_ROWS  # a colour bar instead of a legend of every angle
        for k, t in enumerate(thetas):
            m = d[d.theta == t].groupby("step").loss.mean()
            ax.plot(m.index, m.values, color=cmap(k / max(1, len(thetas) - 1)),
                    lw=0.5 if dense else 1.2, label=None if dense else f"{t:g}°")
        ax.set_title(_title(name, datasets))
        ax.set_xlabel("step")
        ax.set_ylabel("InfoNCE loss")
        ax.grid(alpha=0.3)
        if dense:
            sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(min(thetas), max(thetas)))
            fig.colorbar(sm, ax=ax, label="θ (°)")
    if axes[0][-1].get_legend_handles_labels()[0]:
        axes[0][-1].legend(title="θ", fontsize=7, ncol=2)
    fig.suptitle("SSP loss per step (mean over seeds)", fontsize=10)
    return _save(fig, out / "loss_curves.png")


def write_figures(out: Path, cfg, results, agg, losses, store, cells, datasets,
                  untrained_maps: dict | None = None) -> list[Path]:
    """Every figure of the run; ``untrained_maps``: per dataset, the first seed's reference
    maps (sweep/references.py) for the galleries' untrained row."""
    fig_dir = Path(out) / "figures"
    fig_dir.mkdir(exist_ok=True)
    paths: list[Path | None] = []
    if "dice" in cfg.metrics.names:
        paths.append(dice_vs_theta(fig_dir, results, agg, datasets))
    paths.append(metrics_vs_theta(fig_dir, results, agg, datasets, list(cfg.metrics.names)))
    if cfg.saliency.gallery_images:
        for name, ds in datasets.items():
            paths.append(gallery(fig_dir, name, ds, cells, store, list(cfg.sweep.thetas),
                                 (untrained_maps or {}).get(name)))
    paths.append(loss_curves(fig_dir, losses, datasets))
    return [p for p in paths if p is not None]
