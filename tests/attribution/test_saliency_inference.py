"""The BN-folded encoder saliency differentiates computes model.embed and its input gradients."""

import torch
import torch.nn as nn

from thetascope.attribution.inference import SaliencyEncoder, fold_batch_norms
from thetascope.attribution.smoothgrad import GuidedReLU, guided_relus
from thetascope.attribution.targets import pair_cosine
from thetascope.ssl.moco import MoCo, SplitBatchNorm2d


def _moco(encoder: str = "resnet18") -> MoCo:
    """A float64 MoCo with split BN whose BN statistics and affines are far from identity."""
    torch.manual_seed(0)
    model = MoCo(encoder, dim=16, K=16, split_bn=2).double().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.3, 3.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return model


def _input_grads(embed, x, r):
    x, r = x.clone().requires_grad_(True), r.clone().requires_grad_(True)
    return torch.autograd.grad(pair_cosine(embed)(x, r).sum(), [x, r])


def test_folded_encoder_has_no_bn_and_equals_embed_with_input_gradients():
    model = _moco()
    net = SaliencyEncoder(model.encoder_q)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    x, r = torch.rand(3, 3, 32, 32, dtype=torch.float64), torch.rand(3, 3, 32, 32,
                                                                      dtype=torch.float64)
    torch.testing.assert_close(net(x), model.embed(x), rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(_input_grads(net, x, r), _input_grads(model.embed, x, r),
                            strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-14)


def test_the_model_itself_is_untouched_and_shares_only_unfolded_modules():
    model = _moco()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layouts = {k: v.is_contiguous() for k, v in model.state_dict().items()}
    net = SaliencyEncoder(model.encoder_q, channels_last=True)
    with guided_relus(net):
        pass
    assert not model.training
    assert sum(isinstance(m, SplitBatchNorm2d) for m in model.encoder_q.modules()) == 20
    assert all(type(m) is not GuidedReLU for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]) and v.is_contiguous() == layouts[k], k
    # only the fused convolutions hold new tensors: the head's are the model's own
    assert net.net.get_submodule("head.0").weight is model.encoder_q.head[0].weight
    assert net.net.get_submodule("backbone.conv1").weight is not \
        model.encoder_q.backbone.conv1.weight


def test_the_folded_weights_die_with_the_encoder_without_a_garbage_collection():
    import gc
    import weakref

    model = _moco()
    gc.disable()
    try:
        net = SaliencyEncoder(model.encoder_q)
        weight = weakref.ref(net.net.get_submodule("backbone.conv1").weight)
        del net
        assert weight() is None  # no reference cycle keeps 45 MB per cell alive
    finally:
        gc.enable()


def test_folding_a_model_in_training_mode_names_the_fix():
    import pytest

    with pytest.raises(ValueError, match=r"net.eval\(\)"):
        fold_batch_norms(_moco().train().encoder_q)


def test_resnet50_bottlenecks_and_downsampling_fold():
    model = _moco("resnet50")
    net = SaliencyEncoder(model.encoder_q)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    torch.testing.assert_close(net(x), model.embed(x), rtol=1e-10, atol=1e-12)


def test_guided_backprop_swaps_the_folded_relus_and_matches_the_model():
    model = _moco()
    net = SaliencyEncoder(model.encoder_q)
    x, r = torch.rand(2, 3, 32, 32, dtype=torch.float64), torch.rand(2, 3, 32, 32,
                                                                      dtype=torch.float64)
    with guided_relus(net):
        assert any(isinstance(m, GuidedReLU) for m in net.modules())
        ours = _input_grads(net, x, r)
    with guided_relus(model):
        theirs = _input_grads(model.embed, x, r)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-14)
    plain = _input_grads(net, x, r)
    assert not torch.allclose(plain[0], ours[0])  # the swap was undone and mattered


def test_channels_last_folding_computes_the_same():
    model = _moco()
    net = SaliencyEncoder(model.encoder_q, channels_last=True)
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    torch.testing.assert_close(net(x), model.embed(x), rtol=1e-10, atol=1e-12)


class _ConvUsedTwice(nn.Module):
    """conv → BN, but the convolution's output is also used on its own: not foldable."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return (self.bn(y) + y).flatten(1)


def test_a_convolution_with_other_users_keeps_its_bn():
    torch.manual_seed(0)
    m = _ConvUsedTwice().double().eval()
    m.bn.running_var.fill_(4.0)
    folded = fold_batch_norms(m)
    assert any(isinstance(x, nn.BatchNorm2d) for x in folded.modules())
    x = torch.rand(2, 2, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(folded(x), m(x))


def test_an_encoder_without_bn_is_used_as_it_is():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
    assert fold_batch_norms(m) is m
