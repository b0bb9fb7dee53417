"""MoCo's optimiser: SGD with momentum and weight decay, one fused pass per weight.

    opt = sgd(model.trainable_parameters(), TrainSettings(lr=0.03))
    loss.backward(); opt.step()          # same numbers as torch.optim.SGD's loop

torch's fused SGD kernel (CPU since torch 2.4) reads weight, gradient and momentum buffer
once instead of three times: ResNet-18 on the 2-core VM takes 7.5 ms a step against
13-32 ms for torch's default CPU loop. But on the CPU that kernel copies a non-contiguous
tensor to contiguous and back, and channels_last conv weights (the bf16 path) are not
contiguous: the copies cost what the fusion saves. ``DenseSGD`` hands the kernel
*contiguous views* of such weights instead (a channels_last (O, I, kh, kw) tensor is a
contiguous (O, kh, kw, I) one). The update is elementwise, so any order of the elements
gives the same numbers, provided weight, gradient and buffer are viewed the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

import torch

from thetascope.torch_private import fused_sgd_, has_fused_sgd_kernel

if TYPE_CHECKING:  # train.py imports this module
    from thetascope.ssl.train import TrainSettings

_CL = torch.channels_last


def _views(tensors: list[torch.Tensor]) -> list[torch.Tensor] | None:
    """The same dense, contiguous view of each tensor, if one exists for all of them
    (all contiguous, or all channels_last); None for mixed layouts."""
    if all(t.is_contiguous() for t in tensors):
        return tensors
    if all(t.dim() == 4 and t.is_contiguous(memory_format=_CL) for t in tensors):
        return [t.permute(0, 2, 3, 1) for t in tensors]
    return None


def _loop_update(p: torch.Tensor, g: torch.Tensor, buf: torch.Tensor, first: bool,
                 group: dict) -> None:
    """torch's SGD loop formula for one tensor (mixed layouts: after a resume, say; the
    fused kernel gave wrong numbers for a channels_last weight with a contiguous
    gradient on torch 2.14)."""
    d_p = g.add(p, alpha=group["weight_decay"])
    if first:
        buf.copy_(d_p)
    else:
        buf.mul_(group["momentum"]).add_(d_p)
    lr = group["lr"]
    if isinstance(lr, torch.Tensor):  # a device learning rate (a CUDA-graphed step)
        p.sub_(buf * lr)
    else:
        p.add_(buf, alpha=-lr)


@lru_cache(maxsize=8)
def _kernel_works(device: torch.device) -> bool:
    """Whether this torch has a fused SGD kernel for ``device`` (asked of torch's
    dispatcher: CPU since torch 2.4, and CUDA; other devices take the loop)."""
    return has_fused_sgd_kernel(device)


class DenseSGD(torch.optim.SGD):
    """``torch.optim.SGD`` (momentum, weight decay, no dampening or Nesterov) whose step
    is torch's fused kernel on dense views of the weights (module docstring). Its state
    dict is SGD's: checkpoints load into either class. A group's ``lr`` may be a 0-dim
    tensor on the weights' device (``ssl/train_step.py``'s CUDA graph updates it in place)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, momentum: float,
                 weight_decay: float) -> None:
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            # tensors starting their momentum, then the others: the kernel takes one
            # is_first_step flag per call (on it, buffer = gradient)
            batches: dict[tuple, list[list[torch.Tensor]]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                first = "momentum_buffer" not in state
                if first:
                    state["momentum_buffer"] = torch.empty_like(p.grad)
                views = _views([p, p.grad, state["momentum_buffer"]])
                if views is None:
                    _loop_update(p, p.grad, state["momentum_buffer"], first, group)
                    continue
                lists = batches.setdefault((first, p.device, p.dtype), [[], [], []])
                for lst, v in zip(lists, views, strict=True):
                    lst.append(v)
            for (first, _, _), (ps, gs, bs) in batches.items():
                fused_sgd_(ps, gs, bs, weight_decay=group["weight_decay"],
                           momentum=group["momentum"], lr=group["lr"], is_first_step=first)
        return loss


def sgd(params: Iterable[torch.nn.Parameter], settings: TrainSettings) -> torch.optim.SGD:
    """The optimiser ``pretrain`` builds from ``settings``:
    ``DenseSGD`` where this torch has a fused kernel for the weights' device, else
    torch's SGD loop (same formula, equal to float rounding)."""
    params = list(params)
    kw = {"lr": settings.lr, "momentum": settings.momentum,
          "weight_decay": settings.weight_decay}
    if params and settings.momentum > 0 and _kernel_works(params[0].device):
        return DenseSGD(params, **kw)
    return torch.optim.SGD(params, **kw)
