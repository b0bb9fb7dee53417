import pytest
import torch
from torch.testing import assert_close

from thetascope.geometry import apply_circle, circle_mask, rotate, valid_region


@pytest.mark.parametrize("theta", [30.0, 45.0, 90.0, 137.5, 180.0, 271.0])
def test_rotate_then_back_restores_inscribed_circle(theta):
    torch.manual_seed(0)
    # smooth content so bilinear resampling error is small and measurable
    x = torch.nn.functional.interpolate(torch.rand(2, 3, 8, 8), size=(48, 48), mode="bilinear",
                                        align_corners=False)
    back = rotate(rotate(x, theta), -theta)
    inner = circle_mask(48, 48)
    # stay one pixel inside the circle: its rim mixes in fill when resampled twice
    ys, xs = torch.meshgrid(torch.arange(48) - 23.5, torch.arange(48) - 23.5, indexing="ij")
    core = (ys**2 + xs**2) <= (24 - 2.5) ** 2
    assert core.sum() > 0.8 * inner.sum()
    err = (back - x).abs()[..., core]
    assert err.mean() < 0.01
    assert err.max() < 0.08


@pytest.mark.parametrize("theta", [90.0, 180.0, 270.0, -90.0])
def test_quarter_turns_are_exact_with_nearest(theta):
    x = torch.rand(1, 1, 16, 16)
    back = rotate(rotate(x, theta, "nearest"), -theta, "nearest")
    assert_close(back, x)


def test_rotation_is_counter_clockwise():
    x = torch.zeros(1, 1, 9, 9)
    x[..., 0, 4] = 1.0  # top centre
    r = rotate(x, 90.0, "nearest")
    assert r[0, 0, 4, 0] == 1.0  # counter-clockwise: top goes to the left


def test_full_turn_is_identity():
    x = torch.rand(2, 3, 10, 10)
    assert rotate(x, 360.0) is x
    assert rotate(x, 0.0) is x


def test_circle_mask_shape_and_symmetry():
    m = circle_mask(32, 32)
    assert m.dtype == torch.bool and m.shape == (32, 32)
    assert not m[0, 0] and m[16, 16]
    assert torch.equal(m, m.flip(0)) and torch.equal(m, m.T)
    expected = torch.pi * 15.5**2  # radius min(H, W) / 2 - 1/2
    assert abs(m.sum().item() - expected) / expected < 0.03


def test_apply_circle_zeroes_corners_only():
    x = torch.ones(1, 1, 20, 20)
    y = apply_circle(x)
    assert y[0, 0, 0, 0] == 0 and y[0, 0, 10, 10] == 1


def test_corners_are_masked_in_both_views():
    from thetascope.ssl.pairs import make_pair

    x = torch.ones(1, 1, 24, 24)
    a, b = make_pair(x, 45.0)
    outside = ~circle_mask(24, 24)
    assert a[..., outside].abs().max() == 0 and b[..., outside].abs().max() == 0
    # with the mask on, the two views of a constant image agree everywhere (no corner cue)
    assert (a - b).abs()[..., ~outside].max() < 1e-5


def test_valid_region_without_circle_excludes_fill():
    v = valid_region(32, 32, 45.0, circle=False)
    assert not v[0, 0] and v[16, 16]
    assert torch.equal(valid_region(32, 32, 0.0, circle=False), torch.ones(32, 32, dtype=bool))


@pytest.mark.parametrize("theta", [10.0, 30.0, 45.0, 137.5, 200.0, -77.0])
def test_fourier_rotation_restores_inscribed_circle_and_keeps_detail(theta):
    """θ then −θ with three Fourier shears restores even white noise inside the circle
    (bilinear loses about half of its standard deviation there) and matches torchvision's
    rotation on smooth content."""
    torch.manual_seed(1)
    inner = circle_mask(48, 48)
    noise = torch.rand(2, 48, 48) * inner
    back = rotate(rotate(noise, theta, "fourier"), -theta, "fourier")
    ys, xs = torch.meshgrid(torch.arange(48) - 23.5, torch.arange(48) - 23.5, indexing="ij")
    core = (ys**2 + xs**2) <= (24 - 4) ** 2
    assert (back - noise)[..., core].abs().mean() < 0.03
    assert back[..., core].std() > 0.95 * noise[..., core].std()
    blurred = rotate(rotate(noise[:, None], theta), -theta)[:, 0]
    assert blurred[..., core].std() < 0.8 * noise[..., core].std()
    smooth = sum(torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 40.0)
                 for cx, cy in ((8.0, -5.0), (-6.0, 3.0), (2.0, 10.0)))
    diff = rotate(smooth, theta, "fourier") - rotate(smooth[None], theta)[0]
    assert diff[core].abs().max() < 0.03


def test_fourier_rotation_quarter_turns_are_exact_and_sizes_checked():
    x = torch.rand(3, 16, 16)
    assert_close(rotate(x, 90.0, "fourier"), torch.rot90(x, 1, dims=(-2, -1)))
    assert_close(rotate(x, -180.0, "fourier"), torch.rot90(x, 2, dims=(-2, -1)))
    r = rotate(x, 30.0, "fourier", fill=0.5)
    assert r.dtype == x.dtype and (r[..., 0, 0] == 0.5).all()  # rotated-in corner is fill
    with pytest.raises(ValueError, match="square"):
        rotate(torch.rand(1, 8, 10), 30.0, "fourier")
