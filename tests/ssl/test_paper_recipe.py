"""The paper config's pre-training matches the reference notebook: rotate-then-crop views,
its augmentation, a random frozen queue; and a probe run needs an augmentation."""

import pytest
import torch
from torchvision.transforms import v2

from thetascope.config import ConfigError, load_config
from thetascope.ssl.augment import REFERENCE, _reference
from thetascope.ssl.pairs import inscribed_crop, inscribed_side, make_pair, pair_builder

ANGLES = [1.0, 17.0, 30.0, 45.0, 90.0, 135.0, 200.0, 315.0, 359.0]


@pytest.mark.parametrize("size", [32, 64, 65, 240])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_no_view_pixel_is_fill_when_rotating_then_cropping(size, interpolation):
    """Images of ones, fill 0, no circle mask: any fill blended into a view pulls a pixel
    below 1. With the crop after the rotation no pixel of either view is fill, corners
    included; without it the rotated view's corners are."""
    ones = torch.ones(len(ANGLES), 3, size, size)
    for theta in ANGLES:
        a, b = make_pair(ones, theta, interpolation, fill=0.0, circle=False, crop=True)
        side = inscribed_side(size)
        assert a.shape[-2:] == b.shape[-2:] == (side, side)
        assert torch.all(a == 1) and torch.all((b - 1).abs() < 1e-5), (theta, b.min())
        _, uncut = make_pair(ones, theta, interpolation, fill=0.0, circle=False)
        if 10 <= theta % 90 <= 80:
            assert uncut[..., 0, 0].max() < 1  # the corner the crop removes


def test_inscribed_crop_is_the_notebooks_362_of_512_and_centred():
    assert inscribed_side(512) == 362 and inscribed_side(240) == 168
    x = torch.arange(512.0)[None, :].expand(512, 512)
    cut = inscribed_crop(x)
    assert cut[0, 0] == 75 and cut.shape == (362, 362)  # the notebook's crop at (75, 75)
    masks = torch.zeros(2, 240, 240, dtype=torch.bool).numpy()  # arrays are cut alike
    assert inscribed_crop(masks).shape == (2, 168, 168)


def test_both_protocols_crop_after_augmenting_and_rotating():
    ones = torch.ones(4, 3, 64, 64)
    torch.manual_seed(0)
    for protocol in ("fixed-theta", "probe"):
        pair = pair_builder(protocol, 30.0, "none" if protocol == "fixed-theta" else
                            "reference", 64, "bilinear", 0.0, circle=False, crop=True)
        a, b = pair(ones)
        assert a.shape == b.shape == (4, 3, 44, 44)


def test_reference_augmentation_is_the_notebooks_transform():
    t = _reference(64).transforms
    blur, hflip, vflip, rot, affine = t
    assert isinstance(blur, v2.RandomApply) and blur.p == 0.5
    assert blur.transforms[0].sigma == [0.1, 5.0]
    assert (hflip.p, vflip.p) == (0.15, 0.15)
    assert rot.p == 0.3 and list(rot.transforms[0].degrees) == [-360.0, 360.0]
    assert isinstance(affine, v2.RandomApply) and affine.p == 0.3
    aff = affine.transforms[0]
    assert tuple(aff.translate) == REFERENCE["translate"] == (0.2, 0.2)
    assert tuple(aff.scale) == REFERENCE["scale"] == (0.8, 1.2)
    assert list(aff.shear) == [-10.0, 10.0] and list(aff.degrees) == [0.0, 0.0]


def test_probe_without_augmentation_is_refused_naming_the_recipes():
    with pytest.raises(ConfigError, match="ssl.augment=reference.*ssl.augment=mocov2"):
        load_config("smoke", ["sweep.protocol=probe"])
    assert load_config("smoke", ["sweep.protocol=probe", "ssl.augment=mocov2"])
    with pytest.raises(ConfigError, match="rotate_then_crop.*'vit_b_16' is built for that size"):
        load_config("smoke", ["geometry.rotate_then_crop=true", "ssl.encoder=vit_b_16"])


def test_paper_config_rotates_then_crops_and_freezes_a_random_queue(tmp_path):
    from data_layouts import brats_2020, kvasir, lung_paper

    cfg = load_config("paper", [
        f"data.datasets.0.root={brats_2020(tmp_path / 'brats', numbers=(1, 2))}",
        f"data.datasets.1.root={lung_paper(tmp_path / 'lung', n=2)}",
        f"data.datasets.2.root={kvasir(tmp_path / 'kvasir', n=2, renamed=True)}"])
    assert cfg.geometry.rotate_then_crop and not cfg.geometry.circle_mask
    assert [d.crop for d in cfg.data.datasets] == [None, "square", "square"]
    assert cfg.ssl.freeze_queue and cfg.ssl.queue_init == "random"
    assert cfg.ssl.augment == "reference" and cfg.sweep.protocol == "probe"
