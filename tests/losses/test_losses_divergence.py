"""JS / KL in torch: values against scipy, finite values and gradients at exact zeros, gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy

from amber2.losses import js_distance, js_divergence, kl_divergence


def dists_with_zeros(gen: torch.Generator, shape: tuple[int, ...], dtype=torch.float64) -> torch.Tensor:
    x = torch.rand(shape, generator=gen, dtype=dtype)
    x[torch.rand(shape, generator=gen) < 0.4] = 0.0
    empty = x.sum(-1) == 0
    x[empty] = torch.nn.functional.one_hot(torch.zeros(int(empty.sum()), dtype=torch.long), shape[-1]).to(dtype)
    return x / x.sum(-1, keepdim=True)


def test_js_against_scipy():
    gen = torch.Generator().manual_seed(0)
    p, q = dists_with_zeros(gen, (100, 6)), dists_with_zeros(gen, (100, 6))
    ref = np.array([jensenshannon(a, b) for a, b in zip(p.numpy(), q.numpy(), strict=True)])
    np.testing.assert_allclose(js_divergence(p, q).numpy(), ref**2, atol=1e-12)
    np.testing.assert_allclose(js_distance(p, q).numpy(), ref, atol=1e-7)
    ref2 = np.array([jensenshannon(a, b, base=2) for a, b in zip(p.numpy(), q.numpy(), strict=True)])
    np.testing.assert_allclose(js_divergence(p, q, base=2).numpy(), ref2**2, atol=1e-12)


def test_js_symmetric_bounded_zero_on_identity():
    gen = torch.Generator().manual_seed(1)
    p, q = dists_with_zeros(gen, (50, 5)), dists_with_zeros(gen, (50, 5))
    torch.testing.assert_close(js_divergence(p, q), js_divergence(q, p))
    assert torch.all(js_divergence(p, q) >= -1e-15) and torch.all(js_divergence(p, q) <= math.log(2) + 1e-12)
    assert torch.allclose(js_divergence(p, p), torch.zeros(50, dtype=p.dtype), atol=1e-15)
    disjoint = js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    assert disjoint.item() == pytest.approx(math.log(2))
    assert js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), base=2).item() == pytest.approx(1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fn", [js_divergence, js_distance])
def test_finite_values_and_gradients_at_zeros(fn, dtype):
    # zeros in p only, q only, both at the same class, and identical rows
    p = torch.tensor([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.2, 0.3, 0.5, 0.0]],
                     dtype=dtype, requires_grad=True)
    q = torch.tensor([[0.7, 0.1, 0.1, 0.1], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.2, 0.3, 0.5, 0.0]],
                     dtype=dtype, requires_grad=True)
    value = fn(p, q)
    assert torch.isfinite(value).all()
    value.sum().backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()


@pytest.mark.parametrize("fn", [js_divergence, js_distance])
def test_finite_gradients_through_underflowing_softmax(fn):
    y = torch.tensor([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    logits = torch.tensor([[200.0, -200.0, 0.0], [50.0, -150.0, -150.0], [0.0, 0.0, 300.0]], requires_grad=True)
    s = torch.softmax(logits, -1)
    assert (s == 0).any()  # float32 underflow: exact zeros in the prediction too
    loss = fn(y, s).sum()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_gradcheck_wrt_logits_with_zero_targets():
    gen = torch.Generator().manual_seed(2)
    y = dists_with_zeros(gen, (4, 5))
    y[0] = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    z = torch.randn(4, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: js_divergence(y, torch.softmax(z, -1)), (z,))
    assert torch.autograd.gradcheck(lambda z: js_divergence(torch.softmax(z, -1), y, base=2), (z,))
    assert torch.autograd.gradcheck(lambda z: js_distance(y, torch.softmax(z, -1)), (z,))
    assert torch.autograd.gradcheck(lambda z: kl_divergence(y, torch.softmax(z, -1)), (z,))
    z2 = torch.randn(4, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: js_divergence(torch.softmax(a, -1), torch.softmax(b, -1)), (z, z2)
    )


def test_js_distance_gradient_is_zero_at_identity():
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    s = torch.softmax(z, -1)
    js_distance(s, s.detach().clone()).sum().backward()
    assert torch.isfinite(z.grad).all() and torch.allclose(z.grad, torch.zeros_like(z.grad))


def test_kl():
    gen = torch.Generator().manual_seed(3)
    p = dists_with_zeros(gen, (20, 4))
    q = torch.softmax(torch.randn(20, 4, dtype=torch.float64, generator=gen), -1)
    np.testing.assert_allclose(kl_divergence(p, q).numpy(), scipy_entropy(p.numpy(), q.numpy(), axis=1), atol=1e-12)
    np.testing.assert_allclose(
        kl_divergence(p, q, base=2).numpy(), scipy_entropy(p.numpy(), q.numpy(), axis=1, base=2), atol=1e-12
    )
    a, b = torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0])
    assert kl_divergence(a, b).item() == math.inf
    assert math.isfinite(kl_divergence(a, b, eps=1e-8).item())
    assert kl_divergence(b, a).item() == pytest.approx(math.log(2))


def test_leading_dims_and_dim_argument():
    gen = torch.Generator().manual_seed(4)
    p, q = dists_with_zeros(gen, (2, 3, 8, 5)), dists_with_zeros(gen, (1, 3, 8, 5))
    out = js_divergence(p, q)
    assert out.shape == (2, 3, 8)
    torch.testing.assert_close(out[1, 2], js_divergence(p[1, 2], q[0, 2]))
    torch.testing.assert_close(js_divergence(p.transpose(-1, 0), q.transpose(-1, 0), dim=0), out.permute(1, 2, 0))


def test_errors():
    with pytest.raises(ValueError, match="same number of classes"):
        js_divergence(torch.ones(2, 3) / 3, torch.ones(2, 4) / 4)
    with pytest.raises(ValueError, match="base"):
        js_divergence(torch.ones(3) / 3, torch.ones(3) / 3, base=1)
    with pytest.raises(TypeError, match="torch tensors"):
        js_divergence(np.ones(3) / 3, torch.ones(3) / 3)
    with pytest.raises(ValueError, match="eps"):
        kl_divergence(torch.ones(3) / 3, torch.ones(3) / 3, eps=-1.0)


def _masked_js_reference(p: torch.Tensor, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The masked expression traced by autograd (what the fused node replaces), kept here as the reference."""
    def term(a, b):
        a, b = torch.broadcast_tensors(a, b)
        ok = (a > 0) & (b > 0)
        a_safe, b_safe = torch.where(ok, a, torch.ones_like(a)), torch.where(ok, b, torch.ones_like(b))
        return torch.where(ok, a_safe * (torch.log(a_safe) - torch.log(b_safe)), torch.zeros_like(a_safe))
    m = 0.5 * (p + q)
    return 0.5 * term(p, m).sum(dim=dim) + 0.5 * term(q, m).sum(dim=dim)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shapes,dim", [(((30, 5), (30, 5)), -1), (((6, 1, 30, 4), (6, 3, 30, 4)), -1),
                                        (((30, 4), (2, 30, 4)), -1), (((5, 30), (5, 30)), 0)])
def test_fused_js_equals_the_masked_expression(shapes, dim, dtype):
    """Values and both gradients (zeros in p, in q, in both; broadcast arguments; another class axis)."""
    gen = torch.Generator().manual_seed(3)
    ps, qs = shapes
    p, q = dists_with_zeros(gen, ps, dtype), dists_with_zeros(gen, qs, dtype)
    if dim != -1:
        p, q = p.movedim(-1, dim).contiguous(), q.movedim(-1, dim).contiguous()
    if dim == -1:
        q[..., 0, :] = p[..., 0, :]  # identical rows, zeros at the same classes
    for a in (p, q):
        a.requires_grad_(True)
    w = torch.rand(torch.broadcast_shapes(p.sum(dim).shape, q.sum(dim).shape), generator=gen, dtype=dtype)
    got = js_divergence(p, q, dim=dim)
    gp, gq = torch.autograd.grad((got * w).sum(), (p, q))
    ref = _masked_js_reference(p, q, dim)
    rp, rq = torch.autograd.grad((ref * w).sum(), (p, q))
    tol = {"atol": 1e-6, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-13, "rtol": 1e-12}
    torch.testing.assert_close(got, ref, **tol)
    torch.testing.assert_close(gp, rp, **tol)
    torch.testing.assert_close(gq, rq, **tol)
    assert bool((p == 0).any()) and bool((q == 0).any())


def test_fused_js_gradient_only_where_asked():
    gen = torch.Generator().manual_seed(4)
    y = dists_with_zeros(gen, (8, 4))
    z = torch.randn(8, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    s = torch.softmax(z, -1)
    (g,) = torch.autograd.grad(js_divergence(y, s).sum(), (z,), retain_graph=True)
    (r,) = torch.autograd.grad(_masked_js_reference(y, s).sum(), (z,))
    torch.testing.assert_close(g, r)
    assert y.grad is None


def test_fused_js_where_the_mixture_underflows():
    """a = 2^-149 beside 0: m = a / 2 rounds to 0; the masked expression drops that term (value and gradient)."""
    prev = torch.set_flush_denormal(False)
    try:
        tiny = torch.tensor(2.0**-149, dtype=torch.float32)
        assert tiny > 0 and tiny * 0.5 == 0
        p = torch.tensor([[float(tiny), 0.5, 0.5 - float(tiny), 0.0]], dtype=torch.float32, requires_grad=True)
        q = torch.tensor([[0.0, 0.25, 0.25, 0.5]], dtype=torch.float32, requires_grad=True)
        got = js_divergence(p, q)
        gp, gq = torch.autograd.grad(got.sum(), (p, q))
        ref = _masked_js_reference(p, q)
        rp, rq = torch.autograd.grad(ref.sum(), (p, q))
        assert torch.isfinite(got).all() and torch.isfinite(gp).all() and torch.isfinite(gq).all()
        torch.testing.assert_close(got, ref)
        torch.testing.assert_close(gp, rp)
        torch.testing.assert_close(gq, rq)
    finally:
        torch.set_flush_denormal(bool(prev))


def test_fused_js_positive_dim_with_broadcast_arguments():
    gen = torch.Generator().manual_seed(5)
    p = dists_with_zeros(gen, (5, 5)).T.contiguous()  # classes along axis 0 of p, axis 1 of the broadcast shape
    q = dists_with_zeros(gen, (3, 5, 5)).transpose(1, 2).contiguous()
    torch.testing.assert_close(js_divergence(p, q, dim=1), _masked_js_reference(p, q, dim=1))
    torch.testing.assert_close(js_divergence(p, q, dim=-2), _masked_js_reference(p, q, dim=-2))


def test_fused_js_refuses_a_second_derivative():
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.softmax(torch.randn(3, 4, dtype=torch.float64), -1)
    with pytest.raises(RuntimeError, match="no second derivative"):
        torch.autograd.grad(js_divergence(y, torch.softmax(z, -1)).sum(), (z,), create_graph=True)
