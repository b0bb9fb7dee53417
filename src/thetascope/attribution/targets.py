"""Scalar targets for saliency on an embedding model (which has no class to explain).

    target = pair_cosine(model.embed)
    s = target(x, rot_x)          # (N,) cosine similarity of the two views' embeddings

The target's name is recorded in every result row (column ``target``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Embed = Callable[[torch.Tensor], torch.Tensor]
Target = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def pair_cosine(embed: Embed) -> Target:
    """cos(f(x), f(r)) per example: gradients reach both inputs."""

    def target(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        both = embed(torch.cat([x, r], dim=0))
        zx, zr = both.split(x.shape[0], dim=0)
        return F.cosine_similarity(zx.float(), zr.float(), dim=1)

    return target


TARGETS: dict[str, Callable[[Embed], Target]] = {"pair_cosine": pair_cosine}


def create_target(name: str, embed: Embed) -> Target:
    if name not in TARGETS:
        raise ValueError(f"unknown saliency target {name!r}; choose one of {sorted(TARGETS)}")
    return TARGETS[name](embed)
