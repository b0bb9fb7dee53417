import contextlib
import pickle
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from thetascope.ssl.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from thetascope.ssl.moco import MoCo, SplitBatchNorm2d
from thetascope.ssl.pairs import make_pair, pair_builder
from thetascope.ssl.train import (
    TrainingConfigError,
    TrainSettings,
    pretrain,
    resolve_queue_size,
)


def _tiny(K=8, m=0.99, **kw):
    torch.manual_seed(0)
    return MoCo("resnet18", dim=16, K=K, m=m, T=0.2, split_bn=2, **kw)


def test_queue_size_rules():
    assert resolve_queue_size("auto", 16, 48) == 32
    assert resolve_queue_size(16, 16, 48) == 16
    with pytest.raises(TrainingConfigError, match="not a multiple"):
        resolve_queue_size(20, 16, 100)
    with pytest.raises(TrainingConfigError, match="exceeds the 48 SSP images"):
        resolve_queue_size(64, 16, 48)
    with pytest.raises(TrainingConfigError, match="batch_size=64 exceeds"):
        resolve_queue_size("auto", 64, 48)
    with pytest.raises(TrainingConfigError, match="no MoCo queue fits"):
        resolve_queue_size("auto", 16, 20)


def test_enqueue_wraps_pointer():
    model = _tiny(K=8)
    keys = F.normalize(torch.randn(4, 16), dim=1)
    model._dequeue_and_enqueue(keys)
    assert int(model.queue_ptr) == 4
    assert_close(model.queue[:, :4], keys.T)
    model._dequeue_and_enqueue(keys)
    assert int(model.queue_ptr) == 0


def test_frozen_queue_never_changes():
    model = _tiny(K=8, freeze_queue=True)
    before = model.queue.clone()
    model._dequeue_and_enqueue(F.normalize(torch.randn(4, 16), dim=1))
    assert torch.equal(model.queue, before) and int(model.queue_ptr) == 0


def test_queue_and_pointer_survive_save_load(tmp_path):
    model = _tiny(K=8)
    x = torch.rand(4, 3, 32, 32)
    model.train()
    model(x, x)  # enqueues 4 keys
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, {"theta": 30.0})
    state, meta = load_checkpoint(path)
    fresh = _tiny(K=8)
    fresh.load_state_dict(state)
    assert meta == {"theta": 30.0}
    assert torch.equal(fresh.queue, model.queue)
    assert int(fresh.queue_ptr) == 4
    assert not list(tmp_path.glob("*.tmp-*"))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "thetascope-moco-v1", "state_dict": _Evil()}, path)
    with pytest.raises(CheckpointError, match="not a loadable weights-only checkpoint"):
        load_checkpoint(path)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match="not a thetascope MoCo checkpoint"):
        load_checkpoint(other)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(pickle.dumps([1, 2]) + b"garbage")
    with pytest.raises(ValueError, match=str(junk.name)):
        load_checkpoint(junk)


def test_split_bn_equals_bn_with_one_split_and_differs_with_more():
    torch.manual_seed(0)
    x = torch.randn(8, 4, 5, 5)
    bn, sbn1, sbn2 = torch.nn.BatchNorm2d(4), SplitBatchNorm2d(4, 1), SplitBatchNorm2d(4, 2)
    assert_close(bn(x), sbn1(x))
    y = sbn2(x)
    # group 0 = samples 0, 2, 4, 6 normalised on their own statistics
    g0 = x[0::2]
    ref = (g0 - g0.mean((0, 2, 3), keepdim=True)) / torch.sqrt(
        g0.var((0, 2, 3), unbiased=False, keepdim=True) + 1e-5)
    assert_close(y[0::2], ref, atol=1e-4, rtol=1e-4)
    sbn2.eval()
    assert_close(sbn2(x), torch.nn.functional.batch_norm(
        x, sbn2.running_mean, sbn2.running_var, sbn2.weight, sbn2.bias, False))


@pytest.mark.parametrize("shape", [(8, 6, 5, 7), (4, 3, 1, 1), (6, 5, 4, 4)])
def test_split_bn_channels_last_path_equals_the_nchw_path(shape):
    """The hand-written channels_last kernel: same output, gradients and running
    statistics as torch's batch_norm on the NCHW reshape (float64)."""
    torch.manual_seed(0)
    x = (torch.randn(shape, dtype=torch.float64) * 3 + 1)
    g = torch.randn(shape, dtype=torch.float64)
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        bn = SplitBatchNorm2d(shape[1], 2).double()
        torch.manual_seed(1)
        with torch.no_grad():
            bn.weight.uniform_(0.5, 2)
            bn.bias.uniform_(-1, 1)
        xi = x.clone().contiguous(memory_format=layout).requires_grad_()
        y = bn(xi)
        y.backward(g.contiguous(memory_format=layout))
        results.append((y.detach().contiguous(), xi.grad.contiguous(), bn.weight.grad,
                        bn.bias.grad, bn.running_mean, bn.running_var))
        if layout is torch.channels_last and shape[2] * shape[3] > 1:
            assert y.is_contiguous(memory_format=torch.channels_last)  # no layout change
    for a, b in zip(*results, strict=True):
        assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_split_bn_channels_last_under_bf16_autocast_is_close_to_fp32():
    torch.manual_seed(0)
    x = torch.randn(8, 16, 6, 6).contiguous(memory_format=torch.channels_last)
    bn = SplitBatchNorm2d(16, 2)
    ref = bn(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = SplitBatchNorm2d(16, 2)(x.bfloat16())
    assert y.dtype == torch.bfloat16
    assert_close(y.float(), ref, atol=0.05, rtol=0.02)


def test_every_theta_starts_from_the_same_weights():
    from thetascope.config import ExperimentConfig
    from thetascope.sweep.cell import build_model

    cfg = ExperimentConfig()
    a, b = build_model(cfg, 48, seed=3), build_model(cfg, 48, seed=3)
    c = build_model(cfg, 48, seed=4)
    for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(va, vb), ka
    assert any(not torch.equal(va, vc) for va, vc in
               zip(a.state_dict().values(), c.state_dict().values(), strict=True))


@pytest.mark.slow
def test_ssp_loss_decreases_on_a_phantom():
    from thetascope.data.phantoms import generate

    images, _ = generate("phantom-polyp", count=64, size=32, seed=0)
    x = torch.from_numpy(images)[:, None].repeat(1, 3, 1, 1)
    a, b = make_pair(x, 90.0)
    model = _tiny(K=32)
    with torch.no_grad():
        z0 = model.embed(a)
    pair = pair_builder("fixed-theta", 90.0)
    settings = TrainSettings(steps=60, batch_size=16, lr=0.05, precision="fp32")
    losses = pretrain(model, x, pair, settings, seed=0)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.5, (first, last)
    with torch.no_grad():
        z1 = model.embed(a)
    # random init maps every image to nearly the same point; training spreads them out
    # (0.72 -> 0.46 here; 0.18 when queries were also pushed away from their own image's
    # older keys, before self-negatives were masked)
    off = ~torch.eye(64, dtype=torch.bool)
    assert (z1 @ z1.T)[off].mean() < (z0 @ z0.T)[off].mean() - 0.2
    assert not model.training  # left in eval mode for saliency


def test_pretrain_is_deterministic():
    from thetascope.data.phantoms import generate

    images, _ = generate("phantom-polyp", count=24, size=32, seed=1)
    x = torch.from_numpy(images)[:, None].repeat(1, 3, 1, 1)
    pair = pair_builder("fixed-theta", 45.0)
    settings = TrainSettings(steps=4, batch_size=8, precision="fp32")
    runs = [pretrain(_tiny(K=8), x, pair, settings, seed=0) for _ in range(2)]
    assert runs[0] == runs[1]


def test_pretrain_names_the_fix_when_the_data_is_too_small_for_the_batch_or_queue():
    from thetascope.ssl.stacked import pretrain_stacked
    from thetascope.ssl.train import TrainingConfigError

    x = torch.rand(12, 3, 32, 32)
    pair = pair_builder("fixed-theta", 45.0)
    one_step = TrainSettings(steps=1, batch_size=8, precision="fp32")
    with pytest.raises(TrainingConfigError, match="only 12 images.*ssl.queue_size"):
        pretrain(_tiny(K=16), x, pair, one_step, seed=0)
    with pytest.raises(TrainingConfigError, match="only 12 images"):
        pretrain_stacked([_tiny(K=16), _tiny(K=16)], x, [0.0, 90.0], one_step, seed=0)
    with pytest.raises(TrainingConfigError, match="batch size 16 is larger than the 12"):
        pretrain(_tiny(K=16), x, pair, replace(one_step, batch_size=16, queue_init="random"),
                 seed=0)
    # a random queue needs no image per key
    pretrain(_tiny(K=16), x, pair, replace(one_step, queue_init="random"), seed=0)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("shape,s", [((8, 6, 5, 7), 2), ((4, 3, 1, 1), 2), ((12, 4, 3, 3), 3)])
def test_split_bn_group_major_path_equals_the_interleaved_path(shape, s, layout):
    """torch's BN per dense block of a group-major batch: same output, gradients and
    running statistics as split BN on the original (sample n in group n % s) order."""
    from thetascope.ssl.split_bn import group_major, group_major_order

    torch.manual_seed(0)
    x = (torch.randn(shape, dtype=torch.float64) * 3 + 1).contiguous(memory_format=layout)
    g = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=layout)
    order = group_major_order(shape[0], s)
    assert order.tolist()[: shape[0] // s] == list(range(0, shape[0], s))
    results = []
    for major in (False, True):
        bn = SplitBatchNorm2d(shape[1], s).double()
        with torch.no_grad():
            bn.weight.uniform_(0.5, 2, generator=torch.Generator().manual_seed(1))
            bn.bias.uniform_(-1, 1, generator=torch.Generator().manual_seed(2))
        xi = (x[order] if major else x).clone(memory_format=layout).requires_grad_()
        with group_major(s) if major else contextlib.nullcontext():
            y = bn(xi)
        y.backward((g[order] if major else g).contiguous(memory_format=layout))
        back = torch.argsort(order) if major else slice(None)
        results.append((y.detach()[back], xi.grad[back], bn.weight.grad, bn.bias.grad,
                        bn.running_mean, bn.running_var))
    for a, b in zip(*results, strict=True):
        assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_encoder_runs_channels_last_batches_in_group_major_order():
    """``Encoder`` reorders channels_last training batches so split BN can use torch's
    kernel per group; in float64 that is the plain forward/backward to rounding."""
    torch.manual_seed(0)
    enc = MoCo("resnet18", dim=16, K=8, split_bn=2).encoder_q.double()
    enc = enc.to(memory_format=torch.channels_last).train()
    x = torch.rand(6, 3, 32, 32, dtype=torch.float64).contiguous(
        memory_format=torch.channels_last)
    plain = enc.head(enc.backbone(x))  # no reordering: the interleaved split-BN paths
    plain.square().sum().backward()
    grads = [p.grad.clone() for p in enc.parameters()]
    enc.zero_grad()
    z = enc(x)
    z.square().sum().backward()
    assert_close(z, plain, atol=1e-10, rtol=1e-8)
    for p, g in zip(enc.parameters(), grads, strict=True):
        assert_close(p.grad, g, atol=1e-10, rtol=1e-8)


@pytest.mark.parametrize("cin,cout,hw,stride,k", [(64, 64, 4, 1, 3), (32, 64, 4, 2, 3),
                                                  (32, 64, 4, 2, 1), (16, 16, 2, 1, 3)])
def test_small_conv_matches_conv2d_under_bf16_autocast(cin, cout, hw, stride, k):
    """The im2col matmul path of ``SmallConv2d`` (bf16, channels_last, ≤ 16 output pixels)
    against torch's convolution in float64: no further from it than oneDNN's bf16 conv."""
    from thetascope.ssl.small_conv import SmallConv2d

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
    conv = conv.to(memory_format=torch.channels_last)
    x = torch.randn(8, cin, hw, hw).contiguous(memory_format=torch.channels_last)
    gy = torch.randn(8, cout, (hw - 1) // stride + 1, (hw - 1) // stride + 1)
    xd, wd = x.double().requires_grad_(), conv.weight.detach().double().requires_grad_()
    ref = F.conv2d(xd, wd, stride=stride, padding=k // 2)
    ref.backward(gy.double())
    errs = []
    for cls in (torch.nn.Conv2d, SmallConv2d):
        conv.__class__ = cls
        conv.weight.grad = None
        xi = x.bfloat16().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(xi)
        y.backward(gy.bfloat16().contiguous(memory_format=torch.channels_last))
        assert y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=torch.channels_last)
        assert conv.weight.grad.stride() == conv.weight.stride()
        errs.append([float((a.detach().double() - b.detach()).abs().max() / b.detach().abs().max())
                     for a, b in ((y, ref), (xi.grad, xd.grad), (conv.weight.grad, wd.grad))])
    onednn, small = errs
    for e_small, e_onednn in zip(small, onednn, strict=True):
        assert e_small < max(2.5 * e_onednn, 1e-2)
    with torch.no_grad():  # fp32: plain nn.Conv2d
        assert torch.equal(conv(x), F.conv2d(x, conv.weight, stride=stride, padding=k // 2))


def _cl(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "mixed"])
def test_sgd_is_the_fused_dense_view_kernel_and_updates_like_torchs_loop(layout):
    from thetascope.ssl.optim import DenseSGD, sgd

    torch.manual_seed(0)
    settings = TrainSettings(lr=0.1, momentum=0.9, weight_decay=1e-3, precision="fp32")
    shape = (4, 3, 3, 3)
    first = torch.randn(shape)
    ours = [torch.nn.Parameter(first if layout == "contiguous" else _cl(first)),
            torch.nn.Parameter(torch.randn(5))]
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt = sgd(ours, settings)
    ref_opt = torch.optim.SGD(ref, lr=0.1, momentum=0.9, weight_decay=1e-3, foreach=False)
    assert isinstance(opt, DenseSGD)  # CPU kernel: torch >= 2.4 on this project's pins
    for step in range(4):
        grads = [torch.randn(shape), torch.randn(5)]
        if layout == "channels_last" or (layout == "mixed" and step % 2):
            grads[0] = _cl(grads[0])  # "mixed": layouts differ, the loop formula's path
        for p, q, g in zip(ours, ref, grads, strict=True):
            p.grad, q.grad = g.clone(memory_format=torch.preserve_format), g.clone()
        opt.step()
        ref_opt.step()
        if step == 1:  # lr changes between steps, as the cosine schedule does
            for o in (opt, ref_opt):
                o.param_groups[0]["lr"] = 0.05
    for p, q in zip(ours, ref, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert ours[0].is_contiguous(memory_format=torch.channels_last) == (layout != "contiguous")
    if layout == "channels_last":  # the kernel gets views of the same memory, no copies
        from thetascope.ssl.optim import _views

        buf = opt.state[ours[0]]["momentum_buffer"]
        views = _views([ours[0], ours[0].grad, buf])
        assert all(v.is_contiguous() for v in views)
        assert [v.data_ptr() for v in views] == [ours[0].data_ptr(), ours[0].grad.data_ptr(),
                                                 buf.data_ptr()]
    # its state dict is SGD's: a checkpoint moves between the two classes
    ref_opt.load_state_dict(opt.state_dict())
    torch.testing.assert_close(ref_opt.state[ref[0]]["momentum_buffer"],
                               opt.state[ours[0]]["momentum_buffer"])
