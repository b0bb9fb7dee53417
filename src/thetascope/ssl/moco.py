"""MoCo v2 on one device, after facebookresearch/moco ``builder.py``.

Hyper-parameters carry the paper's names (``dim``, ``K``, ``m``, ``T``, ``mlp``); the queue
and its pointer are buffers, so they are saved and restored with the state dict.
Multi-GPU shuffle-BN is replaced by split batch norm (BN statistics over sub-batches) plus a
shuffle of the key batch, so the key encoder cannot cheat through batch statistics.

    model = MoCo("resnet18", dim=128, K=64, m=0.99, T=0.2, split_bn=2)
    logits, labels = model(x, rot_x)              # InfoNCE: positive is column 0
    logits, labels = model(x, rot_x, ids)         # ids: (N,) image indices of the batch
    loss = torch.nn.functional.cross_entropy(logits, labels)
    z = model.embed(x)                            # (N, dim), L2-normalised query embedding

``MoCo`` is an ``SSLModel`` (``model.py``): callers outside ``ssl/`` use ``query_encoder()``,
``query_backbone()`` and ``load_backbone_weights``, never ``encoder_q``/``encoder_k``.

Every queue entry remembers its source: ``queue_ids`` (image index) and ``queue_groups``
(volume, case, ...), −1 when unknown. Given ``ids``, keys of a query's own image are masked
out of its negatives (``mask_self_negatives``, see ``negatives.py``) and counted in
``self_negatives`` either way. ``symmetric=True`` adds MoCo v3's second term, (q(rot x),
k(x)), so the query encoder sees both views; the loss is the mean over both terms' rows
and both terms' keys are enqueued (2N keys per step: k(rot x), then k(x)), so the
negatives hold both views of other images.
"""

from __future__ import annotations

import copy
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from thetascope.ssl.backbones import Encoder
from thetascope.ssl.model import SSLModel
from thetascope.ssl.negatives import UNKNOWN, same_source, self_negative_counts
from thetascope.ssl.split_bn import SplitBatchNorm2d
from thetascope.torch_private import foreach_lerp_

__all__ = ["MoCo", "SplitBatchNorm2d", "momentum_update"]


@torch.no_grad()
def momentum_update(keys: list[torch.Tensor], queries: list[torch.Tensor], m: float) -> None:
    """k ← m·k + (1 − m)·q for every pair, as one multi-tensor ``lerp`` (k + (1 − m)(q − k),
    equal up to rounding): one pass over the weights instead of two, and on a GPU one
    launch instead of two per parameter (a ResNet-18 has 62; at batch 16 the GPU step is
    launch-bound)."""
    if len(keys) != len(queries):
        raise ValueError(f"{len(keys)} key vs {len(queries)} query parameters")
    foreach_lerp_(keys, [q.detach() for q in queries], 1.0 - m)


class MoCo(SSLModel):
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
        mask_self_negatives: bool = True,
        symmetric: bool = False,
    ) -> None:
        super().__init__()
        self.K, self.m, self.T, self.freeze_queue = K, m, T, freeze_queue
        self.mask_self_negatives, self.symmetric = mask_self_negatives, symmetric
        norm = partial(SplitBatchNorm2d, num_splits=split_bn) if split_bn > 1 else None
        self.encoder_name = encoder
        self.encoder_q = Encoder(encoder, dim, mlp, norm, in_channels, image_size)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        for p in self.encoder_k.parameters():
            p.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(dim, K), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))
        self.register_buffer("queue_ids", torch.full((K,), UNKNOWN, dtype=torch.long))
        self.register_buffer("queue_groups", torch.full((K,), UNKNOWN, dtype=torch.long))
        # queries seen, with a key of their own image in the queue, with one of their group
        self.register_buffer("self_negatives", torch.zeros(3, dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        """A checkpoint from before the source buffers existed loads with unknown sources."""
        for name in ("queue_ids", "queue_groups", "self_negatives"):
            if prefix + "queue" in state_dict and prefix + name not in state_dict:
                default = 0 if name == "self_negatives" else UNKNOWN
                state_dict[prefix + name] = torch.full_like(getattr(self, name), default)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def query_encoder(self) -> nn.Module:
        return self.encoder_q

    @torch.no_grad()
    def backbone_loaded(self) -> None:
        """The key encoder starts as a copy of the query encoder."""
        self.encoder_k.load_state_dict(self.encoder_q.state_dict())

    @torch.no_grad()
    def _momentum_update_key_encoder(self) -> None:
        momentum_update(list(self.encoder_k.parameters()), list(self.encoder_q.parameters()),
                        self.m)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: torch.Tensor, ids: torch.Tensor | None = None,
                             groups: torch.Tensor | None = None) -> None:
        """Write ``keys`` (N, dim) and their sources (None: unknown) at the pointer."""
        if self.freeze_queue:  # paper-compat: the reference code never refreshed negatives
            return
        b = keys.shape[0]
        if self.K % b != 0:
            raise ValueError(f"queue size K={self.K} is not a multiple of the batch size {b}")
        # the pointer stays on the device (no host read: on a GPU ``int(queue_ptr)`` would
        # wait for the step's work, and a CUDA graph would freeze its value at capture)
        slots = self.queue_ptr + torch.arange(b, device=self.queue_ptr.device)
        self.queue.index_copy_(1, slots, keys.T.to(self.queue.dtype))
        for record, source in ((self.queue_ids, ids), (self.queue_groups, groups)):
            if source is None:
                record.index_fill_(0, slots, UNKNOWN)
            else:
                record.index_copy_(0, slots, source.to(record.dtype))
        self.queue_ptr.add_(b).remainder_(self.K)

    @torch.no_grad()
    def _keys(self, im_k: torch.Tensor) -> torch.Tensor:
        """Key embeddings of a shuffled batch (for split BN), returned in input order."""
        perm = torch.randperm(im_k.shape[0], device=im_k.device)
        k = F.normalize(self.encoder_k(im_k[perm]), dim=1)
        return k[torch.argsort(perm)]  # un-shuffle so k[i] pairs with q[i]

    def _logits(self, q: torch.Tensor, k: torch.Tensor, ids: torch.Tensor | None,
                groups: torch.Tensor | None) -> torch.Tensor:
        """InfoNCE logits (positive in column 0), same-image negatives masked to −inf."""
        l_pos = (q * k).sum(1, keepdim=True)
        l_neg = q @ self.queue.clone().detach().to(q.dtype)
        if ids is not None:
            same = same_source(ids, self.queue_ids)
            with torch.no_grad():
                self.self_negatives += self_negative_counts(
                    same, ids if groups is None else groups, self.queue_groups)
            if self.mask_self_negatives:  # exp(−inf) = 0: as if the entry were not there
                l_neg = l_neg.masked_fill(same, float("-inf"))
        return torch.cat([l_pos, l_neg], dim=1) / self.T

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor, ids: torch.Tensor | None = None,
                groups: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (N, 1 + K) and labels of (q(im_q), k(im_k)); with ``symmetric`` 2N rows,
        (q(im_k), k(im_q)) below. ``ids``/``groups``: (N,) sources of the batch's images."""
        q = self.embed(im_q)
        q2 = self.embed(im_k) if self.symmetric else None
        with torch.no_grad():
            self._momentum_update_key_encoder()
            k = self._keys(im_k)
            k2 = self._keys(im_q) if self.symmetric else None
        if q2 is not None and k2 is not None:
            q, k = torch.cat([q, q2]), torch.cat([k, k2])
            ids = None if ids is None else ids.repeat(2)
            groups = None if groups is None else groups.repeat(2)
        logits = self._logits(q, k, ids, groups)
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        for part in range(2 if self.symmetric else 1):  # K is a multiple of N, not of 2N
            rows = slice(part * im_q.shape[0], (part + 1) * im_q.shape[0])
            self._dequeue_and_enqueue(k[rows], None if ids is None else ids[rows],
                                      None if groups is None else groups[rows])
        return logits.float(), labels
