"""Named augmentation recipes for the views of a pair, applied per sample.

    aug = create_augment("reference", size=64)       # or "mocov2", "none"
    views = aug(batch)                                # (N, C, H, W) -> (N, C, H, W)

- ``none``: identity (the fixed-θ default: only θ differs between the views);
- ``reference``: the first paper's notebook: Gaussian blur, horizontal and vertical flips,
  random rotation over 0–360° with p = 0.3, a small random affine (translate ±10 %,
  scale 0.9–1.1);
- ``mocov2``: MoCo v2's recipe for grayscale data: random resized crop (scale 0.2–1),
  brightness/contrast jitter 0.4 with p = 0.8, Gaussian blur with p = 0.5, horizontal flip.

Random parameters come from torch's global generator, which the training loop seeds, so a
run is reproducible. torchvision's v2 transforms draw one parameter set per call, hence
the loop over samples.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

RECIPES = ("none", "reference", "mocov2")


def _reference(size: int) -> v2.Transform:
    k = max(3, (size // 10) | 1)
    return v2.Compose([
        v2.RandomApply([v2.GaussianBlur(k, sigma=(0.1, 2.0))], p=0.5),
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(),
        v2.RandomApply([v2.RandomRotation(360.0)], p=0.3),
        v2.RandomAffine(degrees=0.0, translate=(0.1, 0.1), scale=(0.9, 1.1)),
    ])


def _mocov2(size: int) -> v2.Transform:
    k = max(3, (size // 10) | 1)
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True),
        v2.RandomApply([v2.ColorJitter(brightness=0.4, contrast=0.4)], p=0.8),
        v2.RandomApply([v2.GaussianBlur(k, sigma=(0.1, 2.0))], p=0.5),
        v2.RandomHorizontalFlip(),
    ])


def create_augment(name: str, size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    if name == "none":
        return lambda batch: batch
    if name not in RECIPES:
        raise ValueError(f"unknown augmentation recipe {name!r}; choose one of {RECIPES}")
    t = _reference(size) if name == "reference" else _mocov2(size)

    def apply(batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([t(img).clamp(0, 1) for img in batch])

    return apply
