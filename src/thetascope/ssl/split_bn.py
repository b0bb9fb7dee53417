"""Split batch norm: BN training statistics over sub-batches (MoCo's shuffle-BN on one device).

    bn = SplitBatchNorm2d(64, num_splits=2)     # sample n is in group n % 2
    y = bn(x)                                   # x: (N, 64, H, W), N divisible by 2

In NCHW memory the groups are a free reshape, ``(N, C, H, W) -> (N/s, C·s, H, W)``, and
torch's own ``batch_norm`` does the work. In channels_last memory (the bf16 path) that
reshape is a full copy into NCHW and back, and a layout change for the next convolution:
it halved the bf16 speed-up of ResNet-50 (docs/PERFORMANCE.md). ``split_bn_channels_last``
computes the same thing on the channels_last memory directly, viewed as
``(N/s, s, H·W, C)``: per-(group, channel) sums in float32, one fused affine pass forward,
the closed-form BN gradient backward. No library offers batch norm over non-adjacent
reduction axes, hence the hand-written autograd function; ``tests/ssl/test_moco.py`` pins it
to the NCHW path in float64.

Inside ``group_major(s)`` the caller promises that the batch is in group-major order
(group j is the block of samples [j·N/s, (j+1)·N/s), see ``group_major_order``): each
group is then a dense slice in either memory layout, and split BN is torch's own batch
norm kernel run once per group, written into slices of one output. ``Encoder`` reorders
its channels_last batches this way (every other layer is per sample). bf16, batch 16,
forward+backward per call: 8.5 → 4.6 ms at 64×32×32, 2.0 → 1.7 ms at 64×16×16, about
equal at ≤ 8×8 (two small kernel calls instead of one); the hand-written kernel remains
for channels_last calls outside ``group_major``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from thetascope.torch_private import batch_norm_backward_out, batch_norm_train_out, unsafe_view


def _groups(x: torch.Tensor, s: int) -> torch.Tensor:
    """(N, C, H, W) channels_last -> (N/s, s, H·W, C) view of the same memory."""
    n, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(n // s, s, h * w, c)


def _group_sum(t4: torch.Tensor, acc: torch.dtype) -> torch.Tensor:
    """Σ over (N/s, H·W) of a (N/s, s, H·W, C) tensor -> (s, C) in ``acc``. Two staged
    reductions over adjacent axes: 10× faster than one ``sum((0, 2))`` on CPU."""
    m, s, hw, c = t4.shape
    return t4.reshape(m, s * hw, c).sum(0, dtype=acc).view(s, hw, c).sum(1)


def _accumulator(x: torch.Tensor) -> torch.dtype:
    """Statistics in float32 (bf16/fp16/fp32 inputs) or float64 (float64 inputs)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


class _SplitBNChannelsLast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, s: int, eps: float):  # type: ignore[override]
        acc = _accumulator(x)
        x4 = _groups(x, s)
        count = x4.shape[0] * x4.shape[2]
        mean = _group_sum(x4, acc) / count  # (s, C)
        var = (_group_sum(x4 * x4, acc) / count - mean**2).clamp_min_(0)
        invstd = torch.rsqrt(var + eps)
        scale = weight.to(acc) * invstd
        shift = bias.to(acc) - mean * scale
        y = torch.empty_like(x, memory_format=torch.channels_last)  # a base, not a view:
        torch.addcmul(shift[None, :, None].to(x.dtype), x4,  # in-place ReLU may follow
                      scale[None, :, None].to(x.dtype), out=_groups(y, s))
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.s = s
        return y, mean, var

    @staticmethod
    def backward(ctx, gy, _gmean, _gvar):  # type: ignore[override]
        x, weight, mean, invstd = ctx.saved_tensors
        s, acc = ctx.s, _accumulator(x)
        x4, g4 = _groups(x, s), _groups(gy.contiguous(memory_format=torch.channels_last), s)
        count = x4.shape[0] * x4.shape[2]
        sum_g = _group_sum(g4, acc)
        sum_gx = _group_sum(g4 * x4, acc)
        sum_gxhat = invstd * (sum_gx - mean * sum_g)  # Σ g·x̂ per (group, channel)
        a = weight.to(acc) * invstd
        b = -a * invstd * sum_gxhat / count
        c = -a * sum_g / count - b * mean
        # dx = a·(g − mean(g) − x̂·mean(g·x̂)) = a·g + b·x + c, per (group, channel)
        dx = torch.empty_like(x, memory_format=torch.channels_last)
        dx4 = torch.addcmul(c[None, :, None].to(x.dtype), x4, b[None, :, None].to(x.dtype),
                            out=_groups(dx, s))
        dx4.addcmul_(g4, a[None, :, None].to(x.dtype))
        dw = sum_gxhat.sum(0).to(weight.dtype)
        db = sum_g.sum(0).to(weight.dtype)
        return dx, dw, db, None, None


def split_bn_channels_last(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                           num_splits: int, eps: float
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(output, per-group mean, per-group biased variance) of training-mode split BN on a
    channels_last (N, C, H, W) tensor; output in channels_last, statistics (s, C) in float32
    (float64 for float64 input)."""
    return _SplitBNChannelsLast.apply(x, weight, bias, num_splits, eps)


_GROUP_MAJOR: contextvars.ContextVar[int] = contextvars.ContextVar("group_major", default=0)


@contextlib.contextmanager
def group_major(num_splits: int) -> Iterator[None]:
    """Promise that batches reaching ``SplitBatchNorm2d(num_splits)`` in this block are in
    group-major order (``x[group_major_order(n, num_splits)]``)."""
    token = _GROUP_MAJOR.set(num_splits)
    try:
        yield
    finally:
        _GROUP_MAJOR.reset(token)


def group_major_order(n: int, num_splits: int, device: torch.device | None = None
                      ) -> torch.Tensor:
    """Permutation that puts group j (samples i with i % num_splits == j) in block j."""
    return torch.arange(n, device=device).view(n // num_splits, num_splits).t().reshape(-1)


def _layout(x: torch.Tensor) -> torch.memory_format:
    cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if cl else torch.contiguous_format


class _SplitBNGroupMajor(torch.autograd.Function):
    """Training BN of each block of N/s samples with torch's kernels (``native_batch_norm``
    and its backward, ``.out`` variants writing into slices: no copies); ``rm``/``rv``
    (s, C) are per-group running statistics, updated in place."""

    @staticmethod
    def forward(ctx, x, weight, bias, rm, rv, s: int, momentum: float, eps: float
                ):  # type: ignore[override]
        x = x.contiguous(memory_format=_layout(x))
        y = torch.empty_like(x)
        mean = x.new_empty((s, x.shape[1]), dtype=_accumulator(x))
        invstd = torch.empty_like(mean)
        for xj, yj, *stats in zip(x.chunk(s), y.chunk(s), rm.unbind(), rv.unbind(),
                                  mean.unbind(), invstd.unbind(), strict=True):
            batch_norm_train_out(xj, weight, bias, stats[0], stats[1], momentum, eps,
                                 out=yj, save_mean=stats[2], save_invstd=stats[3])
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.s, ctx.eps = s, eps
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy):  # type: ignore[override]
        x, weight, mean, invstd = ctx.saved_tensors
        s = ctx.s
        gy = gy.contiguous(memory_format=_layout(x))
        dx = torch.empty_like(x)
        dw, db = weight.new_empty((s, x.shape[1])), weight.new_empty((s, x.shape[1]))
        mask = [True, ctx.needs_input_grad[1], ctx.needs_input_grad[2]]
        for gj, xj, dxj, mj, ij, dwj, dbj in zip(
                gy.chunk(s), x.chunk(s), dx.chunk(s), mean.unbind(), invstd.unbind(),
                dw.unbind(), db.unbind(), strict=True):
            batch_norm_backward_out(gj, xj, weight, mj, ij, ctx.eps, mask, dxj, dwj, dbj)
        return (dx, dw.sum(0) if mask[1] else None, db.sum(0) if mask[2] else None,
                None, None, None, None, None)


class SplitBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are computed over ``num_splits`` sub-batches.

    Sample ``n`` belongs to group ``n % num_splits``. Running statistics are the mean over
    groups. In eval mode it is an ordinary BatchNorm2d (so checkpoints are plain).
    """

    def __init__(self, num_features: int, num_splits: int = 1, **kw) -> None:
        super().__init__(num_features, **kw)
        self.num_splits = num_splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        s = self.num_splits
        if not self.training or s == 1 or n % s != 0:
            return super().forward(x)
        momentum = self.momentum if self.momentum is not None else 0.1
        if (major := _GROUP_MAJOR.get()) > 1:
            if major != s:
                raise ValueError(f"batch in group-major order for {major} splits reached a "
                                 f"SplitBatchNorm2d with {s}")
            rm, rv = self.running_mean.repeat(s, 1), self.running_var.repeat(s, 1)
            out = _SplitBNGroupMajor.apply(x, self.weight, self.bias, rm, rv, s, momentum,
                                           self.eps)
            self._average_group_stats(rm, rv)
            return out
        if h * w > 1 and x.is_contiguous(memory_format=torch.channels_last) \
                and not x.is_contiguous():
            out, mean, var = split_bn_channels_last(x, self.weight, self.bias, s, self.eps)
            count = n // s * h * w
            with torch.no_grad():
                unbiased = var * (count / max(count - 1, 1))
                self.running_mean.mul_(1 - momentum).add_(mean.mean(0), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.mean(0), alpha=momentum)
                self.num_batches_tracked += 1
            return out
        rm, rv = self.running_mean.repeat(s), self.running_var.repeat(s)
        out = F.batch_norm(
            x.reshape(n // s, c * s, h, w), rm, rv, self.weight.repeat(s), self.bias.repeat(s),
            True, momentum, self.eps,
        )
        # not ``.reshape``: a view would make the in-place ReLU / ``+= identity`` that follow
        # every ResNet BN go through autograd's CopySlices, two full copies of the gradient
        # per BN in backward (ResNet-50 128 px fp32: 6 % of the step)
        out = unsafe_view(out, (n, c, h, w))
        self._average_group_stats(rm, rv)
        return out

    @torch.no_grad()
    def _average_group_stats(self, rm: torch.Tensor, rv: torch.Tensor) -> None:
        """Running statistics := the mean of the groups' running statistics (``rm``/``rv``
        hold s·C values, group-major), averaged straight into the buffers."""
        s = self.num_splits
        torch.mean(rm.view(s, -1), 0, out=self.running_mean)
        torch.mean(rv.view(s, -1), 0, out=self.running_var)
        self.num_batches_tracked += 1
