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
    """(N, C, h, w) feature map of ``x``: ResNet ``layer<layer>``, ConvNeXt stage ``layer``,
    ViT's last-layer patch tokens (``layer`` ignored). Differentiable; mode left as is."""
    m: nn.Module = backbone
    if encoder.startswith("resnet"):
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))  # type: ignore[operator]
        for k in range(1, layer + 1):
            x = getattr(m, f"layer{k}")(x)
        return x
    if encoder == "convnext_tiny":
        return m.features[: 2 * layer](x)  # type: ignore[index]
    if encoder == "vit_b_16":
        tok = m.encoder(torch.cat([m.class_token.expand(x.shape[0], -1, -1),  # type: ignore[union-attr]
                                   m._process_input(x)], dim=1))  # type: ignore[operator]
        side = int(round((tok.shape[1] - 1) ** 0.5))
        return tok[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, side, side)
    raise ValueError(f"no spatial features for encoder {encoder!r}")


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
