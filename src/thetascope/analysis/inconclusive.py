"""When a run cannot decide, a verdict row says ``inconclusive (<reason>)``, never "no".

    reasons = blockers(training_check, flags)                  # void every decision
    reasons = weak_reasons(ctx, row, settings)                 # void a "no"
    decision = inconclusive(["seeds disagree: split-half r = -0.44"])

Blockers (every decision of the dataset, "yes" included):
- training did not move the model (``analysis/training.py``): the saliency measured is
  that of models close to their initialisation;
- flags raised by the data layer (e.g. an evaluation set dominated by degenerate masks).

Reasons a "no" is not evidence (the test could not have said yes with any confidence):
- the trained and untrained scores are indistinguishable (``training_effect`` not
  significant) while the θ test found nothing: nothing learned was measured;
- the seeds disagree: the split-half correlation of the seed curves is below
  ``analysis.min_seed_agreement``;
- fewer seeds than ``analysis.min_seeds`` (with 2, Greenhouse–Geisser leaves the seed F
  one degree of freedom: benchmarks/calibration.py measured no power at all, even for
  effects of 1 SD);
- fewer independent source groups (volumes, cases) than ``analysis.min_groups``;
- the smallest p the test's null can produce exceeds α (e.g. a re-pairing null of 3 groups:
  1/3! = 0.17).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from thetascope.analysis.training import TrainingCheck


@dataclass
class DatasetContext:
    n_seeds: int
    n_groups: int
    seed_r: float = float("nan")
    training: TrainingCheck | None = None
    training_effect: str = ""  # the decision of the training_effect row ("yes"/"no"/...)
    training_effect_p: float = float("nan")
    flags: list[str] = field(default_factory=list)


def inconclusive(reasons: list[str]) -> str:
    return f"inconclusive ({'; '.join(reasons)})"


def blockers(ctx: DatasetContext) -> list[str]:
    out = list(ctx.flags)
    t = ctx.training
    if t is not None and t.moved is False:
        out.append(f"training did not move the model: final loss {100 * t.ratio:.0f} % of "
                   f"chance (rule ≤ {100 * t.max_ratio:.0f} %)")
    return out


def weak_reasons(ctx: DatasetContext, test: str, min_p: float, st) -> list[str]:
    """Why a "no" of ``test`` would not be evidence of absence."""
    out = []
    if ctx.training_effect == "no" and not test.endswith(":raw"):
        out.append("trained and untrained scores indistinguishable (p = "
                   f"{ctx.training_effect_p:.2g})")
    if ctx.n_seeds >= 2 and np.isfinite(ctx.seed_r) and ctx.seed_r < st.min_seed_agreement:
        out.append(f"seeds disagree: split-half r = {ctx.seed_r:.2f} < "
                   f"{st.min_seed_agreement:g}")
    if ctx.n_seeds < st.min_seeds:
        out.append(f"{ctx.n_seeds} seed(s) < {st.min_seeds}: too few to tell seed × θ noise "
                   "from a θ effect")
    if ctx.n_groups < st.min_groups:
        out.append(f"{ctx.n_groups} independent source group(s) < {st.min_groups}")
    if np.isfinite(min_p) and min_p > st.alpha:
        out.append(f"smallest attainable p {min_p:.2g} > α = {st.alpha:g}")
    return out
