"""SimCLR (NT-Xent) with the same pair construction as MoCo: views (x, rot_θ x).

    model = SimCLR("resnet18", dim=128, T=0.2)
    logits, labels = model(x, rot_x)       # 2N rows; each row's positive is its other view
    loss = torch.nn.functional.cross_entropy(logits, labels)
    z = model.embed(x)                     # (N, dim), L2-normalised

An ``SSLModel`` (``model.py``) like ``MoCo``, so the training loop and saliency do not care
which it is.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from thetascope.ssl.backbones import Encoder
from thetascope.ssl.model import SSLModel


class SimCLR(SSLModel):
    def __init__(self, encoder: str = "resnet18", dim: int = 128, T: float = 0.2,
                 mlp: bool = True, in_channels: int = 3, image_size: int = 224) -> None:
        super().__init__()
        self.T, self.encoder_name = T, encoder
        self.encoder_q = Encoder(encoder, dim, mlp, None, in_channels, image_size)

    def query_encoder(self) -> nn.Module:
        return self.encoder_q

    def forward(self, a: torch.Tensor, b: torch.Tensor, ids: torch.Tensor | None = None,
                groups: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(2N, 2N) logits and labels; ``ids``/``groups`` are not used (no queue)."""
        n = a.shape[0]
        z = self.embed(torch.cat([a, b], dim=0))
        sim = (z @ z.T).float() / self.T
        sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=sim.device), -1e9)
        labels = torch.arange(2 * n, device=sim.device).roll(n)  # row i's positive: i ± n
        return sim, labels
