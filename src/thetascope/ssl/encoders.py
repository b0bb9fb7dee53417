"""The built-in encoders: torchvision backbones with their classifier removed, registered
through ``register_encoder`` exactly as a user's encoder would be.

    get_encoder("resnet18").create(in_channels=1, image_size=64)   # (N, 1, 64, 64) -> (N, 512)
    get_encoder("vit_b_16").check_input(image_size=40)             # ValueError: divisible by 16

Weights start random: no ImageNet weights can be downloaded here (DATA.md); load a
user's checkpoint with ``thetascope.ssl.checkpoints.load_backbone_weights``. ResNets take
``norm_layer`` (MoCo's split batch norm) and their convolutions become ``SmallConv2d``
(``ssl/small_conv.py``: same parameters and state dict, faster bf16 convolutions on tiny
maps); ConvNeXt and ViT use layer norm, which needs no shuffle-BN substitute.

Spatial features for downstream (``EncoderSpec.stage_forward``): ResNet ``layer<k>``,
ConvNeXt stage k, ViT's last-layer patch tokens (every layer gives those).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
from torchvision import models

from thetascope.ssl.registry import register_encoder
from thetascope.ssl.small_conv import small_convs
from thetascope.torch_private import vit_process_input

BUILTIN_ENCODERS = ("resnet18", "resnet34", "resnet50", "convnext_tiny", "vit_b_16")
STAGES = (1, 2, 3, 4)


def replace_input_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A fresh convolution like ``conv`` reading ``in_channels`` channels (grayscale stems)."""
    return nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                     conv.padding, bias=conv.bias is not None)


# --------------------------------------------------------------------------- ResNets
def resnet_stages(m: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))  # type: ignore[operator]
    for k in range(1, layer + 1):
        x = getattr(m, f"layer{k}")(x)
    return x


def _resnet(make: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    def factory(in_channels: int, image_size: int,
                norm_layer: Callable[[int], nn.Module] | None = None) -> nn.Module:
        net = make(weights=None, norm_layer=norm_layer)
        net.fc = nn.Identity()
        if in_channels != 3:
            net.conv1 = replace_input_conv(net.conv1, in_channels)
        return small_convs(net)
    return factory


for _name, _make, _dim in (("resnet18", models.resnet18, 512),
                           ("resnet34", models.resnet34, 512),
                           ("resnet50", models.resnet50, 2048)):
    register_encoder(_name, _resnet(_make), feature_dim=_dim, stage_forward=resnet_stages,
                     layers=STAGES, first_conv="conv1", theta_fusion=True, norm_layer=True,
                     description=f"torchvision {_name}, classifier removed")


# --------------------------------------------------------------------------- ConvNeXt
def convnext_stages(m: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
    return m.features[: 2 * layer](x)  # type: ignore[index]


@register_encoder("convnext_tiny", feature_dim=768, stage_forward=convnext_stages,
                  layers=STAGES, first_conv="features.0.0",
                  description="torchvision convnext_tiny, classifier removed")
def convnext_tiny(in_channels: int, image_size: int) -> nn.Module:
    net = models.convnext_tiny(weights=None)
    net.classifier[2] = nn.Identity()
    if in_channels != 3:
        net.features[0][0] = replace_input_conv(net.features[0][0], in_channels)
    return net


# --------------------------------------------------------------------------- ViT
def vit_patch_tokens(m: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
    """The last layer's patch tokens as an (N, 768, H/16, W/16) map (``layer`` ignored)."""
    tok = m.encoder(torch.cat([m.class_token.expand(x.shape[0], -1, -1),  # type: ignore[union-attr]
                               vit_process_input(m, x)], dim=1))
    side = int(round((tok.shape[1] - 1) ** 0.5))
    return tok[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, side, side)


@register_encoder("vit_b_16", feature_dim=768, stage_forward=vit_patch_tokens, layers=STAGES,
                  first_conv="conv_proj", image_size_multiple=16, fixed_image_size=True,
                  description="torchvision vit_b_16 built for data.image_size, head removed")
def vit_b_16(in_channels: int, image_size: int) -> nn.Module:
    net = models.vit_b_16(weights=None, image_size=image_size)
    net.heads = nn.Identity()
    if in_channels != 3:
        net.conv_proj = replace_input_conv(net.conv_proj, in_channels)
    return net
