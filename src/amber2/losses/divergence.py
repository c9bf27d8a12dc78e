r"""Divergences between distributions in torch, finite in value **and gradient** at exact zeros.

Target distributions built from votes (Eq. 1) are full of exact zeros, and a float32 softmax can
underflow to zero too. The textbook expressions then produce ``0 * log 0 = nan`` in the forward pass or
``inf * 0 = nan`` in the backward pass. Here every :math:`a \log(a / b)` term is evaluated through
masked "safe" arguments (``torch.where`` on both the input and the output), so a term with
:math:`a = 0` contributes exactly 0 to the value and no NaN/inf to any gradient, even when both
distributions are zero at the same class.

All functions reduce over ``dim`` only (the class axis, last by default) and broadcast every other
dimension, so they serve one run ``(B, C)`` and a stacked ensemble ``(G, S, B, C)`` alike.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from amber2.losses._reduce import broadcast_shape

__all__ = ["js_distance", "js_divergence", "kl_divergence"]


def _log_base(base: float) -> float:
    base = float(base)
    if not (base > 0 and base != 1 and math.isfinite(base)):
        raise ValueError(f"base must be a positive number other than 1; got {base}")
    return math.log(base)


def _check_pair(p: Tensor, q: Tensor, dim: int) -> None:
    if not (isinstance(p, Tensor) and isinstance(q, Tensor)):
        raise TypeError(f"p and q must be torch tensors; got {type(p).__name__} and {type(q).__name__}")
    if p.shape[dim] != q.shape[dim]:
        raise ValueError(
            f"p and q must have the same number of classes along dim {dim}; got shapes "
            f"{tuple(p.shape)} and {tuple(q.shape)}"
        )


def _a_log_a_over_b(a: Tensor, b: Tensor) -> Tensor:
    r"""Elementwise :math:`a \ln(a / b)`, 0 where :math:`a = 0` (or ``b = 0``), NaN-free gradients."""
    a, b = torch.broadcast_tensors(a, b)
    ok = (a > 0) & (b > 0)
    one = torch.ones((), dtype=a.dtype, device=a.device)
    a_safe = torch.where(ok, a, one)
    b_safe = torch.where(ok, b, one)
    return torch.where(ok, a_safe * (torch.log(a_safe) - torch.log(b_safe)), torch.zeros_like(a_safe))


def kl_divergence(p: Tensor, q: Tensor, *, dim: int = -1, eps: float = 0.0, base: float = math.e) -> Tensor:
    r"""Kullback-Leibler divergence per item, :math:`KL(p \| q) = \sum_c p_c \log(p_c / q_c)`.

    Terms with :math:`p_c = 0` contribute 0 (value and gradient). With ``eps > 0`` the second argument is
    smoothed, :math:`q \leftarrow (q + \epsilon) / (1 + C\epsilon)`, so that :math:`q_c = 0 < p_c` stays
    finite; with ``eps = 0`` such a term is ``inf`` (KL is unbounded).

    Args:
        p: First distribution, shape ``(..., C)`` (any dims; classes along ``dim``).
        q: Second distribution, broadcastable against ``p``.
        dim: Class axis.
        eps: Smoothing of ``q`` (>= 0).
        base: Logarithm base (default ``e``: nats).

    Returns:
        Tensor of the broadcast shape without ``dim``; values in :math:`[0, \infty]`.

    Raises:
        ValueError: Different class counts, ``eps < 0`` or a bad ``base``.
    """
    _check_pair(p, q, dim)
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0; got {eps}")
    log_base = _log_base(base)
    if eps > 0:
        q = (q + eps) / (1.0 + q.shape[dim] * eps)
    kl = _a_log_a_over_b(p, q).sum(dim=dim)
    if eps == 0:
        # p_c > 0 = q_c: KL is +inf; say so instead of returning the masked (finite) sum.
        q_b = torch.broadcast_to(q, broadcast_shape(p.shape, q.shape))
        inf_rows = ((q_b <= 0) & (p > 0)).any(dim=dim)
        kl = torch.where(inf_rows, torch.full_like(kl, math.inf), kl)
    return kl / log_base


class _JSDivergence(torch.autograd.Function):
    r"""Per-item :math:`JS(p \| q)` in nats (``dim`` last) with the masked expression's gradient.

    Written as one autograd node because the loss of a training step evaluates JS several times per head
    on small tensors: traced by autograd, the masked expression is ~35 operators forward and ~40 backward,
    and on a GPU each is a kernel launch that the host has to issue. Here the forward pass is ~12 and the
    backward ~6 per argument that needs a gradient, with the same values and gradients.

    Value: :math:`\tfrac12\sum_c [p_c > 0]\, p_c (\ln p_c - \ln m_c) + \tfrac12\sum_c [q_c > 0]\, q_c
    (\ln q_c - \ln m_c)`, :math:`m = \tfrac12 (p + q)`. Gradient with respect to :math:`p_c` (the
    derivative of that masked sum; symmetric for :math:`q`):

    .. math::
        \frac{\partial JS}{\partial p_c} = \begin{cases}
            \tfrac12 (\ln p_c - \ln m_c) & p_c > 0 \\
            -\tfrac12 & p_c = 0 < q_c \\
            0 & p_c = q_c = 0
        \end{cases}
    """

    @staticmethod
    def forward(ctx, p: Tensor, q: Tensor) -> Tensor:  # type: ignore[override]
        m = (p + q) * 0.5
        log_m = torch.log(m)
        # a * (ln a - ln m) is NaN exactly where a = 0 (0 * -inf, or 0 * (-inf - -inf)): those terms are 0.
        # Where m underflows to 0 beside a tiny a > 0 (a = 2^-149, m = a / 2 rounds to 0), a * (ln a - ln m) is
        # +inf: the masked expression drops that term too (it needs m > 0).
        dp = torch.log(p) - log_m
        dq = torch.log(q) - log_m
        tp = torch.nan_to_num(p * dp, nan=0.0, posinf=0.0)
        tq = torch.nan_to_num(q * dq, nan=0.0, posinf=0.0)
        ctx.save_for_backward(p, q, m, dp, dq)
        return (tp + tq).sum(dim=-1) * 0.5

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
        if torch.is_grad_enabled():  # autograd runs a backward with grad mode on only for create_graph=True
            raise RuntimeError("js_divergence has no second derivative (its gradient is written by hand); "
                               "differentiate the masked expression instead")
        p, q, m, dp, dq = ctx.saved_tensors
        g = grad.unsqueeze(-1)
        m_pos = m > 0
        out: list[Tensor | None] = [None, None]
        for i, (a, d) in enumerate(((p, dp), (q, dq))):
            if not ctx.needs_input_grad[i]:
                continue
            # 1/2 (ln a - ln m) where a > 0 and m > 0, -1/2 where a = 0 < m (the m term alone), 0 where m = 0
            local = torch.where((a > 0) & m_pos, d, m_pos.to(d.dtype).neg()) * 0.5
            out[i] = (g * local).sum_to_size(a.shape)
        return out[0], out[1]


def js_divergence(p: Tensor, q: Tensor, *, dim: int = -1, base: float = math.e) -> Tensor:
    r"""Jensen-Shannon divergence per item, safe at zeros (values and gradients).

    .. math::
        JS(p \| q) = \tfrac12 KL(p \| m) + \tfrac12 KL(q \| m), \quad m = \tfrac12 (p + q),

    terms with :math:`p_c = 0` (resp. :math:`q_c = 0`) contributing 0. Symmetric, bounded by
    :math:`\ln 2` (nats) or 1 (bits). At a class where one argument is 0 the one-sided derivative with
    respect to that argument is :math:`-\infty`; the gradient returned there is the finite one of the
    masked expression (only the ``m`` term), which is what training through a softmax needs.

    Args:
        p: First distribution, shape ``(..., C)``.
        q: Second distribution, broadcastable against ``p``.
        dim: Class axis.
        base: Logarithm base (default ``e``).

    Returns:
        Tensor of the broadcast shape without ``dim``.

    Raises:
        ValueError: Different class counts or a bad ``base``.

    Examples:
        >>> y = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
        >>> round(js_divergence(y, torch.tensor([[0.7, 0.1, 0.1, 0.1]])).item(), 4)
        0.1505
    """
    _check_pair(p, q, dim)
    log_base = _log_base(base)
    if dim >= 0:  # an axis of the broadcast shape, counted from the end in each argument
        dim -= max(p.ndim, q.ndim)
    if dim != -1:
        p, q = p.movedim(dim, -1), q.movedim(dim, -1)
    js = _JSDivergence.apply(p, q)
    return js if log_base == 1.0 else js / log_base


def js_distance(p: Tensor, q: Tensor, *, dim: int = -1, base: float = math.e) -> Tensor:
    r"""Jensen-Shannon distance :math:`\sqrt{JS(p \| q)}` per item, with a safe gradient at 0.

    :math:`d\sqrt{x}/dx` is infinite at :math:`x = 0` (identical distributions), where the gradient of
    JS is 0, so the chain rule would give ``inf * 0 = nan``. Below :math:`x = \epsilon_{mach}^2` of the
    dtype (numerically zero: JS is quadratic in the difference of the distributions) the gradient is
    set to 0, the value stays exact.

    Args:
        p: First distribution, shape ``(..., C)``.
        q: Second distribution, broadcastable against ``p``.
        dim: Class axis.
        base: Logarithm base of the divergence under the root.

    Returns:
        Tensor of the broadcast shape without ``dim``; range :math:`[0, \sqrt{\ln 2}]` in nats.
    """
    js = js_divergence(p, q, dim=dim, base=base).clamp_min(0.0)
    tiny = torch.finfo(js.dtype).eps ** 2 if js.is_floating_point() else 1e-30
    big = js > tiny
    root = torch.sqrt(torch.where(big, js, torch.ones_like(js)))
    return torch.where(big, root, torch.sqrt(js).detach())
