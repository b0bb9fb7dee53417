"""Figures of the orientation analysis and of the shortcut test, written under ``figures/``.

    paths = write_orient_figures(fig_dir, frames, examples, hog_params, synthetic)
    score_vs_orientation(fig_dir, cubes, predictors, "dice", synthetic)

- ``orient_polar.png``: each dataset's signed gradient-orientation histogram (polar; 0° =
  +x, counter-clockwise, y up);
- ``orient_curves.png``: S(θ) (dataset curve, 10–90% band of the image curves) and the
  HoG SVM accuracy A(θ), datasets as columns;
- ``hog_example.png``: the paper's example, an image beside its HoG glyphs (skimage);
- ``score_vs_orientation.png``: the score's per-θ mean (with a 95% crossed-bootstrap band)
  and the orientation predictors at the same θ on a second axis.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from thetascope.atomic import atomic_write_file  # noqa: E402
from thetascope.orient.hog_svm import HogParams, hog_glyphs  # noqa: E402


def _title(name: str, synthetic: dict[str, bool]) -> str:
    return name + (" (synthetic)" if synthetic.get(name) else "")


def _save(fig, path: Path, dpi: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # atomic (temporary + rename): a run killed mid-plot leaves no truncated figure
    atomic_write_file(path, lambda t: fig.savefig(t, dpi=dpi, bbox_inches="tight"), False)
    atomic_write_file(path.with_suffix(".svg"), lambda t: fig.savefig(t, bbox_inches="tight"),
                      False)  # every figure also as SVG, for papers
    plt.close(fig)
    return path


def orientation_polar(fig_dir: Path, hist: pd.DataFrame, synthetic: dict) -> Path | None:
    d = hist[hist.level == "dataset"]
    names = list(dict.fromkeys(d.dataset))
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), subplot_kw={"projection": "polar"},
                             figsize=(3.4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        h = d[d.dataset == name].sort_values("bin")
        ang = np.radians(np.append(h.bin.to_numpy(), h.bin.to_numpy()[0]))
        val = np.append(h.value.to_numpy(), h.value.to_numpy()[0])
        ax.plot(ang, val, color="tab:blue", lw=1.5)
        ax.fill(ang, val, color="tab:blue", alpha=0.25)
        ax.set_title(_title(name, synthetic), fontsize=9)
        ax.set_yticklabels([])
    fig.suptitle("signed gradient-orientation histogram (magnitude-weighted, inside the "
                 "inscribed circle)", fontsize=9)
    return _save(fig, fig_dir / "orient_polar.png")


def orientation_curves(fig_dir: Path, over: pd.DataFrame, svm: pd.DataFrame,
                       synthetic: dict) -> Path | None:
    names = list(dict.fromkeys(over.dataset))
    if not names:
        return None
    fig, axes = plt.subplots(2, len(names), figsize=(4.4 * len(names), 5.4), squeeze=False)
    for j, name in enumerate(names):
        ax = axes[0][j]
        o = over[over.dataset == name]
        img = o[o.level == "image"].pivot(index="image_id", columns="theta", values="value")
        if len(img):
            lo, hi = np.quantile(img.to_numpy(), [0.1, 0.9], axis=0)
            ax.fill_between(img.columns, lo, hi, color="tab:green", alpha=0.2, lw=0,
                            label="images 10–90%")
        ds = o[o.level == "dataset"].sort_values("theta")
        ax.plot(ds.theta, ds.value, color="tab:green", lw=1.5, label="dataset")
        ax.set_title(_title(name, synthetic), fontsize=9)
        ax.set_ylabel(f"S(θ) ({o.similarity.iloc[0]})" if len(o) else "S(θ)")
        ax.legend(fontsize=7)
        ax = axes[1][j]
        a = svm[svm.dataset == name].sort_values("theta") if len(svm) else svm
        if len(a):
            ax.plot(a.theta, a.accuracy, "o-", ms=2, color="tab:red", lw=1.2)
            ax.axhline(0.5, color="gray", lw=0.8, ls="--")
            ax.set_ylim(0, 1.02)
        else:
            ax.text(0.5, 0.5, "HoG SVM test not run", ha="center", transform=ax.transAxes)
        ax.set_ylabel("A(θ): HoG SVM accuracy")
        for a_ in axes[:, j]:
            a_.set_xlabel("θ (degrees)")
            a_.set_xlim(0, 360)
            a_.set_xticks(range(0, 361, 90))
            a_.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, fig_dir / "orient_curves.png")


def hog_example(fig_dir: Path, examples: dict[str, np.ndarray], params: HogParams,
                synthetic: dict) -> Path | None:
    if not examples:
        return None
    fig, axes = plt.subplots(len(examples), 2, figsize=(5.0, 2.6 * len(examples)),
                             squeeze=False)
    for i, (name, img) in enumerate(examples.items()):
        axes[i][0].imshow(img, cmap="gray")
        axes[i][0].set_ylabel(_title(name, synthetic), fontsize=8)
        try:
            axes[i][1].imshow(hog_glyphs(img, params), cmap="gray")
        except ValueError as exc:
            axes[i][1].text(0.5, 0.5, str(exc)[:60], ha="center", fontsize=6,
                            transform=axes[i][1].transAxes)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_title("image", fontsize=9)
    axes[0][1].set_title(f"HoG ({params.orientations} bins, {params.pixels_per_cell} px "
                         "cells)", fontsize=9)
    fig.tight_layout()
    return _save(fig, fig_dir / "hog_example.png")


def write_orient_figures(fig_dir: Path, frames: dict[str, pd.DataFrame],
                         examples: dict[str, np.ndarray], params: HogParams,
                         synthetic: dict[str, bool]) -> list[Path]:
    paths = [orientation_polar(fig_dir, frames["histograms"], synthetic),
             orientation_curves(fig_dir, frames["overlap"], frames["svm"], synthetic),
             hog_example(fig_dir, examples, params, synthetic)]
    return [p for p in paths if p is not None]


def score_vs_orientation(fig_dir: Path, cubes: dict, predictors: dict, metric: str,
                         synthetic: dict, untrained: dict | None = None) -> Path | None:
    """Per dataset: the tested score curve (trained − untrained when the untrained
    reference exists, else the trained curve), its 95% CI, and each predictor at the same
    θ on a second axis."""
    from thetascope.analysis.cube import bootstrap_curves, difference_cube, percentile_ci

    names = [n for n in cubes if predictors.get(n)]
    if not names:
        return None
    untrained = untrained or {}
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.4), squeeze=False)
    colors = {"self_overlap": "tab:green", "hog_svm": "tab:red"}
    for ax, name in zip(axes[0], names, strict=True):
        c = cubes[name]
        label = metric
        if name in untrained:
            c, label = difference_cube(c, untrained[name]), f"{metric}: trained − untrained"
        lo, hi = percentile_ci(bootstrap_curves(c.values, 500, 0, groups=c.groups))
        ax.fill_between(c.thetas, lo, hi, color="tab:blue", alpha=0.2, lw=0)
        ax.plot(c.thetas, c.mean_curve, "o-", color="tab:blue", ms=3, label=label)
        ax.set_ylabel(label)
        ax.set_xlabel("θ (degrees)")
        ax.set_title(_title(name, synthetic), fontsize=9)
        ax.grid(alpha=0.3)
        tw = ax.twinx()
        for pname, (pt, pv) in predictors[name].items():
            at = np.interp(c.thetas % 360, np.asarray(pt) % 360, pv, period=360)
            tw.plot(c.thetas, at, "s--", ms=3, lw=1, color=colors.get(pname, "k"), label=pname)
        tw.set_ylabel("predictor")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = tw.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="best")
    fig.suptitle(f"{metric} vs θ (the curve the tests use) and the orientation predictors at "
                 "the same θ", fontsize=9)
    fig.tight_layout()
    return _save(fig, fig_dir / "score_vs_orientation.png")
