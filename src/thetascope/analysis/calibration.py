"""How often does each verdict question say "yes" when it should not (and when it should)?

    designs = default_designs()                          # nulls and planted effects
    rows = calibrate(designs[:1], n_sim=200, seed=0)      # [{design, question, rate, ...}]

Each simulated dataset is a (seeds × images × θ) cube of trained scores and one of
untrained scores, run through ``build_verdict`` as a run calls it (training marked as
moved; one dataset, so no adjustment across datasets; fewer bootstrap replicates (200),
permutations (500) and surrogates (200) than a run's defaults, which change CIs and the
resolution of permutation p-values, not the parametric tests). Noise components, in units of one
standard deviation (SD) of a single trained − untrained value:

- seed × θ (shared by every image of a seed: one model per θ and seed), group × θ (shared
  by the slices of one volume), image × θ, and residual noise;
- ``independent`` across θ, or ``smooth<L>``: a Gaussian process over the circle with
  correlation length L degrees (every θ of a seed shares its initial weights and batches);
- the untrained cube shares half of each image's and group's θ-pattern (an image is hard
  at some angle under any model) and has its own seed × θ noise.

Designs add nothing (a null), a θ = 0 offset of the trained cube, a generic |sin θ| effect
in both cubes or only the trained one, a "harder at larger angles" ramp min(θ, 360 − θ) in
the trained one, or a planted trained-only sinusoid. Each question
is marked null or not per design (for a planted sinusoid, periodicity counts only when it
names the planted period); the predictors are the real per-image S(θ) of a shipped
dataset (``mri-lesion``), so the curve- and image-level tests see realistic shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from thetascope.analysis.cube import Cube
from thetascope.analysis.training import TrainingCheck
from thetascope.analysis.verdict import VerdictSettings, build_verdict

QUESTIONS = ("theta_effect", "periodicity", "wrong_period", "orientation_predicts",
             "identical_views", "training_effect")
# noise SDs of one cube; _unit() scales them so trained − untrained has SD 1
_SEED, _GROUP, _IMAGE, _RESID = 0.5, 0.4, 0.35, 0.5


@dataclass(frozen=True)
class Design:
    name: str
    seeds: int = 2
    images: int = 8
    groups: int = 2
    noise: str = "independent"  # independent | smooth30 | smooth60
    zero_offset: float = 0.0  # trained θ = 0 shifted by this many SD
    generic_both: float = 0.0  # |sin θ| amplitude (SD) in trained and untrained alike
    generic_trained: float = 0.0  # |sin θ| amplitude (SD) in trained only
    ramp_trained: float = 0.0  # min(θ, 360 − θ)/180 amplitude (SD) in trained only
    effect: float = 0.0  # planted trained-only sinusoid, amplitude in SD
    period: float = 90.0
    thetas: tuple[float, ...] = tuple(float(t) for t in range(0, 181, 30))
    null: tuple[str, ...] = field(default=QUESTIONS)

    def __post_init__(self) -> None:  # naming a period that was not planted is always wrong
        if "wrong_period" not in self.null:
            object.__setattr__(self, "null", (*self.null, "wrong_period"))


def default_designs() -> list[Design]:
    """The issue's designs: every null on 2 and 5 seeds × (8 images in 2 groups, 32 in 8);
    planted trained-only effects of 0.5 and 1 SD with periods 90° and 180°."""
    sizes = [(s, i, g) for s in (2, 5) for i, g in ((8, 2), (32, 8))]
    out = []
    nulls = [("independent", {}), ("smooth30", {"noise": "smooth30"}),
             ("smooth60", {"noise": "smooth60"}),
             ("theta0-offset", {"noise": "smooth60", "zero_offset": 1.0,
                                "null": tuple(q for q in QUESTIONS if q != "identical_views")}),
             ("generic-both", {"noise": "smooth60", "generic_both": 1.0}),
             ("generic-trained", {"noise": "smooth60", "generic_trained": 1.0,
                                  "null": ("orientation_predicts",)}),
             ("ramp-trained", {"noise": "smooth60", "ramp_trained": 1.0,
                               "null": ("orientation_predicts",)})]
    for s, i, g in sizes:
        for name, kw in nulls:
            out.append(Design(f"{name} {s}s×{i}i/{g}g", s, i, g, **kw))
        for amp in (0.5, 1.0):
            for period in (90.0, 180.0):
                # θ = 0 differs from the rest under a planted sinusoid; its mean over a
                # whole number of periods of tested θ is 0, so training_effect stays null
                out.append(Design(f"effect {amp:g}SD p{period:g} {s}s×{i}i/{g}g", s, i, g,
                                  "smooth60", effect=amp, period=period,
                                  null=("orientation_predicts", "training_effect")))
    return out


def _gp(rng: np.random.Generator, n: int, thetas: np.ndarray, noise: str) -> np.ndarray:
    """(n, T) standard-normal curves, independent or smooth over the circle."""
    if noise == "independent":
        return rng.standard_normal((n, len(thetas)))
    length = float(noise.removeprefix("smooth"))
    d = np.abs((thetas[:, None] - thetas[None, :] + 180.0) % 360.0 - 180.0)
    w, v = np.linalg.eigh(np.exp(-0.5 * (d / length) ** 2))
    root = v * np.sqrt(np.clip(w, 0.0, None))  # cov = root @ root.T (cov is near-singular)
    return rng.standard_normal((n, len(thetas))) @ root.T


def _unit() -> float:
    """SD of one trained − untrained value: seed parts are independent between the cubes,
    half of the group/image parts is shared (and cancels)."""
    return math.sqrt(2 * _SEED**2 + 2 * (0.5 * _GROUP**2 + 0.5 * _IMAGE**2) + 2 * _RESID**2)


def simulate(d: Design, rng: np.random.Generator) -> tuple[Cube, Cube]:
    """A trained and an untrained cube of one simulated dataset (units: SD of the diff)."""
    th = np.asarray(d.thetas, dtype=np.float64)
    s, i, t = d.seeds, d.images, len(th)
    group = np.arange(i) % d.groups
    scale = 1.0 / _unit()

    def cube(shared_g, shared_i) -> np.ndarray:
        own_g = _gp(rng, d.groups, th, d.noise)
        own_i = _gp(rng, i, th, d.noise)
        g = math.sqrt(0.5) * (shared_g + own_g)
        im = math.sqrt(0.5) * (shared_i + own_i)
        return (_SEED * _gp(rng, s, th, d.noise)[:, None, :] + _GROUP * g[group][None]
                + _IMAGE * im[None] + _RESID * rng.standard_normal((s, i, t)))

    shared_g, shared_i = _gp(rng, d.groups, th, d.noise), _gp(rng, i, th, d.noise)
    offset = rng.standard_normal(i)[None, :, None]  # images differ in level
    trained = cube(shared_g, shared_i) * scale + offset
    untrained = cube(shared_g, shared_i) * scale + offset
    rad = np.radians(th)
    generic = np.abs(np.sin(rad))[None, None, :]
    trained = trained + (d.generic_both + d.generic_trained) * generic
    ramp = (np.minimum(th % 360.0, 360.0 - th % 360.0) / 180.0)[None, None, :]
    trained = trained + d.ramp_trained * ramp
    untrained = untrained + d.generic_both * generic
    trained = trained + d.effect * np.cos(2 * np.pi * th / d.period)[None, None, :]
    trained[..., np.isclose(th % 360.0, 0.0)] += d.zero_offset
    ids = [f"i{k}" for k in range(i)]
    groups = [f"g{k}" for k in group]
    return (Cube(trained, list(range(s)), ids, th, groups),
            Cube(untrained, list(range(s)), ids, th, groups))


def _planted_period(d: Design) -> float | None:
    if d.effect:
        return d.period
    return 180.0 if d.generic_trained else None  # |sin θ| repeats every 180°


def _positive(question: str, decision: str, d: Design) -> bool:
    """A "yes"; ``periodicity``: a named period (for a planted sinusoid, the planted one);
    ``wrong_period``: a named period other than the one planted (any, where none was),
    an error in every design."""
    decision = str(decision)
    if question in ("periodicity", "wrong_period"):
        planted = _planted_period(d)
        named = decision.startswith("period ")
        right = planted is not None and decision == f"period {planted:g}°"
        if question == "wrong_period":
            return named and not right
        return right if "periodicity" not in d.null else named
    return decision == "yes"


def evaluate(d: Design, n_sim: int, seed: int, s_images: dict | None = None,
             settings: VerdictSettings | None = None) -> dict[str, int]:
    """Count "yes" per question over ``n_sim`` simulated datasets of design ``d``."""
    st = settings or calibration_settings()
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(QUESTIONS, 0)
    moved = TrainingCheck(True, 0.3, 1.0, 3.5, 1, "simulated", 0.5)
    for _ in range(n_sim):
        trained, untrained = simulate(d, rng)
        preds, img_preds = {}, {}
        if s_images:
            fine, curves = s_images["thetas"], s_images["curves"]
            preds = {"x": {"self_overlap": (fine, curves[: d.images].mean(0))}}
            img_preds = {"x": {"self_overlap": (fine, dict(zip(trained.image_ids,
                                                               curves[: d.images],
                                                               strict=False)))}}
        v = build_verdict({"x": trained}, preds, img_preds, st, {"x": untrained},
                          {"x": moved}).table
        if s_images and not v.test.str.startswith("predicts:").any():
            raise AssertionError("the simulated verdict ran no predictor test")
        for q in QUESTIONS:
            r = v[v.test == q]
            if len(r) and _positive(q, r.decision.iloc[0], d):
                counts[q] += 1
    return counts


def calibration_settings(**changes) -> VerdictSettings:
    """The run's verdict settings with fewer resamples (see the module docstring)."""
    return replace(VerdictSettings(bootstrap=200, permutations=500, surrogates=200),
                   **changes)


def binomial_ci(k: int, n: int) -> tuple[float, float]:
    """Clopper–Pearson 95% interval of a rate k/n."""
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(0.95)
    return float(ci.low), float(ci.high)


def calibrate(designs: list[Design], n_sim: int, seed: int = 0,
              s_images: dict | None = None,
              settings: VerdictSettings | None = None) -> list[dict]:
    """One row per (design, question): yes-rate, its 95% interval, null or power."""
    rows = []
    for k, d in enumerate(designs):
        counts = evaluate(d, n_sim, seed + 1000 * k, s_images, settings)
        for q, c in counts.items():
            lo, hi = binomial_ci(c, n_sim)
            rows.append({"design": d.name, "question": q, "null": q in d.null, "yes": c,
                         "n": n_sim, "rate": c / n_sim, "ci_low": lo, "ci_high": hi})
    return rows


def with_thetas(designs: list[Design], thetas) -> list[Design]:
    return [replace(d, thetas=tuple(float(t) for t in thetas)) for d in designs]


def shipped_self_overlap(kind: str = "mri-lesion", size: int = 64) -> dict:
    """Per-image S(θ) on a 1° grid of a shipped dataset's images: realistic predictors."""
    from thetascope.config import load_config
    from thetascope.data.registry import create_dataset
    from thetascope.orient.histograms import orientation_histograms, self_overlap, to_gray

    cfg = load_config(None, [f"data.datasets=[{{kind: {kind}}}]", f"data.image_size={size}"])
    ds = create_dataset(cfg.data.datasets[0], cfg.data)
    gray = to_gray(np.stack([s.image for s in ds.ssp]))
    fine = np.arange(360.0)
    return {"thetas": fine, "curves": self_overlap(orientation_histograms(gray), fine, 5.0)}
