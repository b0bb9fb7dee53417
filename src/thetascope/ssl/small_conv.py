"""``SmallConv2d``: an ``nn.Conv2d`` whose bf16 convolutions on tiny maps are one matmul.

    net = small_convs(torchvision.models.resnet18())   # class swap, weights unchanged
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x.contiguous(memory_format=torch.channels_last))

A ``SmallConv2d`` is a plain ``nn.Conv2d`` (same parameters, same
state dict) that computes bf16 channels_last convolutions with ≤ 16 output pixels per
image (the last stages at 64–128 px) as one im2col matmul. oneDNN's backward for these
shapes ran at ~40 GFLOP/s, 3–5× slower than the matmul (ResNet-18 64 px bf16: 512×512
3×3 on 2×2 maps, 21 ms vs 5 ms forward+backward); every other case is ``nn.Conv2d``'s.
No library offers this path (oneDNN picks its own kernels), hence the hand-written
autograd function; ``tests/ssl/test_moco.py`` pins its error against a float64 convolution to
no more than oneDNN's own bf16 convolution's.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SMALL_CONV_MAX_PIXELS = 16  # output pixels per image; at 8×8 oneDNN is as fast


def _im2col(x: torch.Tensor, k: int, s: int, p: int) -> tuple[torch.Tensor, int, int]:
    """channels_last (N, C, H, W) -> (N·OH·OW, k·k·C) patches, columns in (kh, kw, c) order
    (the memory order of a channels_last weight)."""
    n, c, h, w = x.shape
    xp = (F.pad(x, (p, p, p, p)) if p else x).permute(0, 2, 3, 1)
    xp = xp.contiguous()  # (N, Hp, Wp, C); a no-op for channels_last input
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    st = xp.stride()
    patches = xp.as_strided((n, oh, ow, k, k, c),
                            (st[0], s * st[1], s * st[2], st[1], st[2], 1))
    return patches.reshape(n * oh * ow, k * k * c), oh, ow


class _GemmConv(torch.autograd.Function):
    """Convolution (no bias, groups 1, square kernel/stride/padding) as one matmul in the
    dtype of ``x``; ``w`` is the parameter itself (any layout, any float dtype): the cast
    to (O, kh, kw, C) in ``x``'s dtype is one pass, and so is the gradient's way back."""

    @staticmethod
    def forward(ctx, x, w, s: int, p: int):  # type: ignore[override]
        n, c, h, wd = x.shape
        o, k = w.shape[0], w.shape[2]
        cols, oh, ow = _im2col(x, k, s, p)
        wm = x.new_empty((o, k, k, c))
        wm.copy_(w.detach().permute(0, 2, 3, 1))
        wm = wm.view(o, k * k * c)
        y = (cols @ wm.t()).view(n, oh, ow, o).permute(0, 3, 1, 2)  # channels_last
        ctx.save_for_backward(cols, wm, w)
        ctx.meta = (n, c, h, wd, k, s, p, oh, ow)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):  # type: ignore[override]
        cols, wm, w = ctx.saved_tensors
        n, c, h, wd, k, s, p, oh, ow = ctx.meta
        o = wm.shape[0]
        gm = g.permute(0, 2, 3, 1).reshape(n * oh * ow, o)
        gx = gw = None
        if ctx.needs_input_grad[1]:
            gw = torch.empty_like(w)  # the parameter's dtype and layout
            gw.permute(0, 2, 3, 1).copy_((gm.t() @ cols).view(o, k, k, c))
        if ctx.needs_input_grad[0]:
            gc = (gm @ wm).view(n, oh, ow, k, k, c)
            # col2im: the k·k taps summed in float32, rounded once
            acc = torch.float32 if k > 1 else gc.dtype
            gp = torch.zeros(n, h + 2 * p, wd + 2 * p, c, dtype=acc, device=gc.device)
            eh, ew = s * (oh - 1) + 1, s * (ow - 1) + 1
            for i in range(k):
                for j in range(k):
                    gp[:, i:i + eh:s, j:j + ew:s].add_(gc[:, :, :, i, j])
            gx = gp[:, p:p + h, p:p + wd].to(gc.dtype).contiguous().permute(0, 3, 1, 2)
        return gx, gw, None, None


class SmallConv2d(nn.Conv2d):
    """``nn.Conv2d`` that runs bf16 channels_last convolutions with few output pixels as an
    im2col matmul (see the module docstring); numerically a bf16 convolution with float32
    accumulation, like oneDNN's."""

    def _gemm_ok(self, x: torch.Tensor) -> bool:
        k, s, p = self.kernel_size, self.stride, self.padding
        if (self.bias is not None or self.groups != 1 or self.dilation != (1, 1)
                or self.padding_mode != "zeros" or isinstance(p, str) or x.dim() != 4
                or k[0] != k[1] or s[0] != s[1] or p[0] != p[1] or x.device.type != "cpu"):
            return False
        dt = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        if dt != torch.bfloat16 or x.is_contiguous() \
                or not x.is_contiguous(memory_format=torch.channels_last):
            return False
        oh = (x.shape[2] + 2 * p[0] - k[0]) // s[0] + 1
        ow = (x.shape[3] + 2 * p[0] - k[0]) // s[0] + 1
        return oh * ow <= SMALL_CONV_MAX_PIXELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._gemm_ok(x):
            return super().forward(x)
        return _GemmConv.apply(x.to(torch.bfloat16), self.weight, self.stride[0],
                               self.padding[0])


def small_convs(net: nn.Module) -> nn.Module:
    """Make every plain ``nn.Conv2d`` of ``net`` a ``SmallConv2d`` in place (a class swap:
    same parameters, no re-initialisation, so seeded weights are unchanged)."""
    for m in net.modules():
        if type(m) is nn.Conv2d:
            m.__class__ = SmallConv2d
    return net
