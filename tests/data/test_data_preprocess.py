"""The named preprocessing steps: inscribed-square crop, resize rules, channels."""

from __future__ import annotations

import numpy as np
import pytest

from thetascope.data.preprocess import crop, inscribed_square, resize_mask, to_model_input


def test_inscribed_square_is_the_papers_362_of_512_crop():
    a = np.arange(512 * 512, dtype=np.float32).reshape(512, 512)
    c = inscribed_square(a)
    assert c.shape == (362, 362)
    assert c[0, 0] == a[75, 75]  # the reference code's offset
    assert crop(np.zeros((3, 300, 400)), "inscribed").shape == (3, 212, 212)
    assert crop(np.zeros((30, 40)), "square").shape == (30, 30)
    assert crop(np.zeros((30, 40)), "none").shape == (30, 40)
    with pytest.raises(ValueError, match="unknown crop"):
        crop(a, "circle")


def test_resize_rules():
    m = np.zeros((8, 8), bool)
    m[:3, :3] = True  # 9 of 16 pixels of the top-left 4×4 block
    assert resize_mask(m, 2, "antialias").tolist() == [[True, False], [False, False]]
    nearest = resize_mask(m, 4, "nearest")
    assert nearest.dtype == bool and nearest.sum() in (1, 4)
    img = np.random.default_rng(0).random((16, 16))
    a, _ = to_model_input(img, None, 8, resize_rule="antialias")
    b, _ = to_model_input(img, None, 8, resize_rule="bilinear")
    n, _ = to_model_input(img, None, 8, resize_rule="nearest", intensity="minmax")
    assert a.shape == b.shape == n.shape == (3, 8, 8) and not np.allclose(a, b)
    scaled = (img - img.min()) / (img.max() - img.min())
    gap = np.abs(n[0].ravel()[:, None] - scaled.ravel()[None, :]).min(axis=1)
    assert gap.max() < 1e-5  # every output pixel is an input pixel: no blending


def test_channels_and_prescaled_input():
    rgb = np.random.default_rng(1).random((3, 20, 30)) * 255
    x, m = to_model_input(rgb, np.ones((20, 30), bool), 16, channels=3)
    assert x.shape == (3, 16, 16) and m.shape == (16, 16) and x.max() <= 1
    gray, _ = to_model_input(rgb[0], None, 16, channels=1)
    assert gray.shape == (1, 16, 16)
    with pytest.raises(ValueError, match="3 channels but data.channels is 1"):
        to_model_input(rgb, None, 16, channels=1)
    scaled = np.full((10, 10), 0.25, np.float32)
    y, _ = to_model_input(scaled, None, 10, prescaled=True)
    assert np.allclose(y, 0.25)  # not re-stretched by the per-image rule
