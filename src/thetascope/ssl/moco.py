"""MoCo v2 on one device, after facebookresearch/moco ``builder.py``.

Hyper-parameters carry the paper's names (``dim``, ``K``, ``m``, ``T``, ``mlp``); the queue
and its pointer are buffers, so they are saved and restored with the state dict.
Multi-GPU shuffle-BN is replaced by split batch norm (BN statistics over sub-batches) plus a
shuffle of the key batch, so the key encoder cannot cheat through batch statistics.

    model = MoCo("resnet18", dim=128, K=64, m=0.99, T=0.2, split_bn=2)
    logits, labels = model(x, rot_x)              # InfoNCE: positive is column 0
    loss = torch.nn.functional.cross_entropy(logits, labels)
    z = model.embed(x)                            # (N, dim), L2-normalised query embedding
"""

from __future__ import annotations

import copy
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from thetascope.ssl.backbones import Encoder
from thetascope.ssl.split_bn import SplitBatchNorm2d

__all__ = ["MoCo", "SplitBatchNorm2d", "momentum_update"]


@torch.no_grad()
def momentum_update(keys: list[torch.Tensor], queries: list[torch.Tensor], m: float) -> None:
    """k ← m·k + (1 − m)·q for every pair, as one multi-tensor ``lerp`` (k + (1 − m)(q − k),
    equal up to rounding): one pass over the weights instead of two, and on a GPU one
    launch instead of two per parameter (a ResNet-18 has 62; at batch 16 the GPU step is
    launch-bound)."""
    if len(keys) != len(queries):
        raise ValueError(f"{len(keys)} key vs {len(queries)} query parameters")
    torch._foreach_lerp_(keys, [q.detach() for q in queries], 1.0 - m)


class MoCo(nn.Module):
    def __init__(
        self,
        encoder: str = "resnet18",
        dim: int = 128,
        K: int = 256,
        m: float = 0.99,
        T: float = 0.2,
        mlp: bool = True,
        split_bn: int = 1,
        freeze_queue: bool = False,
        in_channels: int = 3,
        image_size: int = 224,
    ) -> None:
        super().__init__()
        self.K, self.m, self.T, self.freeze_queue = K, m, T, freeze_queue
        norm = partial(SplitBatchNorm2d, num_splits=split_bn) if split_bn > 1 else None
        self.encoder_q = Encoder(encoder, dim, mlp, norm, in_channels, image_size)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        for p in self.encoder_k.parameters():
            p.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(dim, K), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def trainable_parameters(self):
        return self.encoder_q.parameters()

    @torch.no_grad()
    def _momentum_update_key_encoder(self) -> None:
        momentum_update(list(self.encoder_k.parameters()), list(self.encoder_q.parameters()),
                        self.m)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        if self.freeze_queue:  # paper-compat: the reference code never refreshed negatives
            return
        b = keys.shape[0]
        ptr = int(self.queue_ptr)
        if self.K % b != 0:
            raise ValueError(f"queue size K={self.K} is not a multiple of the batch size {b}")
        self.queue[:, ptr : ptr + b] = keys.T.to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + b) % self.K

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalised query embedding (the network whose saliency is measured)."""
        return F.normalize(self.encoder_q(x), dim=1)

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.embed(im_q)
        with torch.no_grad():
            self._momentum_update_key_encoder()
            perm = torch.randperm(im_k.shape[0], device=im_k.device)
            k = F.normalize(self.encoder_k(im_k[perm]), dim=1)
            k = k[torch.argsort(perm)]  # un-shuffle so k[i] pairs with q[i]
        l_pos = (q * k).sum(1, keepdim=True)
        l_neg = q @ self.queue.clone().detach().to(q.dtype)
        logits = torch.cat([l_pos, l_neg], dim=1) / self.T
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        self._dequeue_and_enqueue(k)
        return logits.float(), labels
