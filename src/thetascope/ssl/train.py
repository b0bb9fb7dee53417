"""The pre-training loop for one θ, queue validation, and checkpoints.

    K = resolve_queue_size("auto", batch_size=16, n_images=48)   # -> 32
    model = MoCo("resnet18", K=K)
    a, b = make_pair(images, theta)                               # precomputed views
    losses = pretrain(model, a, b, TrainSettings(steps=24, batch_size=16), seed=0)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from thetascope.ssl.moco import MoCo
from thetascope.ssl.simclr import SimCLR


class TrainingConfigError(ValueError):
    """Batch, queue and dataset sizes that cannot work together."""


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 24
    batch_size: int = 16
    lr: float = 0.03
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    precision: str = "fp32"
    queue_init: str = "data"  # or "random" (facebookresearch/moco)


@torch.no_grad()
def fill_queue(model: MoCo, views: torch.Tensor, gen: torch.Generator,
               device: torch.device) -> None:
    """Start the queue with real keys of K seeded images instead of random vectors.

    With random unit vectors every negative is near-orthogonal to every query, so the loss
    first *rises* while the queue fills; on short runs that hides whether training works.
    """
    k = model.K
    idx = torch.randperm(views.shape[0], generator=gen)[:k]
    keys = torch.nn.functional.normalize(model.encoder_k(views[idx].to(device)), dim=1)
    model.queue.copy_(keys.T.to(model.queue.dtype))
    model.queue_ptr.zero_()


def resolve_queue_size(queue_size: int | str, batch_size: int, n_images: int) -> int:
    """Validate (or choose, for ``"auto"``) MoCo's K for a dataset of ``n_images``.

    Rules: the batch fits the data; K is a multiple of the batch size (the queue is written
    a batch at a time); K + batch ≤ n_images, so a query's own image is unlikely to sit in
    the queue as a "negative" (a real risk on small medical sets). ``auto`` picks the
    largest such K, at most 4096.
    """
    if batch_size > n_images:
        raise TrainingConfigError(
            f"ssl.batch_size={batch_size} exceeds the {n_images} SSP images; "
            f"set ssl.batch_size to at most {n_images}"
        )
    largest = (n_images - batch_size) // batch_size * batch_size
    if queue_size == "auto":
        if largest < batch_size:
            raise TrainingConfigError(
                f"no MoCo queue fits {n_images} images with batch {batch_size} "
                f"(need K + batch ≤ images); lower ssl.batch_size to ≤ {n_images // 2}"
            )
        return min(largest, 4096 // batch_size * batch_size)
    k = int(queue_size)
    if k % batch_size != 0:
        raise TrainingConfigError(
            f"ssl.queue_size={k} is not a multiple of ssl.batch_size={batch_size}; "
            f"use {max(batch_size, k // batch_size * batch_size)} or 'auto'"
        )
    if k + batch_size > n_images:
        raise TrainingConfigError(
            f"ssl.queue_size={k} + batch {batch_size} exceeds the {n_images} SSP images, so "
            "the queue would hold older keys of the query's own image as negatives; use "
            f"ssl.queue_size={largest if largest >= batch_size else 'auto'} or 'auto'"
        )
    return k


def _lr_at(step: int, s: TrainSettings) -> float:
    if s.schedule == "cosine":
        return s.lr * 0.5 * (1 + math.cos(math.pi * step / s.steps))
    return s.lr


def pretrain(
    model: MoCo | SimCLR,
    view_a: torch.Tensor,
    view_b: torch.Tensor,
    settings: TrainSettings,
    seed: int,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` on the pairs (view_a[i], view_b[i]); returns the loss per step.

    Batches are drawn from seeded per-epoch permutations (drop_last), so two runs with the
    same seed see the same batches whatever θ is.
    """
    n, b = view_a.shape[0], settings.batch_size
    device = next(model.parameters()).device
    bf16 = settings.precision == "bf16"
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(
        model.trainable_parameters(), lr=settings.lr, momentum=settings.momentum,
        weight_decay=settings.weight_decay,
    )
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # key-batch shuffles
    model.train()
    if settings.queue_init == "data" and isinstance(model, MoCo):
        fill_queue(model, view_b, gen, device)
    losses: list[float] = []
    order: list[int] = []
    for step in range(settings.steps):
        if len(order) < b:
            order = torch.randperm(n, generator=gen).tolist()
        idx, order = order[:b], order[b:]
        qa, kb = view_a[idx].to(device), view_b[idx].to(device)
        if bf16:
            qa = qa.contiguous(memory_format=torch.channels_last)
            kb = kb.contiguous(memory_format=torch.channels_last)
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, settings)
        ctx = (
            torch.autocast(device_type=device.type, dtype=torch.bfloat16)
            if bf16 else contextlib.nullcontext()
        )
        with ctx:
            logits, labels = model(qa, kb)
        loss = F.cross_entropy(logits, labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"SSP loss became {loss.item()} at step {step}; lower ssl.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    return losses
