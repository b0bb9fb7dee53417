"""Backbone factory: torchvision encoders with their classifier removed.

    net, feat_dim = create_backbone("resnet18", norm_layer=None)   # random init
    net(torch.rand(2, 3, 64, 64)).shape                            # (2, 512)

Weights are randomly initialised: no ImageNet weights can be downloaded here (DATA.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn
from torchvision import models

BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": models.resnet18,
    "resnet34": models.resnet34,
    "resnet50": models.resnet50,
}


def create_backbone(
    name: str, norm_layer: Callable[[int], nn.Module] | None = None
) -> tuple[nn.Module, int]:
    """Return (module mapping (N, 3, H, W) to (N, D) features, D)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown encoder {name!r}; choose one of {sorted(BACKBONES)}")
    net = BACKBONES[name](weights=None, norm_layer=norm_layer)
    feat_dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, feat_dim
