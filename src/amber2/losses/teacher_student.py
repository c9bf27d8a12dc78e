r"""The AmbER² teacher-student loss (Eq. 3-6 of the paper) and its composable parts.

One head is the **student** :math:`s = p_{m^*}` (the fusion head in the paper); the other heads are
**experts** :math:`p_m`. With :math:`y` the raters' distribution (Eq. 1) and JS the Jensen-Shannon
divergence (natural log):

.. math::
    L_{RAI} &= JS(y \| s)                                               && (3) \\
    L_{MAI} &= \sum_{m \ne m^*} u_m\, JS(s \| p_m)                     && (4) \\
    u_m &= \mathrm{softmax}_m(-\kappa D_m), \quad D_m = JS(p_m \| y)     && (5,\ \text{per sample}) \\
    L &= \lambda_{RAI} L_{RAI} + \lambda_{MAI} L_{MAI}
         \;[+\; \lambda_{RAI} \textstyle\sum_{m \ne m^*} JS(y \| p_m)]     && (6)

The bracketed expert-fidelity term and three other choices the paper leaves open are the switches of
:class:`AmbER2Options` (see its docstring and ``docs/metrics_and_losses.md``).

Shapes: every head's probabilities have shape ``(..., B, C)``; leading dims are runs of a stacked
ensemble and broadcast against each other and against ``y`` (e.g. experts ``(G, 1, B, C)`` shared by
students ``(G, S, B, C)``, ``y`` of shape ``(B, C)``). Per-sample terms have the broadcast shape
``(..., B)``; batch reductions are (weighted) means over ``B``, so a scalar term has shape ``(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, StrictBool
from torch import Tensor

from amber2.losses._reduce import as_hyperparameter, broadcast_shape, weighted_mean
from amber2.losses.divergence import js_distance, js_divergence

__all__ = [
    "AmbER2LossTerms",
    "AmbER2Options",
    "AmbER2PerSample",
    "amber2_loss",
    "amber2_per_sample",
    "expert_distances",
    "expert_weights",
    "modality_alignment",
    "rater_fidelity",
]

JSKind = Literal["divergence", "distance"]
_JS_KINDS = ("divergence", "distance")


class AmbER2Options(BaseModel):
    r"""The four decisions the paper leaves open, and two options beyond the paper (off by default).

    Each is an ablation switch (defaults: docs/method.md); with the defaults the loss is the paper's.

    The one definition of these settings: the training configuration's ``loss.options`` section is
    this class (validated by pydantic: unknown keys and non-bool switches are refused).

    Attributes:
        expert_fidelity: Decision 1, how experts learn. True: every expert also gets its own
            rater-fidelity term :math:`\lambda_{RAI} JS(y \| p_m)`, so the experts are trained teachers
            (Eq. 6 alone has no term that trains an expert on ``y``; with detached experts they would
            never learn). False: the loss is exactly Eq. 6.
        detach_experts: Decision 2, gradient through the experts in :math:`L_{MAI}`. True: the experts'
            distributions are detached there, so distillation pulls the student toward the experts and
            never the experts toward the student. False: :math:`JS(s \| p_m)` also moves the experts.
        detach_weights: Decision 3, gradient through :math:`u_m`. True: :math:`u_m` is computed from
            detached :math:`D_m` (a weighting, not an objective: otherwise the loss could be lowered by
            shifting weight between experts rather than by fitting). False: gradients flow through
            :math:`u_m` into every head.
        js: Decision 4, which JS every loss term uses: ``"divergence"`` (default; the paper says
            "Jensen-Shannon divergence", smooth at 0) or ``"distance"`` (its square root, the metric
            "JS"; gradient set to 0 where the two distributions coincide).
        class_balanced: Beyond the paper, off by default: class-balanced RAI and MAI terms. Every
            per-sample term (the student's
            :math:`JS(y_i \| s_i)`, its alignment :math:`\sum_m u_{im} JS(s_i \| p_{im})` and the experts'
            fidelity terms) is multiplied by the **expected** class weight under the target,
            :math:`\omega_i = \sum_k w_k y_{ik}`, with :math:`w` the effective-number weights of the
            CB-CE baseline (:func:`amber2.losses.class_balanced_weights`, from the fold's training
            labels, summing to ``K``), so that :math:`L = \frac1B \sum_i \omega_i \ell_i`
            (the same per-sample weighting as CB-CE's :math:`\omega_i`).
        null_expert: Beyond the paper, off by default: a null expert in the softmax of Eq. 5, an
            extra entry with distance :math:`D_{0,i} = JS(\pi \| y_i)`, :math:`\pi` the class prior
            (the training split's mean target), and no alignment term of its own:

            .. math::
                u_{im} = \frac{e^{-\kappa D_{im}}}{e^{-\kappa D_{0,i}} + \sum_{m'} e^{-\kappa D_{im'}}},
                \qquad L_{MAI,i} = \sum_{m \ne m^*} u_{im} JS(s_i \| p_{im})

            so an expert no closer to the raters than the prior gets at most about the prior's weight,
            and the MAI term shrinks toward 0 when no expert is informative (the experts' ``u`` then
            sum to :math:`1 - u_{0}` < 1).

    With the defaults (``detach_experts`` and ``detach_weights`` on) an expert's gradient comes only from
    its fidelity term and does not depend on ``lambda_mai`` or ``kappa``: a trainer that shares one expert
    between several students can compute the expert terms once and the student terms per student.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    expert_fidelity: StrictBool = True
    detach_experts: StrictBool = True
    detach_weights: StrictBool = True
    js: JSKind = "divergence"
    class_balanced: StrictBool = False
    null_expert: StrictBool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (round-trips through :meth:`from_dict`)."""
        return self.model_dump()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AmbER2Options:
        """Build options from a dict such as :meth:`to_dict` returns (missing keys take defaults).

        Raises:
            ValueError: Unknown keys (the message lists the known ones) or a bad value.
        """
        known = set(cls.model_fields)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown AmbER2Options keys {unknown}; known: {sorted(known)}")
        return cls.model_validate(dict(data))


@dataclass(frozen=True)
class AmbER2LossTerms:
    r"""Everything :func:`amber2_loss` computed.

    Attributes:
        total: The loss to minimise, shape ``(...)`` (leading run dims; 0-d for one run). Weighted mean
            over ``B`` of :math:`\lambda_{RAI} L_{RAI,i} + \lambda_{MAI} L_{MAI,i}` plus
            :math:`\lambda_{RAI} \sum_m JS(y_i \| p_{m,i})` when ``expert_fidelity``.
        rai: :math:`L_{RAI}` (Eq. 3), weighted mean over ``B``, shape ``(...)``; not multiplied by lambda.
        mai: :math:`L_{MAI}` (Eq. 4), same shape; zeros when there is no expert.
        expert_rai: ``{expert: mean JS(y || p_m)}``, each of the expert's own leading shape (a shared
            expert ``(G, 1, B, C)`` gives ``(G, 1)``); reported even when ``expert_fidelity`` is off.
        u: Expert weights (Eq. 5), shape ``(..., B, M)``, summing to 1 over ``M`` (``M = 0``: empty).
        D: Expert-to-rater divergences :math:`D_m`, shape ``(..., B, M)``.
        experts: Expert names in the order of the last axis of ``u`` and ``D``.
        student: The student head's name.
        options: The options the loss was computed with.
    """

    total: Tensor
    rai: Tensor
    mai: Tensor
    expert_rai: dict[str, Tensor]
    u: Tensor
    D: Tensor
    experts: tuple[str, ...]
    student: str
    options: AmbER2Options = field(default_factory=AmbER2Options)

    def summary(self) -> dict[str, float]:
        """Detached means of the scalar terms, for logging (``total``, ``rai``, ``mai``, ``rai/<m>``)."""
        out = {
            "total": float(self.total.detach().mean()),
            "rai": float(self.rai.detach().mean()),
            "mai": float(self.mai.detach().mean()),
        }
        for m, v in self.expert_rai.items():
            out[f"rai/{m}"] = float(v.detach().mean())
        return out


def _js_fn(kind: JSKind) -> Callable[[Tensor, Tensor], Tensor]:
    if kind == "divergence":
        return js_divergence
    if kind == "distance":
        return js_distance
    raise ValueError(f"js must be one of {_JS_KINDS}; got {kind!r}")


def rater_fidelity(y: Tensor, p: Tensor, *, js: JSKind = "divergence") -> Tensor:
    r"""Per-sample rater fidelity :math:`JS(y \| p)` (Eq. 3 for the student, decision 1 for experts).

    Args:
        y: Rater distributions ``(..., B, C)``.
        p: Head probabilities, broadcastable against ``y``.
        js: ``"divergence"`` or ``"distance"``.

    Returns:
        Tensor ``(..., B)`` (broadcast shape without the class axis).
    """
    return _js_fn(js)(y, p)


def expert_distances(experts: Sequence[Tensor], y: Tensor, *, js: JSKind = "divergence") -> Tensor:
    r"""Per-sample distances of each expert to the raters, :math:`D_m = JS(p_m \| y)` (Eq. 5).

    Args:
        experts: Expert probabilities, each ``(..., B, C)``, broadcastable against each other and ``y``.
        y: Rater distributions.
        js: ``"divergence"`` or ``"distance"``.

    Returns:
        Tensor ``(..., B, M)`` (broadcast shape), experts in the given order.
    """
    fn = _js_fn(js)
    ds = [fn(p, y) for p in experts]
    shape = broadcast_shape(*(d.shape for d in ds)) if ds else y.shape[:-1]
    if not ds:
        return y.new_zeros((*shape, 0))
    return torch.stack([torch.broadcast_to(d, shape) for d in ds], dim=-1)


def expert_weights(D: Tensor, kappa: float | Tensor = 4.0) -> Tensor:
    r"""Expert weights per sample, :math:`u_m = \exp(-\kappa D_m) / \sum_{m'} \exp(-\kappa D_{m'})` (Eq. 5).

    Experts closer to the raters (smaller :math:`D_m`) get more weight; ``kappa`` sets how sharply
    (0: uniform weights).

    Args:
        D: Distances, shape ``(..., B, M)``.
        kappa: Sharpness; a number, or a tensor broadcastable against ``D.shape[:-1]`` = ``(..., B)``
            under the rule of :func:`amber2_loss` (``(..., 1)`` per run, ``(..., B)`` per sample).

    Returns:
        Tensor of ``D``'s shape (broadcast with ``kappa``), summing to 1 over the last axis.

    Examples:
        >>> u = expert_weights(torch.tensor([[0.1, 0.3]]), kappa=4.0)
        >>> bool(u[0, 0] > u[0, 1]), round(float(u.sum()), 6)
        (True, 1.0)
    """
    k = as_hyperparameter(kappa, "kappa", D.shape[:-1], D)
    if isinstance(k, Tensor) and k.ndim > 0:
        k = k.unsqueeze(-1)
    return torch.softmax(-k * D, dim=-1)


def modality_alignment(s: Tensor, experts: Sequence[Tensor], u: Tensor, *, js: JSKind = "divergence") -> Tensor:
    r"""Per-sample modality alignment :math:`\sum_m u_m JS(s \| p_m)` (Eq. 4, before the batch mean).

    Detaching is the caller's choice: :func:`amber2_loss` passes detached experts and weights under the
    default options.

    Args:
        s: Student probabilities ``(..., B, C)``.
        experts: Expert probabilities, each broadcastable against ``s``.
        u: Expert weights ``(..., B, M)``, ``M = len(experts)``.
        js: ``"divergence"`` or ``"distance"``.

    Returns:
        Tensor ``(..., B)``.

    Raises:
        ValueError: ``u``'s last axis does not match the number of experts.
    """
    if u.shape[-1] != len(experts):
        raise ValueError(f"u has {u.shape[-1]} expert weights on its last axis but {len(experts)} experts")
    if not experts:
        return torch.zeros(broadcast_shape(s.shape[:-1], u.shape[:-1]), dtype=s.dtype, device=s.device)
    fn = _js_fn(js)
    if all(p.shape == experts[0].shape for p in experts) and s.ndim <= experts[0].ndim:
        # experts of one shape go through JS as one stacked tensor (one evaluation instead of M; the stacking
        # axis is new to s, which has no more axes than the experts)
        return (u * fn(s, torch.stack(list(experts))).movedim(0, -1)).sum(dim=-1)
    terms = [fn(s, p) for p in experts]
    shape = broadcast_shape(*(t.shape for t in terms), u.shape[:-1])
    stacked = torch.stack([torch.broadcast_to(t, shape) for t in terms], dim=-1)
    return (u * stacked).sum(dim=-1)


def _class_balance(y: Tensor, class_weights: Tensor | None, like: Tensor) -> Tensor:
    r"""Per-sample expected class weight :math:`\omega_i = \sum_k w_k y_{ik}`, shape ``(..., B)``."""
    if class_weights is None:
        raise ValueError("options.class_balanced needs class_weights (the CB-CE weights of the fold's "
                         "training labels, amber2.losses.class_balanced_weights)")
    w = torch.as_tensor(class_weights, dtype=like.dtype, device=like.device)
    if w.ndim == 0 or w.shape[-1] != y.shape[-1]:
        raise ValueError(f"class_weights must have {y.shape[-1]} classes on its last axis; got {tuple(w.shape)}")
    return (w * y.to(like.dtype)).sum(dim=-1)


def _prior(prior: Tensor | None, like: Tensor) -> Tensor:
    if prior is None:
        raise ValueError("options.null_expert needs the class prior (the training split's mean target)")
    p = torch.as_tensor(prior, dtype=like.dtype, device=like.device)
    if p.ndim == 0 or p.shape[-1] != like.shape[-1]:
        raise ValueError(f"prior must have {like.shape[-1]} classes on its last axis; got {tuple(p.shape)}")
    return p


def _times(term: Tensor, omega: Tensor | None) -> Tensor:
    return term if omega is None else term * omega


def _check_heads(probs: Mapping[str, Tensor], y: Tensor, student: str) -> torch.Size:
    if not isinstance(probs, Mapping) or not probs:
        raise ValueError("probs must be a non-empty mapping {head name: probabilities (..., B, C)}")
    if student not in probs:
        raise KeyError(f"student head {student!r} is not in probs (heads: {', '.join(map(repr, probs))})")
    if not isinstance(y, Tensor):
        raise TypeError(f"y must be a torch tensor of shape (..., B, C); got {type(y).__name__}")
    if y.ndim < 2:
        raise ValueError(f"y must have shape (..., B, C); got {tuple(y.shape)}")
    n_classes = y.shape[-1]
    for name, p in probs.items():
        if not isinstance(p, Tensor):
            raise TypeError(f"probs[{name!r}] must be a torch tensor; got {type(p).__name__}")
        if p.ndim < 2 or p.shape[-1] != n_classes:
            raise ValueError(
                f"probs[{name!r}] has shape {tuple(p.shape)}; expected (..., B, {n_classes}) to match y "
                f"{tuple(y.shape)}"
            )
    try:
        full = broadcast_shape(y.shape, *(p.shape for p in probs.values()))
    except RuntimeError:
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in probs.items())
        raise ValueError(
            f"head probabilities and y do not broadcast against each other (y: {tuple(y.shape)}, {shapes})"
        ) from None
    return full[:-1]


def amber2_loss(
    probs: Mapping[str, Tensor],
    y: Tensor,
    *,
    student: str,
    lambda_rai: float | Tensor = 1.0,
    lambda_mai: float | Tensor = 0.5,
    kappa: float | Tensor = 4.0,
    options: AmbER2Options = AmbER2Options(),
    sample_weight: Tensor | None = None,
    class_weights: Tensor | None = None,
    prior: Tensor | None = None,
) -> AmbER2LossTerms:
    r"""The AmbER² loss (Eq. 3-6) with the options of :class:`AmbER2Options`.

    Per sample :math:`i` (batch axis ``B``), with experts :math:`m \ne m^*` in the order of ``probs``:

    .. math::
        \ell_i = \lambda_{RAI} JS(y_i \| s_i)
                 + \lambda_{MAI} \sum_m u_{im} JS(s_i \| \bar p_{im})
                 + [\lambda_{RAI} \textstyle\sum_m JS(y_i \| p_{im})]_{\text{expert\_fidelity}},
        \qquad u_{im} = \mathrm{softmax}_m(-\kappa \bar D_{im})

    where :math:`\bar p` / :math:`\bar D` are detached when ``detach_experts`` / ``detach_weights``; the
    returned ``total`` is the weighted mean of :math:`\ell_i` over ``B``. With one head only there is no
    expert and ``mai`` is 0.

    Shape rules:
        * ``probs[m]`` and ``y``: ``(..., B, C)``, broadcastable against each other; the per-sample
          shape ``P = (..., B)`` is their broadcast shape without ``C``.
        * ``lambda_rai``, ``lambda_mai``, ``kappa``: a number, a 0-d tensor, or a tensor that broadcasts
          against ``P`` without adding dimensions and whose last axis is 1 or ``B``: ``(..., 1)`` for one
          value per run (e.g. ``kappa`` of shape ``(G, S, 1)`` for runs ``(G, S)``), ``(..., B)`` per
          sample. ``(G, S)`` against ``P = (G, S, B)`` is refused.
        * ``sample_weight``: ``None`` or non-negative weights broadcastable against ``P`` (``(B,)`` or
          ``(..., B)``); rows with weight 0 are dropped exactly (padding).
        * Outputs: ``total``, ``rai``, ``mai`` have shape ``P[:-1]`` (``(...)``); ``u`` and ``D`` have
          shape ``(*P, M)``.

    A shared expert (``(G, 1, B, C)`` against students ``(G, S, B, C)``) contributes its fidelity term to
    each of the ``S`` runs' ``total``; a trainer that sums ``total`` over runs and wants each expert
    counted once should use ``expert_fidelity=False`` and add ``terms.expert_rai`` itself (under the
    default detach options the expert terms do not depend on ``lambda_mai`` or ``kappa``).

    Args:
        probs: ``{head name: probabilities (..., B, C)}`` (softmax of the heads' logits).
        y: Rater distributions ``(..., B, C)``; usually with exact zeros (handled).
        student: Name of the student head (a key of ``probs``).
        lambda_rai: :math:`\lambda_{RAI}` (paper: 1.0).
        lambda_mai: :math:`\lambda_{MAI}` (paper grid: 0.3, 0.5, 0.7).
        kappa: Sharpness :math:`\kappa` of Eq. 5 (paper grid: 2, 4, 8).
        options: :class:`AmbER2Options` (default: every default).
        sample_weight: Per-sample weights (see shape rules).
        class_weights: Effective-number class weights :math:`w`, ``(C,)`` or ``(..., 1, C)`` (one per
            run); needed with ``options.class_balanced`` (ignored otherwise).
        prior: The class prior :math:`\pi` (the training split's mean target), ``(C,)`` or
            ``(..., 1, C)``; needed with ``options.null_expert`` (ignored otherwise).

    Returns:
        :class:`AmbER2LossTerms`.

    Raises:
        KeyError: ``student`` not in ``probs``.
        TypeError: Non-tensor inputs.
        ValueError: Class counts or shapes that do not match or broadcast, bad hyperparameters.

    Examples:
        >>> y = torch.tensor([[0.5, 0.5, 0.0]])
        >>> probs = {"audio": torch.tensor([[0.4, 0.4, 0.2]]), "text": torch.tensor([[0.1, 0.8, 0.1]]),
        ...          "fusion": torch.tensor([[0.3, 0.6, 0.1]])}
        >>> terms = amber2_loss(probs, y, student="fusion")
        >>> terms.experts, tuple(terms.u.shape)
        (('audio', 'text'), (1, 2))
    """
    ps = amber2_per_sample(probs, y, student=student, lambda_rai=lambda_rai, lambda_mai=lambda_mai, kappa=kappa,
                           options=options, class_weights=class_weights, prior=prior)
    total_i = ps.lambda_rai * ps.rai + ps.lambda_mai * ps.mai
    if ps.options.expert_fidelity and ps.experts:
        total_i = total_i + ps.lambda_rai * sum(ps.expert_rai.values())
    shape = ps.shape
    total_i = torch.broadcast_to(total_i, shape)
    return AmbER2LossTerms(
        total=weighted_mean(total_i, sample_weight),
        rai=weighted_mean(torch.broadcast_to(ps.rai, shape), sample_weight),
        mai=weighted_mean(torch.broadcast_to(ps.mai, shape), sample_weight),
        expert_rai={m: weighted_mean(v, sample_weight) for m, v in ps.expert_rai.items()},
        u=ps.u,
        D=ps.D,
        experts=ps.experts,
        student=student,
        options=ps.options,
    )


@dataclass(frozen=True)
class AmbER2PerSample:
    r"""The terms of :func:`amber2_loss` per sample, before the batch mean (see :func:`amber2_per_sample`).

    Attributes:
        rai: :math:`JS(y_i \| s_i)` (times :math:`\omega_i` with ``class_balanced``), shape ``(..., B)``
            (broadcastable against ``shape``).
        mai: :math:`\sum_m u_{im} JS(s_i \| \bar p_{im})` (times :math:`\omega_i`).
        expert_rai: ``{expert: JS(y_i || p_{im})}`` (times :math:`\omega_i`), each of its expert's shape.
        u: Expert weights ``(*shape, M)``.
        D: :math:`D_{im} = JS(p_{im} \| y_i)` ``(*shape, M)``.
        experts: Expert names in the order of the last axis of ``u`` and ``D``.
        lambda_rai: The validated :math:`\lambda_{RAI}` (a float or a tensor broadcastable to ``shape``).
        lambda_mai: The validated :math:`\lambda_{MAI}`.
        shape: The per-sample shape ``(..., B)``.
        options: The options.
    """

    rai: Tensor
    mai: Tensor
    expert_rai: dict[str, Tensor]
    u: Tensor
    D: Tensor
    experts: tuple[str, ...]
    lambda_rai: float | Tensor
    lambda_mai: float | Tensor
    shape: torch.Size
    options: AmbER2Options


def amber2_per_sample(
    probs: Mapping[str, Tensor],
    y: Tensor,
    *,
    student: str,
    lambda_rai: float | Tensor = 1.0,
    lambda_mai: float | Tensor = 0.5,
    kappa: float | Tensor = 4.0,
    options: AmbER2Options = AmbER2Options(),
    class_weights: Tensor | None = None,
    prior: Tensor | None = None,
) -> AmbER2PerSample:
    r"""The per-sample terms of the AmbER² loss; :func:`amber2_loss` is their weighted batch mean.

    Same arguments, shape rules and errors as :func:`amber2_loss` (without ``sample_weight``). A trainer
    that sums many runs' losses (the batched ensemble) reduces these terms itself, in fewer operations.
    JS is symmetric, so each expert's :math:`D_m = JS(p_m \| y)` is its rater-fidelity value
    :math:`JS(y \| p_m)`, computed once.
    """
    opts = options
    if not isinstance(opts, AmbER2Options):
        raise TypeError(f"options must be an AmbER2Options; got {type(opts).__name__}")
    per_sample = _check_heads(probs, y, student)
    s = probs[student]
    lam_r = as_hyperparameter(lambda_rai, "lambda_rai", per_sample, s)
    lam_m = as_hyperparameter(lambda_mai, "lambda_mai", per_sample, s)
    experts = tuple(name for name in probs if name != student)
    expert_probs = [probs[m] for m in experts]

    omega = _class_balance(y, class_weights, s) if opts.class_balanced else None
    # Heads of one shape (every trainer's case) go through each JS as one stacked tensor: the same values,
    # a third of the operators (on a GPU, of the kernel launches).
    # (y must not have more axes than the heads: the stacking axis would meet one of y's.)
    stack = bool(experts) and y.ndim <= s.ndim and all(p.shape == s.shape for p in expert_probs)
    # Stacked, an expert is part of the student's autograd graph: when none of its terms reaches the loss
    # (expert_fidelity off, detached weights and teachers) its gradient is zeros, not None, so an optimiser
    # still applies weight decay to it, as the batched ensemble (whose stacked weights always get a
    # gradient) does.
    if stack:
        fid_all = rater_fidelity(y, torch.stack([s, *expert_probs]), js=opts.js)  # (1 + M, *per_sample)
        rai_raw, *fidelity = fid_all.unbind(0)
    else:
        rai_raw = rater_fidelity(y, s, js=opts.js)
        fidelity = [rater_fidelity(y, p, js=opts.js) for p in expert_probs]
    rai_i = _times(rai_raw, omega)
    expert_rai_i = {m: _times(f, omega) for m, f in zip(experts, fidelity, strict=True)}
    if experts:
        D = (fid_all[1:].movedim(0, -1) if stack
             else torch.stack([torch.broadcast_to(f, per_sample) for f in fidelity], dim=-1))
        if opts.null_expert:
            D0 = torch.broadcast_to(_js_fn(opts.js)(_prior(prior, s), y), per_sample).unsqueeze(-1)
            D_all = torch.cat([D, D0], dim=-1)
            u = expert_weights(D_all.detach() if opts.detach_weights else D_all, kappa)[..., :-1]
        else:
            u = expert_weights(D.detach() if opts.detach_weights else D, kappa)
        teachers = [p.detach() for p in expert_probs] if opts.detach_experts else expert_probs
        mai_i = _times(modality_alignment(s, teachers, u, js=opts.js), omega)
    else:
        as_hyperparameter(kappa, "kappa", per_sample, s)  # validate even when unused
        D = s.new_zeros((*per_sample, 0))
        u = s.new_zeros((*per_sample, 0))
        mai_i = s.new_zeros(per_sample)
    return AmbER2PerSample(rai_i, mai_i, expert_rai_i, u, D, experts, lam_r, lam_m, per_sample, opts)
