"""Backbone factory: any registered encoder (``ssl/registry.py``), and the projection head.

    net, feat_dim = create_backbone("resnet18")                       # random init
    net(torch.rand(2, 3, 64, 64)).shape                               # (2, 512)
    net, d = create_backbone("vit_b_16", image_size=64, in_channels=1)
    net, d = create_backbone("convnext_tiny")                         # d = 768
    enc = Encoder("resnet18", dim=128)                                # backbone + MLP head

The encoders themselves (torchvision's, a user's) are ``EncoderSpec`` entries of the
registry; the built-ins live in ``ssl/encoders.py``. ``norm_layer`` reaches only encoders
that declare it (ResNets: MoCo's split batch norm); the others keep their own norms.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from thetascope.ssl.registry import get_encoder
from thetascope.ssl.split_bn import SplitBatchNorm2d, group_major, group_major_order


def first_conv_name(name: str) -> str | None:
    """State-dict prefix of the input convolution (for stem adaptation); None: unknown."""
    return get_encoder(name).first_conv


def create_backbone(
    name: str,
    norm_layer: Callable[[int], nn.Module] | None = None,
    in_channels: int = 3,
    image_size: int = 224,
) -> tuple[nn.Module, int]:
    """Return (module mapping (N, C, H, W) to (N, D) features, D) for a registered encoder;
    ValueError naming the registered encoders, or the input constraint broken."""
    spec = get_encoder(name)
    return spec.create(in_channels, image_size, norm_layer), spec.feature_dim


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
