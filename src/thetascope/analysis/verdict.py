"""The verdict table: every test of the shortcut hypothesis, one row per dataset × test.

    settings = VerdictSettings(alpha=0.05, correction="holm")
    out = build_verdict({"mri-lesion": cube}, {"mri-lesion": {"self_overlap": (th, S)}},
                        {"mri-lesion": {"self_overlap": (th, {"img1": S1, ...})}}, settings,
                        untrained={"mri-lesion": untrained_cube},
                        training={"mri-lesion": training_check(...)})
    out.table            # columns VERDICT_COLUMNS; written to verdict.parquet
    out.spectra, out.peaks

What is tested: with an untrained reference, the paired difference trained − untrained per
(seed, image, θ), so that what the geometry and the untrained network already do at each θ
is not credited to training; without one, the raw trained curve (the detail says so).
θ = 0 trains on identical views, a different task: it is left out of the θ-effect,
periodicity and predictor tests (``exclude_zero``) and gets its own row.

Tests (``test`` column): ``training`` (the loss rule, ``analysis/training.py``),
``training_effect`` (trained differs from untrained), ``identical_views`` (θ = 0 differs
from the other θ), ``theta_effect`` (does the score depend on θ), ``periodicity`` (the
best-fitting period), ``period_margin`` (does it fit better than the runner-up),
``seed_stability`` (split-half r, informational), ``predicts:<predictor>`` (curve level,
generic rotation terms removed; informational: one curve cannot tell orientation from a
generic rotation effect, both being even about 0°), ``predicts:<predictor>:image``
(image/group level: an image's own S(θ) against its own score beyond the dataset's mean
curve) and ``orientation_predicts`` (yes when an image-level test is significant after
correction).
With an untrained reference the raw trained curve's ``theta_effect:raw``,
``periodicity:raw`` and ``predicts:<predictor>:raw`` stay, labelled, in families of their
own. Families adjusted together (``correction``, Holm by default): each test name across
datasets; every (non-raw) predictor test across datasets, predictors and levels.
``decision`` is "yes"/"no" at ``alpha`` on the adjusted p-value, or ``inconclusive
(<reason>)`` when the run cannot decide (``analysis/inconclusive.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from thetascope.analysis.cube import Cube, difference_cube
from thetascope.analysis.inconclusive import (
    DatasetContext,
    blockers,
    inconclusive,
    weak_reasons,
)
from thetascope.analysis.multiple import adjust
from thetascope.analysis.stability import split_half
from thetascope.analysis.training import TrainingCheck
from thetascope.analysis.verdict_rows import VERDICT_COLUMNS, curve_rows, reference_rows, row
from thetascope.config.analysis import AnalysisConfig
from thetascope.config.defaults import default

if TYPE_CHECKING:
    from thetascope.config import ExperimentConfig

__all__ = ["VERDICT_COLUMNS", "VerdictOutput", "VerdictSettings", "build_verdict", "decide", "row"]

MAIN = ("theta_effect", "periodicity", "identical_views", "orientation_predicts")


def _a(name: str):
    return default(AnalysisConfig, name)


@dataclass(frozen=True, kw_only=True)
class VerdictSettings:
    """The statistics' settings; defaults are ``AnalysisConfig``'s. ``from_config(cfg)`` is
    the one place they are read from a config."""

    alpha: float = _a("alpha")
    theta_test: str = _a("theta_test")
    permutation_blocks: str = _a("permutation_blocks")
    permutations: int = _a("permutations")
    bootstrap: int = _a("bootstrap")
    peak_prominence: float = _a("peak_prominence")
    exclude_zero: bool = _a("exclude_zero")
    shift_step: float = _a("shift_step")
    surrogates: int = _a("surrogates")
    correction: str = _a("correction")
    seed: int = _a("seed")
    sphericity: str = _a("sphericity")
    min_f_df: str = _a("min_f_df")
    generic_terms: tuple[str, ...] = _a("generic_terms")
    test_on: str = _a("test_on")
    min_groups: int = _a("min_groups")
    min_seeds: int = _a("min_seeds")
    min_seed_agreement: float = _a("min_seed_agreement")

    @classmethod
    def from_config(cls, cfg: ExperimentConfig) -> VerdictSettings:
        a = cfg.analysis
        return cls(alpha=a.alpha, theta_test=a.theta_test,
                   permutation_blocks=a.permutation_blocks, permutations=a.permutations,
                   bootstrap=a.bootstrap, peak_prominence=a.peak_prominence,
                   exclude_zero=a.exclude_zero, shift_step=a.shift_step,
                   surrogates=a.surrogates, correction=a.correction, seed=a.seed,
                   sphericity=a.sphericity, min_f_df=a.min_f_df,
                   generic_terms=tuple(a.generic_terms), test_on=a.test_on,
                   min_groups=a.min_groups, min_seeds=a.min_seeds,
                   min_seed_agreement=a.min_seed_agreement)


@dataclass
class VerdictOutput:
    table: pd.DataFrame
    spectra: pd.DataFrame = field(default_factory=pd.DataFrame)
    peaks: pd.DataFrame = field(default_factory=pd.DataFrame)


def _dataset(name: str, cube: Cube, untrained: Cube | None, preds: dict, img_preds: dict,
             st: VerdictSettings):
    """Rows, spectrum, peaks and the decision context of one dataset."""
    rows: list[dict] = []
    tested, what = cube, "raw trained curve (no untrained reference)"
    if untrained is not None and st.test_on == "difference":
        diff = difference_cube(cube, untrained)
        rows += reference_rows(name, diff, st, st.exclude_zero)
        tested, what = diff, "trained − untrained"
    elif st.test_on == "raw":
        what = "raw trained curve"
    main = tested.without_zero() if st.exclude_zero else tested
    r, spec, peaks = curve_rows(name, main, preds, img_preds, st, "", what)
    rows += r
    if tested is not cube:  # the raw curve, kept and labelled
        raw = cube.without_zero() if st.exclude_zero else cube
        rows += curve_rows(name, raw, preds, {}, st, ":raw", "raw trained curve")[0]
    ctx = DatasetContext(n_seeds=main.values.shape[0], n_groups=main.n_groups,
                         seed_r=split_half(main.values, seed=st.seed).r)
    return rows, spec, peaks, ctx


def _families(df: pd.DataFrame) -> list[pd.Series]:
    pred = df.test.str.startswith("predicts:") & df.test.str.endswith(":image")
    raw = df.test.str.endswith(":raw")
    fams = [pred & ~raw]
    for t in ("theta_effect", "periodicity", "identical_views", "training_effect",
              "theta_effect:raw", "periodicity:raw"):
        fams.append(df.test == t)
    return fams


def decide(df: pd.DataFrame, mask: pd.Series, st: VerdictSettings) -> None:
    df.loc[mask, "p_adjusted"] = adjust(df.loc[mask, "p_value"].to_numpy(), st.correction)
    df.loc[mask, "correction"] = st.correction
    df.loc[mask, "alpha"] = st.alpha
    sig = df["p_adjusted"] <= st.alpha
    est = df["p_adjusted"].notna()
    undecided = df["decision"].isna()
    df.loc[mask & est & undecided, "decision"] = np.where(sig[mask & est & undecided], "yes",
                                                         "no")
    df.loc[mask & ~est & undecided, "decision"] = "not estimable"


def _is_main(test: str) -> bool:
    """A question the verdict answers (the curve-level predictor rows only inform)."""
    base = test.removesuffix(":raw")
    return base in MAIN or (base.startswith("predicts:") and base.endswith(":image"))


def _apply_rules(df: pd.DataFrame, ctxs: dict[str, DatasetContext], st) -> None:
    """Blockers void every main decision; weak reasons void a "no"; an estimate that could
    not be made is inconclusive with its reason."""
    for i, r in df.iterrows():
        ctx = ctxs.get(r.dataset)
        if ctx is None or not _is_main(r.test):
            continue
        block = blockers(ctx)
        if block and r.decision != "not tested":
            df.at[i, "decision"] = inconclusive(block)
        elif r.decision == "no":
            why = weak_reasons(ctx, r.test, float(r["_min_p"]), st)
            if why:
                df.at[i, "decision"] = inconclusive(why)
        elif r.decision == "not estimable":
            df.at[i, "decision"] = inconclusive([str(r.detail) or "not estimable"])


def _summary(name: str, df: pd.DataFrame, ctx: DatasetContext | None, st) -> dict:
    """``orientation_predicts``: yes when an image-level predictor test says yes."""
    d = df[(df.dataset == name) & df.test.str.startswith("predicts:")
           & df.test.str.endswith(":image")]
    est = d[d.p_adjusted.notna()]
    if est.empty:
        reason = d.decision.iloc[0] if len(d) else "no predictor test"
        return row(name, "orientation_predicts", "min adjusted p", np.nan,
                   decision=reason if reason.startswith("inconclusive") else
                   inconclusive([str(d.detail.iloc[0]) if len(d) else "no predictor test"]),
                   detail="no predictor test estimable")
    best = est.loc[est.p_adjusted.idxmin()]
    decisions = list(d.decision)
    undecided = [t for t, x in zip(d.test, decisions, strict=True) if x not in ("yes", "no")]
    if "yes" in decisions:
        decision = "yes"
    elif "no" in decisions:  # a test that could decide found nothing
        decision = "no"
    else:
        decision = next(x for x in decisions if str(x).startswith("inconclusive"))
    detail = f"{len(est)} predictor tests; strongest {best.test}"
    if undecided:
        detail += f"; undecided: {', '.join(undecided)}"
    out = row(name, "orientation_predicts", f"r of {best.test}", best.statistic, best.p_value,
              ci=(best.ci_low, best.ci_high), decision=decision, detail=detail, n=len(est),
              min_p=float(d.loc[d.decision == "no", "_min_p"].min()) if "no" in decisions
              else 0.0)
    out.update(p_adjusted=best.p_adjusted, correction=st.correction, alpha=st.alpha)
    return out


def _periods(df: pd.DataFrame) -> None:
    """Periodicity in words, and the margin row decided only when a period was found."""
    for name in dict.fromkeys(df.dataset):
        per = df[(df.dataset == name) & df.test.isin(["periodicity", "periodicity:raw"])]
        for i, r in per.iterrows():
            if r.decision == "yes":
                df.at[i, "decision"] = f"period {r.effect_size:g}°"
            elif r.decision == "no":
                df.at[i, "decision"] = "no period"
        m = df.index[(df.dataset == name) & (df.test == "period_margin")]
        p = df[(df.dataset == name) & (df.test == "periodicity")]
        if not len(m):
            continue
        i, mr = m[0], df.loc[m[0]]
        found = len(p) and str(p.decision.iloc[0]).startswith("period ")
        if not found:
            df.at[i, "decision"] = "not tested (no period found)"
        elif not np.isfinite(mr.p_value):
            df.at[i, "decision"] = inconclusive([str(mr.detail)])
        else:
            df.at[i, "alpha"] = p.alpha.iloc[0]
            better = mr.p_value <= p.alpha.iloc[0]
            df.at[i, "decision"] = (f"yes: {p.effect_size.iloc[0]:g}° fits better than "
                                    f"{mr.effect_size:g}°" if better else
                                    f"no: not told apart from {mr.effect_size:g}°")


def _training_row(name: str, t: TrainingCheck | None) -> dict:
    if t is None or t.moved is None:
        return row(name, "training", "final loss / chance", np.nan,
                   detail=t.note if t else "no training losses (references only)",
                   decision="not tested")
    return row(name, "training", "final loss / chance", t.ratio, effect=t.final_loss,
               detail=t.note, n=t.n_cells, decision="yes" if t.moved else "no")


def build_verdict(cubes: dict[str, Cube], predictors: dict[str, dict],
                  image_predictors: dict[str, dict], settings: VerdictSettings,
                  untrained: dict[str, Cube] | None = None,
                  training: dict[str, TrainingCheck] | None = None,
                  flags: dict[str, list[str]] | None = None) -> VerdictOutput:
    """Run every test for every dataset, adjust per family, decide, and say inconclusive
    where the run cannot decide."""
    st, untrained, training, flags = settings, untrained or {}, training or {}, flags or {}
    rows, specs, peaks, ctxs = [], [], [], {}
    for name, cube in cubes.items():
        rows.append(_training_row(name, training.get(name)))
        r, s, p, ctx = _dataset(name, cube, untrained.get(name), predictors.get(name, {}),
                                image_predictors.get(name, {}), st)
        ctx.training, ctx.flags = training.get(name), list(flags.get(name, []))
        rows += r
        specs.append(s)
        peaks.append(p)
        ctxs[name] = ctx
    df = pd.DataFrame(rows, columns=[*VERDICT_COLUMNS, "_min_p"])
    if df.empty:
        return VerdictOutput(df[VERDICT_COLUMNS])
    df["decision"] = df["decision"].astype(object)
    for fam in _families(df):
        decide(df, fam, st)
    for name, ctx in ctxs.items():
        te = df[(df.dataset == name) & (df.test == "training_effect")]
        if len(te):
            ctx.training_effect = str(te.decision.iloc[0])
            ctx.training_effect_p = float(te.p_adjusted.iloc[0])
    _apply_rules(df, ctxs, st)
    summary = pd.DataFrame([_summary(n, df, ctxs.get(n), st) for n in cubes],
                           columns=df.columns)
    _apply_rules(summary, ctxs, st)
    df = pd.concat([df, summary], ignore_index=True)
    _periods(df)
    return VerdictOutput(df[VERDICT_COLUMNS],
                         pd.concat(specs, ignore_index=True) if specs else pd.DataFrame(),
                         pd.concat(peaks, ignore_index=True) if peaks else pd.DataFrame())
