"""thetascope from Python: the calls a notebook needs, each a thin layer over the pipeline.

    import thetascope as ts

    cfg = ts.load_config("smoke", overrides=["sweep.thetas=[0, 90]"])   # or a dict / YAML
    res = ts.run(cfg, out="runs/nb")          # the same sweep as `thetascope run`
    res.aggregate, res.verdict                # pandas tables; res.out_dir / "report.html"

    maps = ts.saliency(my_encoder, images, theta=90)          # (N, H, W) SmoothGrad maps
    ts.score(maps[0], masks[0], theta=90)                     # {'dice': 0.41, ...}
    o = ts.orientation(images)                                # histograms, S(θ), A(θ)
    ts.verdict("runs/nb")                                     # verdict table of a run folder

Every option not given as an argument comes from the configuration (``config=``: an
``ExperimentConfig``, a dict, a YAML path or a shipped name; default: the shipped
``default.yaml``), so a call here and a ``thetascope run`` with the same config compute the
same thing. Nothing here prints; a run's progress goes to stderr unless ``progress=False``.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from thetascope.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    config_from_dict,
)
from thetascope.config import load_config as _load_yaml_config
from thetascope.sweep.runner import RunResult

ConfigLike = ExperimentConfig | Mapping[str, Any] | str | Path | None


def load_config(config: ConfigLike = None,
                overrides: Sequence[str] | None = None) -> ExperimentConfig:
    """A validated configuration from a YAML path, a shipped name (``"default"``,
    ``"smoke"``, ``"paper"``, ``"followup"``, ``"study"``), a dict shaped like the YAML, or
    an ``ExperimentConfig`` (returned with the overrides applied). ``overrides`` are
    ``"section.key=value"`` strings, as ``thetascope run --set`` takes.

        cfg = load_config("smoke", ["sweep.thetas=[0, 45, 90]", "ssl.steps=8"])
        cfg = load_config({"name": "nb", "data": {"datasets": ["mri-lesion"]}})
    """
    overrides = list(overrides or [])
    if isinstance(config, ExperimentConfig):
        return apply_overrides(config, overrides) if overrides else config
    if isinstance(config, Mapping):
        cfg = config_from_dict(dict(config), "config dict")
        return apply_overrides(cfg, overrides) if overrides else cfg
    if config is not None and not isinstance(config, str | Path):
        raise ConfigError(f"config must be an ExperimentConfig, a dict, a YAML path or a "
                          f"shipped name, not {type(config).__name__}")
    return _load_yaml_config(config, overrides)


def run(config: ConfigLike = None, out: str | Path | None = None, *,
        overrides: Sequence[str] | None = None, force: bool = False,
        progress: bool = True) -> RunResult:
    """Run a whole sweep (pre-training at each θ, saliency, scores, references, statistics,
    report) as ``thetascope run`` does; return its ``RunResult``.

    Encoders, methods and metrics registered in this Python process (``register_encoder``
    …) exist only here, so such a run uses the local executor whatever
    ``runtime.executor`` says (results are the same; only where cells run changes).
    ``out`` defaults to ``runs/<config name>``; re-running into the same folder resumes
    (finished cells are kept), ``force=True`` recomputes them. ``progress=False`` keeps the
    console quiet (the log still goes to ``<out>/run.log``).

        res = run("smoke", "runs/nb", overrides=["sweep.thetas=[0, 90]"])
        res.results        # one row per (model, dataset, θ, seed, image, metric)
        res.aggregate      # per-θ means with bootstrap CIs
        res.verdict        # the tests (None when analysis.enabled is false)
        res.out_dir / "report.html"
    """
    from rich.console import Console

    from thetascope.out_paths import out_folder
    from thetascope.sweep.preflight import runtime_registrations
    from thetascope.sweep.runner import run_experiment

    cfg = load_config(config, overrides)
    console = Console(stderr=True) if progress else Console(file=io.StringIO(), quiet=True)
    local = runtime_registrations(cfg) if cfg.runtime.executor != "local" else []
    if local:  # spawned workers would not have them; the executor is not part of a cell's key
        console.print(f"{', '.join(local)} registered in this process: running cells here "
                      f"(runtime.executor=local instead of {cfg.runtime.executor})",
                      highlight=False)
        cfg = apply_overrides(cfg, ["runtime.executor=local"])
    out_dir = out_folder(Path(out) if out is not None else Path("runs") / cfg.name)
    return run_experiment(cfg, out_dir, force=force, console=console)


def _as_images(images: Any) -> np.ndarray:
    """(N, H, W) or (N, C, H, W) numpy/torch images → (N, C, H, W) float32."""
    a = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4:
        raise ValueError(f"images must be (N, H, W) or (N, C, H, W), got shape {a.shape}")
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise ValueError("images contain NaN or Inf; clean or drop those images first")
    return a


def saliency(embed: Any, images: Any, theta: float = 0.0, *, seed: int = 0,
             config: ConfigLike = None, device: str | None = None,
             **options: Any) -> np.ndarray:
    """SmoothGrad maps (N, H, W) of the pair target for any embedding network: the pairs
    (x, x rotated by θ), SmoothGrad of ``saliency.target`` (cosine of the two embeddings),
    the rotated view's map rotated back and combined per ``saliency.view`` — the same code
    a sweep cell runs. ``embed`` is any ``torch.nn.Module`` mapping (N, C, H, W) images to
    (N, D) embeddings; it is run in eval mode and left in the mode it was in.

        maps = saliency(my_encoder, images, theta=90)                  # (N, H, W)
        maps = saliency(my_encoder, images, 45, samples=8, view="original")

    ``images``: (N, H, W) or (N, C, H, W), numpy or torch, at the size the network
    takes. ``options`` override fields of the config's ``saliency`` section (``samples``,
    ``noise_level``, ``view``, ``map_rotation``, ``precision``, …; see docs/METHODS.md).
    """
    import torch

    from thetascope.attribution.inference import SaliencyEncoder
    from thetascope.precision import resolve_precision
    from thetascope.sweep.explain import explain_embedding

    cfg = load_config(config)
    if options:
        try:
            sal = type(cfg.saliency).model_validate({**cfg.saliency.model_dump(), **options})
        except Exception as exc:  # pydantic's message names the field and the rule
            raise ConfigError(f"saliency option(s) {sorted(options)}: {exc}") from exc
        cfg = cfg.model_copy(update={"saliency": sal})
    if not isinstance(embed, torch.nn.Module):
        raise TypeError(f"embed must be a torch.nn.Module, not {type(embed).__name__}")
    x = _as_images(images)
    params = next(embed.parameters(), None)
    dev = torch.device(device) if device else (params.device if params is not None
                                               else torch.device("cpu"))
    cfg = resolve_precision(cfg, dev)  # "auto": bf16 where this device computes it fast
    was_training = embed.training
    embed.eval()
    try:
        # BN folded where torch.fx can trace ``embed`` (attribution/inference.py)
        net = SaliencyEncoder(embed, channels_last=cfg.saliency.precision == "bf16")
        return explain_embedding(net, x, float(theta), cfg, dev, seed)
    finally:
        embed.train(was_training)


def score(saliency_map: Any, mask: Any, *, theta: float = 0.0,
          metrics: Sequence[str] | None = None, config: ConfigLike = None) -> dict[str, float]:
    """Score one (H, W) saliency map against one binary (H, W) mask, as a sweep does:
    inside the region valid at ``theta`` (the inscribed circle when
    ``geometry.circle_mask``), binarised by ``metrics.binarize`` for the overlap metrics.

        score(maps[0], masks[0], theta=90)     # {'mask_outside_valid': 0.0, 'dice': 0.41, ...}
        score(m, gt, metrics=["dice", "mass_in_mask"])

    An empty mask scores NaN (nothing to overlap), never 0 or 1.
    """
    from thetascope.geometry import valid_region
    from thetascope.metrics.overlap import score_image

    cfg = load_config(config)
    sal = np.asarray(saliency_map.detach().cpu() if hasattr(saliency_map, "detach")
                     else saliency_map, dtype=np.float64)
    gt = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask)
    if sal.ndim != 2 or sal.shape != gt.shape:
        raise ValueError(f"the map and the mask must be (H, W) of one shape, got {sal.shape} "
                         f"and {gt.shape}")
    if not np.isin(np.unique(gt), (0, 1)).all():
        raise ValueError(f"the mask must be binary (0/1 or bool); it holds "
                         f"{np.unique(gt)[:5].tolist()}… — threshold it first")
    valid = valid_region(*sal.shape, theta, cfg.geometry.circle_mask).numpy()
    names = list(metrics) if metrics is not None else list(cfg.metrics.names)
    return score_image(sal, gt.astype(bool), valid, cfg.metrics.binarize, names)


@dataclass
class Orientation:
    """What ``orientation`` returns: the signed gradient-orientation histograms (N, K) of
    the images, the θ grid, S(θ) per image (N, T) and for the set (T,), and, when asked for,
    the HoG + SVM rotation-detection accuracy A(θ) on ``svm_thetas``."""

    histograms: np.ndarray
    thetas: np.ndarray
    s_images: np.ndarray
    s_dataset: np.ndarray
    svm_thetas: np.ndarray | None = None
    svm_accuracy: np.ndarray | None = None

    def frame(self) -> pd.DataFrame:
        """S(θ) (and A(θ) where computed) as a long table: theta, curve, value."""
        rows = [pd.DataFrame({"theta": self.thetas, "curve": "S", "value": self.s_dataset})]
        if self.svm_accuracy is not None:
            rows.append(pd.DataFrame({"theta": self.svm_thetas, "curve": "A",
                                      "value": self.svm_accuracy}))
        return pd.concat(rows, ignore_index=True)


def orientation(images: Any, *, thetas: Sequence[float] | None = None, svm: bool = False,
                config: ConfigLike = None) -> Orientation:
    """Orientation structure of a set of images, independent of any model: the signed
    gradient-orientation histograms, their rotational self-overlap S(θ) and, with
    ``svm=True``, the HoG + SVM rotation-detection accuracy A(θ) (needs at least 4 images;
    slower). Options (bin width, σ, similarity, HoG preset, SVM grid) come from the
    config's ``orient`` section.

        o = orientation(images)                 # S(θ) on 0, 1, …, 359°
        o = orientation(images, thetas=range(0, 360, 15), svm=True)
        o.frame()                               # theta, curve (S or A), value
    """
    from thetascope.orient.histograms import (
        dataset_histogram,
        orientation_histograms,
        self_overlap,
        to_gray,
    )
    from thetascope.orient.hog_svm import hog_preset, hog_svm_test

    cfg = load_config(config)
    o = cfg.orient
    gray = to_gray(_as_images(images))
    th = np.asarray(list(thetas) if thetas is not None else o.thetas, dtype=np.float64) % 360.0
    hists = orientation_histograms(gray, o.bin_width, o.gradient_sigma, circle=True)
    s_img = self_overlap(hists, th, o.bin_width, o.similarity)
    s_set = (s_img.mean(axis=0) if o.dataset_curve == "mean_image"
             else self_overlap(dataset_histogram(hists), th, o.bin_width, o.similarity))
    out = Orientation(hists, th, s_img, s_set)
    if svm:
        params = hog_preset(o.hog, orientations=o.hog_orientations,
                            pixels_per_cell=o.hog_pixels_per_cell,
                            cells_per_block=o.hog_cells_per_block, block_norm=o.hog_block_norm)
        grid = th if thetas is not None else np.asarray(o.svm_thetas, dtype=np.float64)
        res = hog_svm_test(gray, grid, params, o.svm_n_train, o.svm_n_test, o.svm_c,
                           o.svm_gamma, o.svm_cv_folds, o.seed, cfg.geometry.interpolation,
                           cfg.geometry.circle_mask)
        out.svm_thetas, out.svm_accuracy = res.thetas, res.accuracy
    return out


def verdict(run_dir: str | Path) -> pd.DataFrame:
    """The verdict table of a finished run folder, recomputed from its files
    (``results.parquet``, ``losses.parquet``, ``config.yaml``) with the run's own analysis
    settings: one row per (dataset, test) with statistic, CI, p, adjusted p and decision
    (yes, no, or ``inconclusive (reason)``). Edit ``<run>/config.yaml``'s ``analysis``
    section to re-read a run under other settings (e.g. another ``alpha``).

        v = verdict("runs/default")
        v[v.test == "theta_effect"][["dataset", "p_adjusted", "decision"]]
    """
    from thetascope.sweep.orient_stage import run_analysis_stage
    from thetascope.sweep.runner import degenerate_flags, load_datasets

    run_dir = Path(run_dir)
    need = [run_dir / "results.parquet", run_dir / "config.yaml"]
    missing = [p.name for p in need if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{run_dir} is not a finished run folder (missing "
                                f"{', '.join(missing)}); run `thetascope run --out {run_dir}` "
                                "first")
    cfg = _load_yaml_config(run_dir / "config.yaml")
    rows = pd.read_parquet(run_dir / "results.parquet")
    trained = rows[rows.model == "trained"] if "model" in rows else rows
    refs = rows[rows.model != "trained"] if "model" in rows else None
    losses_path = run_dir / "losses.parquet"
    losses = pd.read_parquet(losses_path) if losses_path.is_file() else None
    datasets = load_datasets(cfg)
    with tempfile.TemporaryDirectory() as scratch:  # the stage writes files; keep the run's
        (Path(scratch) / "figures").mkdir()
        if (run_dir / "baselines.parquet").is_file():  # read by the "beats baseline" tests
            shutil.copy(run_dir / "baselines.parquet", Path(scratch) / "baselines.parquet")
        stage = run_analysis_stage(cfg, Path(scratch), datasets, trained, refs, losses,
                                   degenerate_flags(cfg, datasets))
    if stage.verdict is None:
        raise ConfigError(f"{run_dir}/config.yaml has analysis.enabled: false; set it to true "
                          "to compute a verdict")
    return stage.verdict
