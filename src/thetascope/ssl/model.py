"""``SSLModel``: the one interface sweep/, downstream/ and saliency use for a pre-trained model.

    model = get_method("moco_v2").build(cfg.ssl, in_channels=1, image_size=64, n_images=120)
    logits, labels = model(a, b, ids, groups)   # the loss step: cross-entropy of these
    loss = model.loss(a, b, ids, groups)        # the same, as one scalar
    z = model.embed(x)                          # (N, dim), L2-normalised query embedding
    net = model.query_encoder()                 # backbone + head: embed(x) == normalize(net(x))
    backbone = model.query_backbone()           # (N, C, H, W) -> (N, D), what downstream probes
    report = model.load_backbone_weights("moco_v2_800ep.pth.tar")   # LoadReport

Saliency differentiates ``SaliencyEncoder(model.query_encoder())`` (``attribution/inference.py``).
A method implements ``query_encoder`` and ``forward``; the rest has defaults that assume
``query_encoder()`` has a ``.backbone`` (``ssl.backbones.Encoder`` does). ``encoder_name``
is the registered encoder (``ssl/registry.py``) the backbone was built from. Anything a
method keeps besides (MoCo's key encoder and queue) stays behind this interface.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

if TYPE_CHECKING:
    from thetascope.ssl.checkpoints import LoadReport


class SSLModel(nn.Module, metaclass=ABCMeta):
    """A contrastive model over (x, x rotated by θ) pairs; subclass and implement
    ``query_encoder`` and ``forward``."""

    encoder_name: str

    @abstractmethod
    def query_encoder(self) -> nn.Module:
        """The network whose normalised output is the embedding (backbone + head)."""

    @abstractmethod
    def forward(self, a: torch.Tensor, b: torch.Tensor, ids: torch.Tensor | None = None,
                groups: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss step's (logits, labels) for views ``a``, ``b`` (N, C, H, W): the loss is
        their cross-entropy. ``ids``/``groups``: (N,) image and source codes of the batch
        (a method may ignore them)."""

    def loss(self, a: torch.Tensor, b: torch.Tensor, ids: torch.Tensor | None = None,
             groups: torch.Tensor | None = None) -> torch.Tensor:
        logits, labels = self(a, b, ids, groups)
        return F.cross_entropy(logits, labels)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised query embedding (the network whose saliency is measured)."""
        return F.normalize(self.query_encoder()(x), dim=1)

    def query_backbone(self) -> nn.Module:
        """The query encoder's backbone, without the projection head."""
        return self.query_encoder().backbone  # type: ignore[return-value]

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        return self.query_encoder().parameters()

    def load_backbone_weights(self, path: str | Path) -> LoadReport:
        """Load a checkpoint's backbone weights (any layout ``ssl/checkpoints.py`` reads)
        into the query backbone, then ``backbone_loaded()``; returns what matched."""
        from thetascope.ssl.checkpoints import load_backbone_weights

        report = load_backbone_weights(Path(path), self.query_backbone(), self.encoder_name)
        self.backbone_loaded()
        return report

    def backbone_loaded(self) -> None:
        """Hook after new backbone weights (MoCo: the key encoder starts as their copy)."""
