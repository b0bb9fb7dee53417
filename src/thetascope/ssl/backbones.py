"""Backbone factory: torchvision encoders with their classifier removed.

    net, feat_dim = create_backbone("resnet18")                       # random init
    net(torch.rand(2, 3, 64, 64)).shape                               # (2, 512)
    net, d = create_backbone("vit_b_16", image_size=64, in_channels=1)
    net, d = create_backbone("convnext_tiny")                         # d = 768

Weights start random: no ImageNet weights can be downloaded here (DATA.md); load a
user's checkpoint with ``thetascope.ssl.checkpoints.load_backbone_weights``.
``norm_layer`` (ResNets only) lets MoCo use split batch norm; ConvNeXt and ViT use layer
norm, which needs no shuffle-BN substitute.

ResNet convolutions are ``SmallConv2d``: a plain ``nn.Conv2d`` (same parameters, same
state dict) that computes bf16 channels_last convolutions with ≤ 16 output pixels per
image (the last stages at 64–128 px) as one im2col matmul. oneDNN's backward for these
shapes ran at ~40 GFLOP/s, 3–5× slower than the matmul (ResNet-18 64 px bf16: 512×512
3×3 on 2×2 maps, 21 ms vs 5 ms forward+backward); every other case is ``nn.Conv2d``'s.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import models

from thetascope.ssl.split_bn import SplitBatchNorm2d, group_major, group_major_order

RESNETS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": models.resnet18,
    "resnet34": models.resnet34,
    "resnet50": models.resnet50,
}
ENCODERS = (*RESNETS, "convnext_tiny", "vit_b_16")


def first_conv_name(name: str) -> str:
    """State-dict prefix of the input convolution (for stem adaptation)."""
    if name in RESNETS:
        return "conv1"
    if name == "convnext_tiny":
        return "features.0.0"
    if name == "vit_b_16":
        return "conv_proj"
    raise ValueError(f"unknown encoder {name!r}; choose one of {list(ENCODERS)}")


def _replace_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                     conv.padding, bias=conv.bias is not None)


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


def _small_convs(net: nn.Module) -> nn.Module:
    """Make every plain ``nn.Conv2d`` of ``net`` a ``SmallConv2d`` in place (a class swap:
    same parameters, no re-initialisation, so seeded weights are unchanged)."""
    for m in net.modules():
        if type(m) is nn.Conv2d:
            m.__class__ = SmallConv2d
    return net


def create_backbone(
    name: str,
    norm_layer: Callable[[int], nn.Module] | None = None,
    in_channels: int = 3,
    image_size: int = 224,
) -> tuple[nn.Module, int]:
    """Return (module mapping (N, C, H, W) to (N, D) features, D)."""
    if name in RESNETS:
        net = RESNETS[name](weights=None, norm_layer=norm_layer)
        feat = net.fc.in_features
        net.fc = nn.Identity()
        if in_channels != 3:
            net.conv1 = _replace_conv(net.conv1, in_channels)
        return _small_convs(net), feat
    if name == "convnext_tiny":
        net = models.convnext_tiny(weights=None)
        feat = net.classifier[2].in_features
        net.classifier[2] = nn.Identity()
        if in_channels != 3:
            net.features[0][0] = _replace_conv(net.features[0][0], in_channels)
        return net, feat
    if name == "vit_b_16":
        if image_size % 16:
            raise ValueError(f"vit_b_16 needs data.image_size divisible by 16, got {image_size}")
        net = models.vit_b_16(weights=None, image_size=image_size)
        feat = net.heads.head.in_features
        net.heads = nn.Identity()
        if in_channels != 3:
            net.conv_proj = _replace_conv(net.conv_proj, in_channels)
        return net, feat
    raise ValueError(f"unknown encoder {name!r}; choose one of {list(ENCODERS)}")


class Encoder(nn.Module):
    """Backbone followed by the projection head (MLP in MoCo v2 and SimCLR)."""

    def __init__(self, name: str, dim: int, mlp: bool = True,
                 norm_layer: Callable[[int], nn.Module] | None = None,
                 in_channels: int = 3, image_size: int = 224) -> None:
        super().__init__()
        self.backbone, feat = create_backbone(name, norm_layer, in_channels, image_size)
        if mlp:
            self.head = nn.Sequential(nn.Linear(feat, feat), nn.ReLU(), nn.Linear(feat, dim))
        else:
            self.head = nn.Linear(feat, dim)
        self.num_splits = max((m.num_splits for m in self.modules()
                               if isinstance(m, SplitBatchNorm2d)), default=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, s = x.shape[0], self.num_splits
        if (self.training and s > 1 and n % s == 0 and n > s
                and x.dim() == 4 and not x.is_contiguous()
                and x.is_contiguous(memory_format=torch.channels_last)):
            # channels_last split BN: run the batch in group-major order, where each split
            # is a dense block and torch's BN kernel does the work (split_bn.py); every
            # other layer is per sample, so this computes the same thing
            order = group_major_order(n, s, x.device)
            with group_major(s):
                z = self.head(self.backbone(
                    x[order].contiguous(memory_format=torch.channels_last)))
            return z[torch.argsort(order)]
        return self.head(self.backbone(x))
