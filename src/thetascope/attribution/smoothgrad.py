"""Batched SmoothGrad of a two-input scalar target, with bounded memory.

Why by hand rather than Captum's ``NoiseTunnel``: the noise scale here is per image
(σ = noise_level × (max − min) of *that* image), the reference code's "same noise on both
views" must be reproducible, and (image, sample) rows are processed ``chunk_size`` at a time
across images so memory stays bounded at any resolution. ENV-NOTES records that a Captum
NoiseTunnel(Saliency) gives bitwise-equal maps for a matched setup; benchmarks compare them.

    s = SmoothGradSettings(samples=16, noise_level=0.15)   # or .from_config(cfg)
    map_x, map_r = smoothgrad_pair(target, x, r, s, seed=0)   # (N, H, W) each, ≥ 0
    back = rotate(map_r[:, None], -theta)[:, 0]                 # into x's frame

Memory: with ``memory_budget_mb`` > 0 the first backward pass runs a single row and
measures ``S``, the bytes of every tensor autograd saves for its backward (parameters
excluded: all rows share them). The remaining rows then go ``effective_chunk`` at a time:
rows = ⌊(budget − 64 MB) / S − 0.5⌋, at least 1, at most ``chunk_size``; the half row and
the 64 MB of headroom are for the gradients backward builds and fixed buffers. Measured
peaks above the model (CPU, fp32; benchmarks/memory_smoothgrad.py): ResNet-50 at 512²
S × (rows + 0.27) with S ≈ 0.87 GB; ConvNeXt-T and ViT-B/16 at 224² below S × rows;
ResNet-18 at 224² S × rows + 50 MB. So the default chunk (16 rows) would need ≈ 14 GB for
ResNet-50 at 512², and the default budget (2048 MB) runs it a row at a time. The budget is
the working memory on top of the model, its inputs and the torch runtime. Maps do not
depend on the chunking (each row's noise is seeded on its own), so the budget is not part
of a cell's identity.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
from torchvision.transforms.v2 import functional as TF

from thetascope.attribution.noise import row_noise as _row_noise  # tests patch this name
from thetascope.attribution.targets import Target
from thetascope.config.defaults import default
from thetascope.config.sections import SaliencyConfig
from thetascope.precision import resolve

if TYPE_CHECKING:
    from thetascope.config import ExperimentConfig


def _sal(name: str):
    return default(SaliencyConfig, name)


@dataclass(frozen=True, kw_only=True)
class SmoothGradSettings:
    """SmoothGrad's settings; defaults are ``SaliencyConfig``'s. Build them from a config
    with ``SmoothGradSettings.from_config(cfg)`` (the one place they are read from it)."""

    samples: int = _sal("samples")
    noise_level: float = _sal("noise_level")
    chunk_size: int = _sal("chunk_size")
    noise_pairing: str = _sal("noise_pairing")  # or "shared" (reference code)
    map: str = _sal("map")  # or "grad"
    channel_reduce: str = _sal("channel_reduce")  # or "mean"
    blur_sigma: float = _sal("blur_sigma")
    blur_kernel: int = _sal("blur_kernel")
    precision: str = _sal("precision")  # "fp32", "bf16", or "auto" (resolved on x's device)
    memory_budget_mb: int = _sal("memory_budget_mb")  # cap on rows × row_bytes (0: no cap)

    @classmethod
    def from_config(cls, cfg: ExperimentConfig) -> SmoothGradSettings:
        s = cfg.saliency
        return cls(samples=s.samples, noise_level=s.noise_level, chunk_size=s.chunk_size,
                   noise_pairing=s.noise_pairing, map=s.map, channel_reduce=s.channel_reduce,
                   blur_sigma=s.blur_sigma, blur_kernel=s.blur_kernel, precision=s.precision,
                   memory_budget_mb=s.memory_budget_mb)


class _GuidedReLUFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        out = x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (out,) = ctx.saved_tensors
        return grad.clamp(min=0) * (out > 0).to(grad.dtype)


class GuidedReLU(nn.Module):
    """ReLU whose backward pass keeps only positive gradients (guided backpropagation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _GuidedReLUFn.apply(x)


@contextlib.contextmanager
def guided_relus(module: nn.Module) -> Iterator[None]:
    """Temporarily swap every ``nn.ReLU`` in ``module`` for a ``GuidedReLU``."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in module.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU):
                swapped.append((parent, name, child))
                setattr(parent, name, GuidedReLU())
    try:
        yield
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


def _sigma(images: torch.Tensor, level: float) -> torch.Tensor:
    flat = images.flatten(1)
    return (level * (flat.max(1).values - flat.min(1).values)).view(-1, 1, 1, 1)


def _reduce(grad: torch.Tensor, inputs: torch.Tensor, s: SmoothGradSettings) -> torch.Tensor:
    m = (grad * inputs).abs() if s.map == "grad_x_input" else grad.abs()
    m = m.amax(1) if s.channel_reduce == "max" else m.mean(1)
    if s.blur_sigma > 0:
        m = TF.gaussian_blur(m[:, None], [s.blur_kernel] * 2, [s.blur_sigma] * 2)[:, 0]
    return m


_HEADROOM_ROWS = 0.5  # backward's transient gradients, in rows (see the module docstring)
_RESERVE_MB = 64  # fixed buffers, whatever the row size (ResNet-18 at 224²: ≈ 50 MB)


def _precision(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    if bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def saved_bytes() -> Iterator[list[int]]:
    """Count the bytes autograd saves for backward in the block (distinct storages,
    parameters excluded); the count is in the yielded list's single item. The graph is
    unchanged: the hook hands each tensor back as is."""
    seen: dict[int, int] = {}
    total = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, nn.Parameter):
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
            total[0] = sum(seen.values())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield total


def effective_chunk(chunk_size: int, budget_mb: int, row_saved_bytes: int) -> int:
    """Rows per backward pass: ⌊(budget − 64 MB) / S − 0.5⌋ clipped to [1, chunk_size]; S is one
    row's saved bytes. ``budget_mb`` 0 (or S unknown) keeps ``chunk_size``."""
    if budget_mb <= 0 or row_saved_bytes <= 0:
        return chunk_size
    rows = int((budget_mb - _RESERVE_MB) * 2**20 / row_saved_bytes - _HEADROOM_ROWS)
    return max(1, min(chunk_size, rows))


def smoothgrad_pair(
    target: Target,
    x: torch.Tensor,
    r: torch.Tensor,
    settings: SmoothGradSettings,
    seed: int = 0,
    on_chunk: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SmoothGrad maps (N, H, W) for both inputs of ``target(x, r)``.

    The mean gradient over ``samples`` noisy copies is multiplied by the clean input (as
    in the reference code), made absolute and reduced over channels, then optionally
    blurred. ``on_chunk(rows_done, rows_total)`` reports progress.
    """
    if x.shape != r.shape:
        raise ValueError(f"views differ in shape: {tuple(x.shape)} vs {tuple(r.shape)}")
    n, s = x.shape[0], settings.samples
    sig_x, sig_r = _sigma(x, settings.noise_level), _sigma(r, settings.noise_level)
    gx, gr = torch.zeros_like(x), torch.zeros_like(r)
    rows = torch.arange(n, device=x.device).repeat_interleave(s)  # (image, sample) rows
    bf16 = resolve(settings.precision, x.device) == "bf16"
    chunk, probe = settings.chunk_size, settings.memory_budget_mb > 0 and settings.chunk_size > 1
    start = 0
    while start < rows.numel():
        idx = rows[start : start + (1 if probe else chunk)]  # the probe: one real row
        eps_x, eps_r = _row_noise(seed, start, idx.numel(), x.shape[1:],
                                  settings.noise_pairing, x.device)
        xn = (x[idx] + eps_x * sig_x[idx]).requires_grad_(True)
        rn = (r[idx] + eps_r * sig_r[idx]).requires_grad_(True)
        counter = saved_bytes() if probe else contextlib.nullcontext([0])
        with counter as saved, _precision(x.device, bf16):
            out = target(xn, rn)
        dx, dr = torch.autograd.grad(out.float().sum(), [xn, rn])
        gx.index_add_(0, idx, dx.float())
        gr.index_add_(0, idx, dr.float())
        if probe:
            chunk, probe = effective_chunk(chunk, settings.memory_budget_mb, saved[0]), False
        start += idx.numel()
        if on_chunk is not None:
            on_chunk(start, rows.numel())
    return _reduce(gx / s, x, settings), _reduce(gr / s, r, settings)
