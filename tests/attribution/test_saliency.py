import torch
import torch.nn as nn
from torch.testing import assert_close

from thetascope.attribution.smoothgrad import (
    GuidedReLU,
    SmoothGradSettings,
    guided_relus,
    smoothgrad_pair,
)
from thetascope.attribution.targets import create_target, pair_cosine


class PatchEmbed(nn.Module):
    """Looks only at the top-left 4×4 patch: saliency must live there."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(3 * 16, 8)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.lin(x[..., :4, :4].flatten(1))) + 0.1


def _xr():
    torch.manual_seed(1)
    return torch.rand(3, 3, 12, 12) + 0.1, torch.rand(3, 3, 12, 12) + 0.1


def test_saliency_is_where_the_model_looks():
    x, r = _xr()
    target = pair_cosine(PatchEmbed())
    mx, mr = smoothgrad_pair(target, x, r, SmoothGradSettings(samples=4, noise_level=0.1,
                                                              precision="fp32"))
    assert mx.shape == (3, 12, 12) and mr.shape == (3, 12, 12)
    assert (mx >= 0).all() and (mr >= 0).all()
    assert mx[:, 4:, :].abs().max() == 0 and mx[:, :, 4:].abs().max() == 0
    assert mx[:, :4, :4].sum() > 0 and mr[:, :4, :4].sum() > 0


def test_maps_do_not_depend_on_chunk_size():
    x, r = _xr()
    target = pair_cosine(PatchEmbed())
    a = smoothgrad_pair(target, x, r, SmoothGradSettings(samples=5, chunk_size=1,
                                                         precision="fp32"), seed=3)
    b = smoothgrad_pair(target, x, r, SmoothGradSettings(samples=5, chunk_size=7,
                                                         precision="fp32"), seed=3)
    assert_close(a[0], b[0])
    assert_close(a[1], b[1])


def test_zero_noise_single_sample_is_plain_gradient_times_input():
    x, r = _xr()
    model = PatchEmbed()
    target = pair_cosine(model)
    mx, _ = smoothgrad_pair(target, x, r, SmoothGradSettings(samples=1, noise_level=0.0,
                                                             precision="fp32"))
    xg = x.clone().requires_grad_(True)
    target(xg, r).sum().backward()
    assert_close(mx, (xg.grad * x).abs().amax(1))


def test_noise_seed_changes_maps_and_shared_noise_option_runs():
    x, r = _xr()
    target = pair_cosine(PatchEmbed())
    s = SmoothGradSettings(samples=2, noise_level=0.5, precision="fp32")
    a = smoothgrad_pair(target, x, r, s, seed=0)[0]
    b = smoothgrad_pair(target, x, r, s, seed=1)[0]
    assert not torch.equal(a, b)
    shared = SmoothGradSettings(samples=2, noise_level=0.5, noise_pairing="shared",
                                precision="fp32")
    assert smoothgrad_pair(target, x, r, shared, seed=0)[0].shape == a.shape


def test_guided_relus_swap_and_restore():
    model = PatchEmbed()
    with guided_relus(model):
        assert isinstance(model.relu, GuidedReLU)
        x = torch.randn(2, 3, 6, 6, requires_grad=True)
        GuidedReLU()(x).sum().backward()
        assert (x.grad >= 0).all()
    assert isinstance(model.relu, nn.ReLU)


def test_blur_and_mean_reduce_options():
    x, r = _xr()
    target = pair_cosine(PatchEmbed())
    s = SmoothGradSettings(samples=1, noise_level=0.0, blur_sigma=1.0, blur_kernel=5,
                           channel_reduce="mean", map="grad", precision="fp32")
    mx, _ = smoothgrad_pair(target, x, r, s)
    assert mx[:, 5, 5].sum() > 0  # the 5×5 blur spreads saliency 2 px beyond the patch
    assert mx[:, 8, 8].sum() == 0


def test_unknown_target_named():
    import pytest

    with pytest.raises(ValueError, match="unknown saliency target"):
        create_target("logit", lambda t: t)
