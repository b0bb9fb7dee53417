"""Every encoder: embedding and saliency paths on a tiny input; SimCLR's NT-Xent."""

import pytest
import torch
import torch.nn.functional as F

from thetascope.attribution.smoothgrad import SmoothGradSettings, smoothgrad_pair
from thetascope.attribution.targets import pair_cosine
from thetascope.ssl.backbones import create_backbone
from thetascope.ssl.encoders import BUILTIN_ENCODERS
from thetascope.ssl.moco import MoCo
from thetascope.ssl.pairs import make_pair, pair_builder
from thetascope.ssl.simclr import SimCLR
from thetascope.ssl.train import TrainSettings, pretrain


@pytest.mark.parametrize("name", BUILTIN_ENCODERS)
@pytest.mark.parametrize("channels", [3, 1])
def test_encoder_embeds_and_explains(name, channels):
    torch.manual_seed(0)
    model = MoCo(name, dim=8, K=4, in_channels=channels, image_size=32).eval()
    x = torch.rand(2, channels, 32, 32)
    z = model.embed(x)
    assert z.shape == (2, 8)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(2))
    a, b = make_pair(x, 90.0)
    mx, mr = smoothgrad_pair(pair_cosine(model.embed), a, b,
                             SmoothGradSettings(samples=2, chunk_size=2, precision="fp32"))
    assert mx.shape == (2, 32, 32) and mx.sum() > 0 and mr.sum() > 0


def test_unknown_encoder_and_bad_vit_size():
    with pytest.raises(ValueError, match="unknown encoder"):
        create_backbone("alexnet")
    with pytest.raises(ValueError, match="divisible by 16"):
        create_backbone("vit_b_16", image_size=40)


def test_simclr_nt_xent_matches_hand_computation():
    torch.manual_seed(0)
    model = SimCLR("resnet18", dim=8, T=0.5).eval()
    a, b = torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    logits, labels = model(a, b)
    assert logits.shape == (6, 6) and labels.tolist() == [3, 4, 5, 0, 1, 2]
    z = torch.cat([model.embed(a), model.embed(b)])
    sim = z @ z.T / 0.5
    expected = 0.0
    for i in range(6):
        j = (i + 3) % 6
        others = torch.cat([sim[i, :i], sim[i, i + 1:]])
        expected += -(sim[i, j] - torch.logsumexp(others, 0))
    torch.testing.assert_close(F.cross_entropy(logits, labels), expected / 6, atol=1e-5,
                               rtol=1e-5)


def test_simclr_trains():
    from thetascope.data.phantoms import generate

    images, _ = generate("phantom-polyp", count=32, size=32, seed=0)
    x = torch.from_numpy(images)[:, None].repeat(1, 3, 1, 1)
    torch.manual_seed(0)
    model = SimCLR("resnet18", dim=16, T=0.2)
    pair = pair_builder("fixed-theta", 90.0)
    losses = pretrain(model, x, pair, TrainSettings(steps=30, batch_size=16, lr=0.05,
                                                    precision="fp32"), seed=0)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3
