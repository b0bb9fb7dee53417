"""Train K fixed-θ MoCo models at once as one grouped network (``sweep.theta_batch``).

K ResNet encoders with the same architecture are fused channel-wise: every convolution
becomes a grouped convolution with K times the groups, every batch norm normalises K
times the channels, every linear layer becomes a batched matmul. Model k reads channels
[k·C, (k+1)·C) and nothing else, so the fused network computes exactly what the K
networks compute one by one, and its parameters are the K models' parameters side by
side; SGD (with momentum and weight decay) acts elementwise, so training the fused
network is training the K models (tested to float tolerance). The gain is fewer, larger
kernels: per-layer overhead dominates small CPU batches.

    models = [build_model(cfg, n, seed) for _ in thetas]         # identical initial weights
    losses = pretrain_stacked(models, images, thetas, settings, seed)
    # the K models now hold their trained weights; losses[k] is model k's curve

The K models see the same batches, so they share one record of the queue's sources
(``queue_ids``/``queue_groups``): self-negatives are masked and counted as in ``MoCo``,
and ``symmetric`` models get both loss terms, in ``MoCo.forward``'s order.

torch.func's vmap would need batch norm without running statistics; grouped convolutions
keep them, hence this hand-written fusion. Only encoders made of convolutions, batch norms
and linear layers fuse: those whose ``EncoderSpec`` says ``theta_fusion`` (the ResNets).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from thetascope.precision import resolve
from thetascope.ssl.moco import MoCo, SplitBatchNorm2d, momentum_update
from thetascope.ssl.negatives import same_source, self_negative_counts
from thetascope.ssl.optim import sgd
from thetascope.ssl.pairs import pair_builder
from thetascope.ssl.registry import get_encoder
from thetascope.ssl.train import (
    READ_LOSSES_EVERY,
    TrainSettings,
    check_sizes,
    lr_at,
    read_losses,
    to_device_async,
)


class GroupedLinear(nn.Module):
    """K independent linear layers applied to K channel blocks of the input."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)  # (K, out, in)
        self.bias = nn.Parameter(bias)  # (K, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, k = x.shape[0], self.weight.shape[0]
        y = torch.einsum("nki,koi->nko", x.reshape(n, k, -1), self.weight) + self.bias
        return y.reshape(n, -1)


def _cat(mods: list[nn.Module], name: str) -> torch.Tensor:
    return torch.cat([getattr(m, name).detach() for m in mods]).clone()


def fuse(mods: list[nn.Module]) -> nn.Module:
    """One module computing ``mods[k]`` on channel block k, for every k."""
    m0, k = mods[0], len(mods)
    if isinstance(m0, nn.Conv2d):
        c = nn.Conv2d(m0.in_channels * k, m0.out_channels * k, m0.kernel_size, m0.stride,
                      m0.padding, m0.dilation, m0.groups * k, m0.bias is not None)
        c.weight = nn.Parameter(_cat(mods, "weight"))
        if m0.bias is not None:
            c.bias = nn.Parameter(_cat(mods, "bias"))
        return c
    if isinstance(m0, nn.BatchNorm2d):
        splits = getattr(m0, "num_splits", 1)
        b = SplitBatchNorm2d(m0.num_features * k, splits, eps=m0.eps, momentum=m0.momentum)
        b.weight, b.bias = nn.Parameter(_cat(mods, "weight")), nn.Parameter(_cat(mods, "bias"))
        b.running_mean.copy_(_cat(mods, "running_mean"))
        b.running_var.copy_(_cat(mods, "running_var"))
        return b
    if isinstance(m0, nn.Linear):
        return GroupedLinear(torch.stack([m.weight.detach() for m in mods]).clone(),
                             torch.stack([m.bias.detach() for m in mods]).clone())
    if isinstance(m0, nn.LayerNorm) or (list(m0.parameters(recurse=False))):
        raise ValueError(f"cannot fuse {type(m0).__name__}: theta_batch supports ResNets only")
    fused = copy.copy(m0)
    fused._modules = {name: fuse([m._modules[name] for m in mods])  # type: ignore[misc]
                      for name in m0._modules}
    fused._parameters, fused._buffers = {}, {}
    return fused


@torch.no_grad()
def unfuse(fused: nn.Module, mods: list[nn.Module]) -> None:
    """Copy the fused parameters and statistics back into the K original modules."""
    k = len(mods)
    if isinstance(fused, GroupedLinear):
        for i, m in enumerate(mods):
            m.weight.copy_(fused.weight[i])
            m.bias.copy_(fused.bias[i])
        return
    for name, tensor in [*fused.named_parameters(recurse=False),
                         *fused.named_buffers(recurse=False)]:
        if name == "num_batches_tracked":
            for m in mods:
                getattr(m, name).copy_(tensor)
            continue
        for m, part in zip(mods, tensor.chunk(k), strict=True):
            getattr(m, name).copy_(part)
    for name, child in fused.named_children():
        unfuse(child, [m._modules[name] for m in mods])  # type: ignore[misc]


def pretrain_stacked(
    models: list[MoCo],
    images: torch.Tensor,
    thetas: list[float],
    settings: TrainSettings,
    seed: int,
    pair_kw: dict | None = None,
    on_step: Callable[[int, float], None] | None = None,
    groups: torch.Tensor | None = None,
) -> list[list[float]]:
    """Train ``models[k]`` on (x, rot_θk(x)) for every k in one fused network.

    Same batches, key shuffles, queue initialisation and schedule as ``pretrain`` run K
    times with the same seed (``groups`` as there); returns each model's loss curve.
    """
    if bad := [type(md).__name__ for md in models if not isinstance(md, MoCo)]:
        raise ValueError(f"a θ batch fuses MoCo models only, got {bad[0]}")
    encoders = {md.encoder_name for md in models}
    if len(encoders) > 1 or not get_encoder(next(iter(encoders))).theta_fusion:
        raise ValueError(f"a θ batch needs one encoder whose spec allows θ-fusion "
                         f"(theta_fusion=True), got {sorted(encoders)}")
    kq, m, temp = models[0].K, models[0].m, models[0].T
    flags = {(md.K, md.freeze_queue, md.mask_self_negatives, md.symmetric) for md in models}
    if len(flags) > 1:
        raise ValueError("all models of a θ batch must share the queue size and flags")
    sym, mask = models[0].symmetric, models[0].mask_self_negatives
    n_models, n, b = len(models), images.shape[0], settings.batch_size
    check_sizes(n, settings, kq)
    device = next(models[0].parameters()).device
    q_net = fuse([md.encoder_q for md in models]).to(device)
    k_net = fuse([md.encoder_k for md in models]).to(device)
    for p in k_net.parameters():
        p.requires_grad = False
    queue = torch.stack([md.queue for md in models]).to(device)  # (K, dim, Kq)
    queue_ids, queue_groups = models[0].queue_ids.clone(), models[0].queue_groups.clone()
    source = (torch.arange(n) if groups is None else groups.to(torch.long)).to(device)
    counts = torch.zeros(3, dtype=torch.long, device=device)
    pairs = [pair_builder("fixed-theta", t, **(pair_kw or {})) for t in thetas]
    bf16 = resolve(settings.precision, device) == "bf16"

    def views(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        both = [p(batch) for p in pairs]
        return torch.cat([a for a, _ in both], 1), torch.cat([v for _, v in both], 1)

    def embed(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(net(x).reshape(x.shape[0], n_models, -1), dim=-1)  # (N, K, dim)

    def keys_of(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Keys of a shuffled batch (split BN), in input order: ``MoCo._keys``."""
        perm = torch.randperm(x.shape[0], device=device)
        return embed(net, x[perm])[torch.argsort(perm)]

    opt = sgd(q_net.parameters(), settings)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    q_net.train()
    k_net.train()
    if settings.queue_init == "data":
        with torch.no_grad():
            idx = torch.randperm(n, generator=gen)[:kq]
            _, vb = views(images[idx])
            queue = embed(k_net, vb.to(device)).permute(1, 2, 0).contiguous()
            queue_ids = idx.to(device)
            queue_groups = source[queue_ids]
    # without augmentation every view depends on its image alone: compute them once, as
    # ``pretrain`` does (same numbers, and no per-step rotations on the host)
    deterministic = all(getattr(p, "deterministic", False) for p in pairs)
    all_a, all_b = (v.to(device) for v in views(images)) if deterministic else (None, None)
    ptr = 0
    pending: list[torch.Tensor] = []  # (K,) losses per step, not yet read
    done: list[list[float]] = []
    order: list[int] = []
    for step in range(settings.steps):
        if len(order) < b:
            order = torch.randperm(n, generator=gen).tolist()
        idx, order = order[:b], order[b:]
        ids = to_device_async(torch.tensor(idx), device)  # no blocking copies
        if all_a is not None and all_b is not None:
            qa, kb = all_a[ids], all_b[ids]
        else:
            qa, kb = (to_device_async(t, device) for t in views(images[idx]))
        grp = source[ids]
        for g in opt.param_groups:
            g["lr"] = lr_at(step, settings)
        ctx = (torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16
               else contextlib.nullcontext())
        with ctx:
            q = embed(q_net, qa)
            q2 = embed(q_net, kb) if sym else None
            with torch.no_grad():
                momentum_update(list(k_net.parameters()), list(q_net.parameters()), m)
                keys = [keys_of(k_net, kb)] + ([keys_of(k_net, qa)] if sym else [])
            if q2 is not None:
                q, ids, grp = torch.cat([q, q2]), ids.repeat(2), grp.repeat(2)
            k = torch.cat(keys)
            l_pos = (q * k).sum(-1, keepdim=True)  # (N, K, 1)
            l_neg = torch.einsum("nkd,kdq->nkq", q, queue.to(q.dtype))
            same = same_source(ids, queue_ids)
            counts += self_negative_counts(same, grp, queue_groups)
            if mask:
                l_neg = l_neg.masked_fill(same[:, None, :], float("-inf"))
            logits = (torch.cat([l_pos, l_neg], -1) / temp).float()
        rows = q.shape[0]
        per_model = F.cross_entropy(logits.reshape(-1, 1 + kq),
                                    torch.zeros(rows * n_models, dtype=torch.long,
                                                device=device),
                                    reduction="none").reshape(rows, n_models).mean(0)
        opt.zero_grad(set_to_none=True)
        per_model.sum().backward()
        opt.step()
        if not models[0].freeze_queue:
            with torch.no_grad():
                for part in range(rows // b):  # as MoCo: a batch of keys at a time
                    sl = slice(part * b, (part + 1) * b)
                    queue[:, :, ptr:ptr + b] = k[sl].permute(1, 2, 0).to(queue.dtype)
                    queue_ids[ptr:ptr + b], queue_groups[ptr:ptr + b] = ids[sl], grp[sl]
                    ptr = (ptr + b) % kq
        pending.append(per_model.detach())
        if on_step is not None or (step + 1) % READ_LOSSES_EVERY == 0:
            # the one host read of a step when a caller asks for it; else every so often,
            # so a diverged run stops early
            done += read_losses(pending, step + 1 - len(pending))
            pending = []
        if on_step is not None:
            on_step(step, sum(done[-1]) / n_models)
    done += read_losses(pending, settings.steps - len(pending))
    losses = [list(curve) for curve in zip(*done, strict=True)] if done else [[] for _ in models]
    unfuse(q_net, [md.encoder_q for md in models])
    unfuse(k_net, [md.encoder_k for md in models])
    with torch.no_grad():
        for i, md in enumerate(models):
            md.queue.copy_(queue[i])
            md.queue_ptr.fill_(ptr)
            md.queue_ids.copy_(queue_ids)
            md.queue_groups.copy_(queue_groups)
            md.self_negatives += counts.to(md.self_negatives.device)
            md.eval()
    return losses

