"""Analysis of per-image scores: aggregation over images and seeds with CIs (curves), and
the shortcut-hypothesis tests (cube, theta_effect, periodicity, stability, predictors,
multiple, verdict)."""
