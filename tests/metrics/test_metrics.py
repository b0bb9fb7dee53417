import math

import numpy as np
import pytest

from thetascope.metrics.overlap import (
    binarize,
    dice,
    dice_paper,
    iou,
    mass_in_mask,
    parse_binarize_rule,
    pointing_game,
    score_image,
)


def _m(rows):
    return np.array(rows, dtype=bool)


P = _m([[1, 1, 0], [0, 0, 0], [0, 0, 0]])  # |P| = 2
G = _m([[0, 1, 1], [0, 1, 0], [0, 0, 0]])  # |G| = 3, I = 1


def test_dice_hand_computed():
    assert dice(P, G) == pytest.approx(2 * 1 / (2 + 3))
    assert dice(G, G) == 1.0
    assert dice(~G, G) == 0.0


def test_dice_paper_variant():
    assert dice_paper(P, G) == pytest.approx(2 * 1 / (2 + 3 + 1))
    assert dice_paper(G, G) == pytest.approx(2 * 3 / (3 + 3 + 3))  # 2/3, not 1


def test_iou_hand_computed():
    assert iou(P, G) == pytest.approx(1 / 4)


def test_empty_mask_is_nan_not_zero_or_one():
    empty = np.zeros((3, 3), bool)
    for f in (dice, dice_paper, iou):
        assert math.isnan(f(P, empty))
        assert math.isnan(f(empty, empty))


def test_full_mask():
    full = np.ones((3, 3), bool)
    assert dice(full, full) == 1.0
    assert dice(P, full) == pytest.approx(2 * 2 / (2 + 9))


def test_empty_prediction_scores_zero():
    assert dice(np.zeros((3, 3), bool), G) == 0.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="differ in shape"):
        dice(P, np.zeros((2, 2), bool))


def test_pointing_game():
    valid = np.ones((3, 3), bool)
    sal = np.zeros((3, 3))
    sal[1, 1] = 5.0
    assert pointing_game(sal, G, valid) == 1.0
    sal2 = np.zeros((3, 3))
    sal2[2, 2] = 5.0
    assert pointing_game(sal2, G, valid) == 0.0
    tie = np.zeros((3, 3))
    tie[1, 1] = tie[2, 2] = 5.0
    assert pointing_game(tie, G, valid) == 0.5
    assert math.isnan(pointing_game(np.ones((3, 3)), G, valid))  # constant map: no point


def test_mass_in_mask():
    valid = np.ones((3, 3), bool)
    sal = np.ones((3, 3))
    assert mass_in_mask(sal, G, valid) == pytest.approx(3 / 9)
    assert math.isnan(mass_in_mask(np.zeros((3, 3)), G, valid))
    assert math.isnan(mass_in_mask(sal, np.zeros((3, 3), bool), valid))


def test_binarize_rules():
    valid = np.ones((2, 3), bool)
    sal = np.array([[0.0, 0.02, 0.9], [1.0, 0.01, 0.95]])
    assert binarize(sal, valid, "otsu").tolist() == [[False, False, True], [True, False, True]]
    assert binarize(sal, valid, "fixed:0.5").sum() == 3
    assert binarize(sal, valid, "paper").sum() == 5  # everything > 0
    gt = np.array([[1, 1, 0], [0, 0, 0]], bool)
    top = binarize(sal, valid, "topk", gt)
    assert top.sum() == 2 and top[1, 0] and top[1, 2]


def test_binarize_never_selects_outside_valid():
    valid = np.array([[True, False], [True, True]])
    sal = np.array([[0.0, 9.0], [0.0, 1.0]])
    for rule in ("otsu", "fixed:0.1", "paper"):
        assert not binarize(sal, valid, rule)[0, 1]


def test_binarize_constant_map_is_empty():
    assert not binarize(np.ones((4, 4)), np.ones((4, 4), bool), "otsu").any()


def test_parse_rule_errors():
    assert parse_binarize_rule("fixed:0.25") == ("fixed", 0.25)
    with pytest.raises(ValueError):
        parse_binarize_rule("fixed:abc")
    with pytest.raises(ValueError):
        parse_binarize_rule("mean")
    with pytest.raises(ValueError, match="needs the ground-truth"):
        binarize(np.ones((2, 2)), np.ones((2, 2), bool), "topk")


def test_score_image_records_mask_outside_valid():
    gt = np.zeros((4, 4), bool)
    gt[0, :] = True  # 4 pixels, 2 outside the valid region
    valid = np.ones((4, 4), bool)
    valid[0, :2] = False
    sal = np.zeros((4, 4))
    sal[0, 2:] = 1.0
    out = score_image(sal, gt, valid, "otsu", ["dice", "iou", "pointing_game", "mass_in_mask"])
    assert out["mask_outside_valid"] == pytest.approx(0.5)
    assert out["dice"] == 1.0  # scored against the part of the mask inside valid
    assert out["pointing_game"] == 1.0
    assert out["mass_in_mask"] == 1.0


def test_chance_levels_hand_computed():
    """A 2×2 mask in a 10×10 valid region: pointing game and mass in mask at chance are
    its share (0.04); uniform noise binarised by topk picks 4 of 100 pixels, so Dice at
    chance is the share too; Otsu keeps about half: Dice ≈ 2·0.5·4 / (50 + 4) = 0.074."""
    from thetascope.metrics.chance import chance_scores

    valid = np.ones((10, 10), bool)
    gt = np.zeros((10, 10), bool)
    gt[:2, :2] = True
    pg = chance_scores(gt, valid, "otsu", ["pointing_game", "mass_in_mask"])
    assert pg == {"pointing_game": pytest.approx(0.04), "mass_in_mask": pytest.approx(0.04)}
    topk = chance_scores(gt, valid, "topk", ["dice", "iou"], draws=4000)
    assert topk["dice"] == pytest.approx(0.04, abs=0.006)
    otsu = chance_scores(gt, valid, "otsu", ["dice"], draws=2000)
    assert otsu["dice"] == pytest.approx(2 * 0.5 * 4 / (50 + 4), abs=0.01)
    empty = chance_scores(np.zeros((10, 10), bool), valid, "otsu", ["dice", "pointing_game"])
    assert all(np.isnan(v) for v in empty.values())
    with pytest.raises(ValueError, match="no chance level"):
        chance_scores(gt, valid, "otsu", ["nope"])
