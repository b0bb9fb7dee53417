"""Known answers for verdicts read against the untrained reference: an effect that only
training makes is found; the same effect present in the untrained model is not credited
to training; a θ = 0 offset alone does not make "θ matters"; a generic |sin θ| curve is not
"orientation predicts"; a run whose training did not move the model is inconclusive."""

from __future__ import annotations

import numpy as np
import pytest

from thetascope.analysis.calibration import Design, simulate
from thetascope.analysis.predictors import curve_association
from thetascope.analysis.training import TrainingCheck, training_check
from thetascope.analysis.verdict import VerdictSettings, build_verdict
from thetascope.ssl.registry import get_method


def chance_loss(method: str, queue_size: int | None, batch_size: int) -> float:
    return get_method(method).chance_loss(batch_size, queue_size)

GRID = tuple(float(t) for t in range(0, 360, 30))
ST = VerdictSettings(bootstrap=200, permutations=300, surrogates=200)
MOVED = {"x": TrainingCheck(True, 0.3, 1.0, 3.5, 10, "simulated", 0.5)}


def _verdict(design: Design, seed: int = 0, training=MOVED, preds=None):
    trained, untrained = simulate(design, np.random.default_rng(seed))
    return build_verdict({"x": trained}, preds or {}, {}, ST, {"x": untrained},
                         training).table.set_index("test")


def test_trained_only_effect_is_found():
    v = _verdict(Design("effect", 5, 32, 8, "smooth60", effect=2.0, period=90.0,
                        thetas=GRID))
    assert v.loc["theta_effect", "decision"] == "yes"
    assert v.loc["periodicity", "decision"] == "period 90°"
    assert "trained − untrained" in v.loc["theta_effect", "detail"]


def test_effect_shared_with_the_untrained_model_is_not_credited_to_training():
    """|sin θ| of 3 SD in both cubes: the raw curve sees it, the difference does not."""
    v = _verdict(Design("generic", 5, 32, 8, "smooth60", generic_both=3.0, thetas=GRID))
    assert v.loc["theta_effect:raw", "decision"] == "yes"
    assert v.loc["theta_effect", "decision"] != "yes"


def test_theta_zero_offset_alone_does_not_make_theta_matter():
    v = _verdict(Design("zero", 5, 32, 8, "smooth60", zero_offset=3.0, thetas=GRID))
    assert v.loc["identical_views", "decision"] == "yes"
    assert v.loc["theta_effect", "decision"] != "yes"
    assert not str(v.loc["periodicity", "decision"]).startswith("period ")


def test_untrained_model_means_inconclusive():
    stuck = {"x": training_check(np.array([3.3, 3.4, 3.45]), chance_loss("moco_v2", 32, 16))}
    v = _verdict(Design("effect", 5, 32, 8, "smooth60", effect=2.0, thetas=GRID),
                 training=stuck)
    assert v.loc["training", "decision"] == "no"
    for test in ("theta_effect", "periodicity", "orientation_predicts"):
        assert v.loc[test, "decision"].startswith("inconclusive (training did not move")


def test_a_no_from_two_volumes_is_inconclusive():
    v = _verdict(Design("null", 5, 8, 2, "smooth60", thetas=GRID))
    assert v.loc["theta_effect", "decision"].startswith("inconclusive")
    assert "2 independent source group(s) < 3" in v.loc["theta_effect", "decision"]


def test_training_rule():
    assert chance_loss("moco_v2", 32, 16) == pytest.approx(np.log(33))
    assert chance_loss("simclr", None, 16) == pytest.approx(np.log(31))
    ok = training_check(np.array([1.0, 1.2, 0.9]), np.log(33), 0.5)
    assert ok.moved and ok.ratio == pytest.approx(1.0 / np.log(33))
    assert training_check(np.array([2.6]), np.log(33), 0.5).moved is False
    assert training_check(np.array([]), np.log(33)).moved is None


def _s_curve(fine: np.ndarray) -> np.ndarray:
    """A realistic S(θ): generic 2- and 4-fold shape plus a dataset-specific 1- and 3-fold
    part."""
    r = np.radians(fine)
    return (0.72 + 0.15 * np.cos(2 * r) + 0.05 * np.cos(4 * r) + 0.03 * np.cos(r)
            + 0.02 * np.cos(3 * r))


def test_generic_sin_curve_does_not_read_orientation_predicts():
    """A score of |sin θ| plus noise involves no image. Correlated with S(θ) as is it reads
    "orientation predicts" most of the time; with the generic harmonics removed it reads
    so at the nominal rate (measured 4.3 % of 300)."""
    fine = np.arange(360.0)
    th = np.arange(0.0, 360.0, 15.0)
    s = _s_curve(fine)
    rng = np.random.default_rng(3)
    raw = kept = 0
    for _ in range(300):
        score = 0.3 + 0.1 * np.abs(np.sin(np.radians(th))) + 0.01 * rng.standard_normal(len(th))
        boots = score[None] + 0.01 * rng.standard_normal((20, len(th)))
        raw += curve_association(th, score, boots, fine, s, shift_step=5.0).p_value <= 0.05
        a = curve_association(th, score, boots, fine, s, shift_step=5.0,
                              generic=("abs_sin", "h2", "h4"))
        kept += a.p_value <= 0.05
    assert raw / 300 > 0.5
    assert kept / 300 <= 0.07
    exact = curve_association(th, 0.3 + np.abs(np.sin(np.radians(th))), np.ones((5, len(th))),
                              fine, s, generic=("abs_sin", "h2", "h4"))
    assert exact.p_value > 0.05 or np.isnan(exact.p_value)


def test_predictor_with_nothing_beyond_generic_terms_is_not_estimable():
    fine = np.arange(360.0)
    s = 0.7 + 0.2 * np.cos(np.radians(4 * fine))
    th = np.arange(0.0, 360.0, 30.0)
    a = curve_association(th, np.cos(np.radians(3 * th)), np.ones((5, len(th))), fine, s,
                          generic=("abs_sin", "h2", "h4"))
    assert np.isnan(a.p_value) and "nothing beyond the generic terms" in a.note


def test_generic_ramps_do_not_read_orientation_predicts():
    """'Harder at larger angles' as a ramp min(θ, 360 − θ) in the trained curve only: the
    dataset curve correlates with S(θ) even after h1, h2, h4 are removed (both are even
    about 0°: the ramp's 3-fold part meets S's), so the curve-level row only informs; the
    image-level test, which decides, is not fooled (centring per θ removes the ramp)."""
    from thetascope.analysis.calibration import Design, simulate

    fine = np.arange(360.0)
    th = np.arange(15.0, 346.0, 15.0)
    ramp = np.minimum(th, 360.0 - th) / 180.0
    curve = curve_association(th, ramp, np.ones((5, len(th))), fine, _s_curve(fine),
                              generic=VerdictSettings().generic_terms)
    assert curve.p_value <= 0.05  # the confound, kept visible in the informational row
    rng = np.random.default_rng(7)
    per_image = _s_curve(fine)[None] + 0.03 * np.cos(np.radians(
        fine[None] * 3 + rng.uniform(0, 360, (32, 1))))
    grid = tuple(float(t) for t in range(0, 360, 15))
    yes = 0
    for k in range(20):
        t, u = simulate(Design("ramp", 5, 32, 8, "smooth60", ramp_trained=2.0, thetas=grid),
                        np.random.default_rng(k))
        v = build_verdict({"x": t}, {"x": {"self_overlap": (fine, per_image.mean(0))}},
                          {"x": {"self_overlap": (fine, dict(zip(t.image_ids, per_image,
                                                                 strict=True)))}},
                          ST, {"x": u}, MOVED).table.set_index("test")
        assert v.loc["predicts:self_overlap", "decision"] == "informational"
        yes += v.loc["orientation_predicts", "decision"] == "yes"
    assert yes <= 2
