"""SimCLR (NT-Xent) with the same pair construction as MoCo: views (x, rot_θ x).

    model = SimCLR("resnet18", dim=128, T=0.2)
    logits, labels = model(x, rot_x)       # 2N rows; each row's positive is its other view
    loss = torch.nn.functional.cross_entropy(logits, labels)
    z = model.embed(x)                     # (N, dim), L2-normalised

Same interface as ``MoCo`` so the training loop and saliency do not care which it is.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from thetascope.ssl.backbones import Encoder


class SimCLR(nn.Module):
    def __init__(self, encoder: str = "resnet18", dim: int = 128, T: float = 0.2,
                 mlp: bool = True, in_channels: int = 3, image_size: int = 224) -> None:
        super().__init__()
        self.T = T
        self.encoder_q = Encoder(encoder, dim, mlp, None, in_channels, image_size)

    def trainable_parameters(self):
        return self.encoder_q.parameters()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encoder_q(x), dim=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = a.shape[0]
        z = self.embed(torch.cat([a, b], dim=0))
        sim = (z @ z.T).float() / self.T
        sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=sim.device), -1e9)
        labels = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(sim.device)
        return sim, labels
