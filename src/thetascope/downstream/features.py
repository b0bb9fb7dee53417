"""Backbone features for the downstream measurements, and grouped train/test splits.

    f = global_features(backbone, images)                       # (N, D), frozen, on the CPU
    m = spatial_features(backbone, "resnet18", images, layer=2)  # (N, C, h, w), frozen
    m = stage_forward(backbone, "resnet18", x, layer=2)          # with gradients (fine-tuning)
    train, test = grouped_split([group_of(s) for s in samples], 0.2, seed=0)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from thetascope.data.sample import Sample
from thetascope.ssl.registry import get_encoder


@torch.no_grad()
def global_features(backbone: nn.Module, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """(N, D) frozen backbone embeddings (eval mode, no gradients), on the CPU."""
    dev = next(backbone.parameters()).device
    was = backbone.training
    backbone.eval()
    try:
        out = [backbone(images[i:i + batch].to(dev)).float().cpu()
               for i in range(0, len(images), batch)]
    finally:
        backbone.train(was)
    return torch.cat(out)


def stage_forward(backbone: nn.Module, encoder: str, x: torch.Tensor,
                  layer: int = 2) -> torch.Tensor:
    """(N, C, h, w) feature map of ``x`` at ``layer``, as the registered encoder's spec
    says (``EncoderSpec.stage_forward``: ResNet ``layer<layer>``, ConvNeXt stage ``layer``,
    ViT's last-layer patch tokens). Differentiable; mode left as is."""
    return get_encoder(encoder).spatial(backbone, x, layer)


@torch.no_grad()
def spatial_features(backbone: nn.Module, encoder: str, images: torch.Tensor,
                     layer: int = 2, batch: int = 64) -> torch.Tensor:
    """(N, C, h, w) frozen feature map (eval mode, no gradients), on the CPU."""
    dev = next(backbone.parameters()).device
    was = backbone.training
    backbone.eval()
    try:
        out = [stage_forward(backbone, encoder, images[i:i + batch].to(dev), layer).float().cpu()
               for i in range(0, len(images), batch)]
    finally:
        backbone.train(was)
    return torch.cat(out)


def group_of(s: Sample) -> str:
    """Source group of a sample (``Sample.group``: volume or case when known, else the
    sample itself)."""
    return s.group


def grouped_split(groups: list[str], test_fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (train, test) masks; whole groups go to one side, ≥ 1 group each."""
    uniq = sorted(set(groups))
    if len(uniq) < 2:
        raise ValueError(f"a grouped split needs ≥ 2 groups, got {len(uniq)}")
    rng = np.random.default_rng(seed)
    order = [uniq[i] for i in rng.permutation(len(uniq))]
    n_test = min(len(uniq) - 1, max(1, int(round(test_fraction * len(uniq)))))
    test_groups = set(order[:n_test])
    test = np.array([g in test_groups for g in groups])
    return ~test, test
