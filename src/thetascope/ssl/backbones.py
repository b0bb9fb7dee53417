"""Backbone factory: torchvision encoders with their classifier removed.

    net, feat_dim = create_backbone("resnet18")                       # random init
    net(torch.rand(2, 3, 64, 64)).shape                               # (2, 512)
    net, d = create_backbone("vit_b_16", image_size=64, in_channels=1)
    net, d = create_backbone("convnext_tiny")                         # d = 768

Weights start random: no ImageNet weights can be downloaded here (DATA.md); load a
user's checkpoint with ``thetascope.ssl.checkpoints.load_backbone_weights``.
``norm_layer`` (ResNets only) lets MoCo use split batch norm; ConvNeXt and ViT use layer
norm, which needs no shuffle-BN substitute.

ResNet convolutions become ``SmallConv2d`` (``ssl/small_conv.py``): same parameters and
state dict, faster bf16 convolutions on tiny maps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
from torchvision import models

from thetascope.ssl.small_conv import small_convs
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
        return small_convs(net), feat
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
