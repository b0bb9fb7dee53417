"""Every private torch / torchvision API thetascope calls, in one place.

Each wrapper says why the private call is used and which public call replaces it if a
torch release changes or removes it; ``tests/test_torch_private.py`` compares each one with
its public equivalent on a small input and fails naming the function and the torch
version, so an upgrade that breaks one is caught by the suite, not by a wrong number::

    if has_fused_sgd_kernel(torch.device("cpu")):          # ssl/optim.py
        fused_sgd_(params, grads, bufs, weight_decay=1e-4, momentum=0.9, lr=0.03,
                   is_first_step=False)
    foreach_lerp_(key_params, query_params, 0.01)           # ssl/moco.py: MoCo's EMA
    tokens = vit_process_input(vit, images)                 # ssl/encoders.py: ViT patches
    batch_norm_train_out(x, w, b, rm, rv, 0.1, 1e-5, out=y, save_mean=m, save_invstd=i)
    batch_norm_backward_out(gy, x, w, m, i, 1e-5, [True, True, True], dx, dw, db)
    y = unsafe_view(y, (n, c, h, w))                        # ssl/split_bn.py

Checked here on torch 2.14.1 and torchvision 0.29.1; the tests run on whatever is installed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

__all__ = [
    "batch_norm_backward_out", "batch_norm_train_out", "fused_sgd_", "foreach_lerp_",
    "has_fused_sgd_kernel", "unsafe_view", "vit_process_input",
]


def has_fused_sgd_kernel(device: torch.device) -> bool:
    """Whether torch's dispatcher has an ``aten::_fused_sgd_`` kernel for ``device``'s
    type (CPU since torch 2.4, CUDA).

    Private: ``torch._C._dispatch_has_kernel_for_dispatch_key``; torch has no public
    query. Fallback when it is missing: ``False``, so ``ssl/optim.py`` takes torch's SGD
    loop (same formula, equal to float rounding, slower)."""
    key = {"cpu": "CPU", "cuda": "CUDA"}.get(device.type)
    has_kernel = getattr(torch._C, "_dispatch_has_kernel_for_dispatch_key", None)
    return key is not None and has_kernel is not None and has_kernel("aten::_fused_sgd_", key)


def fused_sgd_(params: list[torch.Tensor], grads: list[torch.Tensor],
               bufs: list[torch.Tensor], *, weight_decay: float, momentum: float,
               lr: float | torch.Tensor, is_first_step: bool) -> None:
    """One SGD step (momentum, weight decay, no dampening or Nesterov) over many tensors
    in one kernel: ``buf = g + wd·p`` on the first step, else ``buf = m·buf + g + wd·p``;
    ``p -= lr·buf``.

    Private: ``torch._fused_sgd_``, called directly on dense views of the weights because
    ``torch.optim.SGD(fused=True)`` refuses (or miscomputes) weights whose gradient has
    another memory layout (docs/PERFORMANCE.md). Public fallback:
    ``torch.optim.SGD(..., foreach=False)``, torch's per-tensor loop."""
    torch._fused_sgd_(params, grads, bufs, weight_decay=weight_decay, momentum=momentum,
                      lr=lr, dampening=0.0, nesterov=False, maximize=False,
                      is_first_step=is_first_step)


def foreach_lerp_(tensors: Sequence[torch.Tensor], ends: Sequence[torch.Tensor],
                  weight: float) -> None:
    """``t ← t + weight·(end − t)`` for every pair, as one multi-tensor kernel (MoCo's key
    encoder EMA with weight 1 − m: one launch instead of one per parameter).

    Private: ``torch._foreach_lerp_`` (what ``torch.optim`` uses internally). Public
    fallback: ``for t, e in zip(tensors, ends): t.lerp_(e, weight)``, equal numbers."""
    torch._foreach_lerp_(list(tensors), list(ends), weight)


def vit_process_input(vit: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torchvision ``VisionTransformer``'s patch tokens (N, H/16·W/16, hidden) before the
    class token is prepended.

    Private: ``VisionTransformer._process_input`` (it also checks the input size). Public
    fallback: ``vit.conv_proj(x).flatten(2).transpose(1, 2)``, the same computation."""
    return vit._process_input(x)  # type: ignore[operator]


def batch_norm_train_out(x: torch.Tensor, weight: torch.Tensor | None,
                         bias: torch.Tensor | None, running_mean: torch.Tensor,
                         running_var: torch.Tensor, momentum: float, eps: float, *,
                         out: torch.Tensor, save_mean: torch.Tensor,
                         save_invstd: torch.Tensor) -> None:
    """Training-mode batch norm of ``x`` written into ``out`` (a slice of a larger tensor:
    no copy), saving the batch mean and 1/std for the backward and updating the running
    statistics in place.

    Internal ATen op: ``torch.ops.aten.native_batch_norm.out`` (what ``F.batch_norm``
    dispatches to, without the ``out=`` form). Public fallback: ``out.copy_(F.batch_norm(x,
    running_mean, running_var, weight, bias, True, momentum, eps))`` plus the mean and
    invstd computed with ``torch.var_mean``: one more copy per split."""
    torch.ops.aten.native_batch_norm.out(x, weight, bias, running_mean, running_var, True,
                                         momentum, eps, out=out, save_mean=save_mean,
                                         save_invstd=save_invstd)


def batch_norm_backward_out(grad_out: torch.Tensor, x: torch.Tensor,
                            weight: torch.Tensor | None, save_mean: torch.Tensor,
                            save_invstd: torch.Tensor, eps: float, mask: list[bool],
                            dx: torch.Tensor, dweight: torch.Tensor,
                            dbias: torch.Tensor) -> None:
    """The backward of ``batch_norm_train_out`` written into ``dx``, ``dweight``, ``dbias``
    (``mask`` says which are wanted).

    Internal ATen op: ``torch.ops.aten.native_batch_norm_backward.out``. Public fallback:
    ``torch.autograd.grad`` through ``F.batch_norm`` on each split, one more copy each."""
    torch.ops.aten.native_batch_norm_backward.out(grad_out, x, weight, None, None, save_mean,
                                                  save_invstd, True, eps, mask, out0=dx,
                                                  out1=dweight, out2=dbias)


def unsafe_view(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``x`` reshaped to ``shape`` as a tensor autograd does not treat as a view, so the
    in-place ReLU / ``+= identity`` after every ResNet BN do not go through CopySlices (two
    full gradient copies per BN in backward; ResNet-50 at 128 px: 6 % of the step).

    Private: ``torch.ops.aten._unsafe_view``. Public fallback: ``x.reshape(shape)``, the
    same numbers, slower backward."""
    return torch.ops.aten._unsafe_view(x, shape)
