"""The pre-training loop, queue validation, and resumable training state.

    K = resolve_queue_size("auto", batch_size=16, n_images=48)   # -> 32
    model = MoCo("resnet18", K=K)
    pair = pair_builder("fixed-theta", theta=30.0)                # batch -> (view a, view b)
    losses = pretrain(model, images, pair, TrainSettings(steps=36, batch_size=16), seed=0)
    settings = TrainSettings.from_config(cfg)                   # a run's settings
    groups = group_codes(["vol1", "vol1", "vol2", ...])          # one source per image
    losses = pretrain(model, images, pair, settings, seed=0, groups=groups)

MoCo's queue remembers which image (index into ``images``) and source group each key came
from, so a query's own image is masked out of its negatives (``negatives.py``); the share
of queries that met one is counted in ``model.self_negatives``.

Resuming: with ``checkpoint_every=k`` the loop hands a complete training state (weights,
optimiser, data order, random generators, losses) to ``on_checkpoint`` every k steps;
passing that state back as ``resume`` continues to exactly the numbers an uninterrupted
run gives.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from thetascope.config.defaults import default
from thetascope.config.sections import SSLConfig
from thetascope.precision import resolve
from thetascope.ssl.moco import MoCo
from thetascope.ssl.model import SSLModel
from thetascope.ssl.optim import sgd
from thetascope.ssl.pairs import PairFn
from thetascope.ssl.train_step import make_step

if TYPE_CHECKING:
    from thetascope.config import ExperimentConfig


READ_LOSSES_EVERY = 50  # steps between host reads of the losses when no caller asks sooner


class TrainingConfigError(ValueError):
    """Batch, queue and dataset sizes that cannot work together."""


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """The pre-training loop's settings; defaults are ``SSLConfig``'s. Build them from a
    config with ``TrainSettings.from_config(cfg)`` (the one place they are read from it)."""

    steps: int = default(SSLConfig, "steps")
    batch_size: int = default(SSLConfig, "batch_size")
    lr: float = default(SSLConfig, "lr")
    momentum: float = default(SSLConfig, "sgd_momentum")
    weight_decay: float = default(SSLConfig, "weight_decay")
    schedule: str = default(SSLConfig, "schedule")
    precision: str = default(SSLConfig, "precision")  # "auto" resolved on the model's device
    channels_last: bool = True  # with bf16 only; not a config field (bench compares both)
    # replay each step from a CUDA graph (CUDA only, train_step.py); off until a GPU run has
    # measured it: ``thetascope bench --device cuda`` times both
    cuda_graph: bool = False
    queue_init: str = default(SSLConfig, "queue_init")  # or "random" (facebookresearch/moco)

    @classmethod
    def from_config(cls, cfg: ExperimentConfig) -> TrainSettings:
        s = cfg.ssl
        return cls(steps=s.steps, batch_size=s.batch_size, lr=s.lr, momentum=s.sgd_momentum,
                   weight_decay=s.weight_decay, schedule=s.schedule, precision=s.precision,
                   queue_init=s.queue_init)


def check_sizes(n_images: int, settings: TrainSettings, queue_size: int | None) -> None:
    """Raise ``TrainingConfigError`` naming the fix when the batch (or, with
    ``queue_init: data``, MoCo's queue of ``queue_size`` keys) needs more images than there
    are. The CLI checks this before a sweep (``preflight``); this guards the Python API."""
    if settings.batch_size > n_images:
        raise TrainingConfigError(f"batch size {settings.batch_size} is larger than the "
                                  f"{n_images} training images: lower ssl.batch_size")
    if queue_size is not None and settings.queue_init == "data" and queue_size > n_images:
        raise TrainingConfigError(
            f"queue_init 'data' fills MoCo's queue (K={queue_size}) with one key per image, "
            f"but there are only {n_images} images: lower ssl.queue_size (or use 'auto'), "
            "or set ssl.queue_init: random")


def fill_queue(model: MoCo, images: torch.Tensor, pair: PairFn, gen: torch.Generator,
               device: torch.device, groups: torch.Tensor | None = None) -> None:
    """Start the queue with real keys of K seeded images instead of random vectors, and
    record which images (and groups; None: each image its own) they came from.

    With random unit vectors every negative is near-orthogonal to every query, so the loss
    first *rises* while the queue fills; on short runs that hides whether training works.
    """
    k = model.K
    idx = torch.randperm(images.shape[0], generator=gen)[:k]
    _, views = pair(images[idx])
    keys = torch.nn.functional.normalize(model.encoder_k(views.to(device)), dim=1)
    model.queue.copy_(keys.T.to(model.queue.dtype))
    model.queue_ids.copy_(idx)
    model.queue_groups.copy_(idx if groups is None else groups[idx])
    model.queue_ptr.zero_()


def resolve_queue_size(queue_size: int | str, batch_size: int, n_images: int) -> int:
    """Validate (or choose, for ``"auto"``) MoCo's K for a dataset of ``n_images``.

    Rules: the batch fits the data; K is a multiple of the batch size (the queue is written
    a batch at a time); K + batch ≤ n_images, so the queue never needs more keys than
    there are other images. That does not keep a query's own image out of the queue (the
    order is reshuffled every epoch): ``MoCo.mask_self_negatives`` does. ``auto`` picks the
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


def lr_at(step: int, s: TrainSettings) -> float:
    if s.schedule == "cosine":
        return s.lr * 0.5 * (1 + math.cos(math.pi * step / s.steps))
    return s.lr


def pretrain(
    model: SSLModel,
    images: torch.Tensor,
    pair: PairFn,
    settings: TrainSettings,
    seed: int,
    on_step: Callable[[int, float], None] | None = None,
    checkpoint_every: int = 0,
    on_checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    groups: torch.Tensor | None = None,
) -> list[float]:
    """Train ``model`` on ``pair(batch)`` views of ``images``; returns the loss per step.

    Batches are drawn from seeded per-epoch permutations (drop_last), so two runs with the
    same seed see the same images in the same order whatever θ is. MoCo gets each batch's
    image indices and ``groups`` codes (N,) (None: every image its own group) for its queue.
    """
    n, b = images.shape[0], settings.batch_size
    check_sizes(n, settings, model.K if isinstance(model, MoCo) else None)
    device = next(model.parameters()).device
    bf16 = resolve(settings.precision, device) == "bf16"
    cl = bf16 and settings.channels_last
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = sgd(model.trainable_parameters(), settings)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # key-batch shuffles and augmentations
    model.train()
    losses: list[float] = []
    order: list[int] = []
    start = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        gen.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in resume:  # the key shuffle's draws
            torch.cuda.set_rng_state(resume["cuda_rng"], device)
        losses, order, start = list(resume["losses"]), list(resume["order"]), resume["step"]
    elif settings.queue_init == "data" and isinstance(model, MoCo):
        fill_queue(model, images, pair, gen, device, groups)
    batches = _Batches(images, pair, device, cl, groups)
    step_fn = make_step(model, opt, bf16, settings.cuda_graph)
    pending = _PendingLosses(losses)
    for step in range(start, settings.steps):
        if len(order) < b:
            order = torch.randperm(n, generator=gen).tolist()
        idx, order = order[:b], order[b:]
        pending.add(step, step_fn(*batches.get(idx), lr_at(step, settings)))
        if on_step is not None:  # the one host read of a step, and only when asked for
            pending.flush()
            on_step(step, losses[-1])
        elif (step + 1) % READ_LOSSES_EVERY == 0:
            pending.flush()  # a diverged run stops within this many steps
        done = step + 1
        if checkpoint_every and on_checkpoint and done % checkpoint_every == 0 \
                and done < settings.steps:
            pending.flush()
            on_checkpoint(copy.deepcopy({  # a snapshot: training goes on mutating these
                "step": done, "losses": losses, "order": order,
                "model": model.state_dict(), "optimizer": _plain_lr(opt.state_dict()),
                "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                **({"cuda_rng": torch.cuda.get_rng_state(device)}
                   if device.type == "cuda" else {}),
            }))
    pending.flush()
    model.eval()
    return losses


def to_device_async(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device`` without waiting for the device: on CUDA from pinned
    memory (torch's caching host allocator keeps it alive until the copy is done); from
    pageable memory the driver may synchronise with the stream."""
    if device.type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


class _Batches:
    """A step's (view a, view b, image ids, source groups), on the model's device without
    a blocking copy. Without augmentation every view is computed once and kept there
    (``pair.deterministic``); otherwise each batch's views are made on the host."""

    def __init__(self, images: torch.Tensor, pair: PairFn, device: torch.device, cl: bool,
                 groups: torch.Tensor | None) -> None:
        self.images, self.pair, self.device = images, pair, device
        self.fmt = torch.channels_last if cl else torch.contiguous_format
        n = images.shape[0]
        self.source = (torch.arange(n) if groups is None else groups.to(torch.long)).to(device)
        self.views = None
        if getattr(pair, "deterministic", False):
            self.views = tuple(v.to(device).contiguous(memory_format=self.fmt)
                               for v in pair(images))

    def get(self, idx: list[int]) -> tuple[torch.Tensor, ...]:
        ids = to_device_async(torch.tensor(idx), self.device)
        if self.views is not None:
            qa, kb = (v[ids] for v in self.views)
        else:
            qa, kb = (to_device_async(v, self.device) for v in self.pair(self.images[idx]))
        return (qa.contiguous(memory_format=self.fmt), kb.contiguous(memory_format=self.fmt),
                ids, self.source[ids])


def read_losses(pending: list[torch.Tensor], first_step: int) -> list:
    """Device losses of consecutive steps from ``first_step`` (0-dim, or (K,) for K fused
    models) as host values, in one read; a non-finite one raises, naming its step."""
    if not pending:
        return []
    values = torch.stack(pending).tolist()
    for step, value in enumerate(values, first_step):
        if not all(math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
            raise FloatingPointError(f"SSP loss became {value} at step {step}; lower ssl.lr")
    return values


class _PendingLosses:
    """Step losses still on the device, appended to ``losses`` as floats on ``flush``."""

    def __init__(self, losses: list[float]) -> None:
        self.losses, self.first, self.values = losses, 0, []

    def add(self, step: int, loss: torch.Tensor) -> None:
        if not self.values:
            self.first = step
        self.values.append(loss)

    def flush(self) -> None:
        self.losses.extend(read_losses(self.values, self.first))
        self.values = []


def _plain_lr(state: dict) -> dict:
    """An optimiser state dict with any device-tensor learning rate as a float, so a
    checkpoint loads the same into an eager or a graphed run."""
    for g in state["param_groups"]:
        if isinstance(g.get("lr"), torch.Tensor):
            g["lr"] = float(g["lr"])
    return state
