"""Each private torch call in ``thetascope/torch_private.py`` against its public equivalent.

    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/test_torch_private.py

A failure names the wrapper and the installed torch version: the release changed or
removed a private API, and the wrapper's docstring says which public call replaces it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

from thetascope import torch_private as tp

VERSIONS = f"torch {torch.__version__}, torchvision {torchvision.__version__}"


def _same(name: str, got: torch.Tensor, want: torch.Tensor, **tol) -> None:
    try:
        torch.testing.assert_close(got, want, **tol)
    except AssertionError as err:
        pytest.fail(f"torch_private.{name} no longer matches its public equivalent on "
                    f"{VERSIONS}: {err}")


def _runs(name: str, fn):
    try:
        return fn()
    except (AttributeError, RuntimeError, TypeError) as err:
        pytest.fail(f"torch_private.{name} fails on {VERSIONS} (private API changed or "
                    f"removed; see its docstring for the public fallback): {err!r}")


def test_has_fused_sgd_kernel_on_cpu():
    if not _runs("has_fused_sgd_kernel", lambda: tp.has_fused_sgd_kernel(torch.device("cpu"))):
        pytest.fail(f"torch_private.has_fused_sgd_kernel: no CPU kernel of aten::_fused_sgd_ "
                    f"on {VERSIONS} (or the dispatcher query is gone): training falls back "
                    "to the slower SGD loop")
    assert not tp.has_fused_sgd_kernel(torch.device("meta"))  # no key: the loop


@pytest.mark.parametrize("first", [True, False])
def test_fused_sgd_equals_torch_sgd(first):
    torch.manual_seed(0)
    p0, g = torch.randn(5, 3), torch.randn(5, 3)
    buf0 = torch.zeros(5, 3) if first else torch.randn(5, 3)
    p, buf = p0.clone(), buf0.clone()
    _runs("fused_sgd_", lambda: tp.fused_sgd_([p], [g], [buf], weight_decay=0.1,
                                             momentum=0.9, lr=0.5, is_first_step=first))
    ref = torch.nn.Parameter(p0.clone())
    opt = torch.optim.SGD([ref], lr=0.5, momentum=0.9, weight_decay=0.1, foreach=False)
    if not first:
        opt.state[ref]["momentum_buffer"] = buf0.clone()
    ref.grad = g.clone()
    opt.step()
    _same("fused_sgd_", p, ref.detach())
    _same("fused_sgd_", buf, opt.state[ref]["momentum_buffer"])


def test_foreach_lerp_equals_lerp():
    torch.manual_seed(0)
    ks, qs = [torch.randn(4), torch.randn(2, 3)], [torch.randn(4), torch.randn(2, 3)]
    want = [k.lerp(q, 0.25) for k, q in zip(ks, qs, strict=True)]
    _runs("foreach_lerp_", lambda: tp.foreach_lerp_(ks, qs, 0.25))
    for k, w in zip(ks, want, strict=True):
        _same("foreach_lerp_", k, w)


def test_vit_process_input_equals_the_patch_projection():
    vit = torchvision.models.VisionTransformer(image_size=32, patch_size=16, num_layers=1,
                                               num_heads=2, hidden_dim=8, mlp_dim=16)
    x = torch.randn(2, 3, 32, 32)
    got = _runs("vit_process_input", lambda: tp.vit_process_input(vit, x))
    _same("vit_process_input", got, vit.conv_proj(x).flatten(2).transpose(1, 2))


def test_batch_norm_out_forms_equal_f_batch_norm_and_its_gradient():
    torch.manual_seed(0)
    x, w, b = torch.randn(6, 3, 4, 4), torch.rand(3) + 0.5, torch.randn(3)
    rm, rv = torch.zeros(3), torch.ones(3)
    out, mean, invstd = torch.empty_like(x), torch.empty(3), torch.empty(3)
    _runs("batch_norm_train_out", lambda: tp.batch_norm_train_out(
        x, w, b, rm, rv, 0.1, 1e-5, out=out, save_mean=mean, save_invstd=invstd))
    xr, wr, br = (t.clone().requires_grad_(True) for t in (x, w, b))
    rm_ref, rv_ref = torch.zeros(3), torch.ones(3)
    ref = F.batch_norm(xr, rm_ref, rv_ref, wr, br, True, 0.1, 1e-5)
    _same("batch_norm_train_out", out, ref.detach(), rtol=1e-5, atol=1e-5)
    _same("batch_norm_train_out", rm, rm_ref)
    _same("batch_norm_train_out", rv, rv_ref)
    _same("batch_norm_train_out", mean, x.mean((0, 2, 3)))

    gy = torch.randn_like(x)
    dx, dw, db = torch.empty_like(x), torch.empty(3), torch.empty(3)
    _runs("batch_norm_backward_out", lambda: tp.batch_norm_backward_out(
        gy, x, w, mean, invstd, 1e-5, [True, True, True], dx, dw, db))
    gx, gw, gb = torch.autograd.grad(ref, [xr, wr, br], gy)
    _same("batch_norm_backward_out", dx, gx, rtol=1e-4, atol=1e-5)
    _same("batch_norm_backward_out", dw, gw, rtol=1e-4, atol=1e-5)
    _same("batch_norm_backward_out", db, gb, rtol=1e-4, atol=1e-5)


def test_unsafe_view_equals_reshape_and_is_not_a_view_to_autograd():
    x = torch.randn(2, 6, 3, 3, requires_grad=True)
    y = x * 1.0
    got = _runs("unsafe_view", lambda: tp.unsafe_view(y, (4, 3, 3, 3)))
    _same("unsafe_view", got, y.reshape(4, 3, 3, 3))
    if got._is_view():
        pytest.fail(f"torch_private.unsafe_view returns an autograd view on {VERSIONS}: "
                    "in-place ops after split BN now copy the gradient twice")
