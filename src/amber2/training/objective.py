"""The per-run training objective: AmbER² (Eq. 6) or a baseline, on the heads' logits.

The one dispatch on ``LossConfig.kind`` for both engines: the plain per-run loop calls
:func:`run_loss`; the batched ensemble calls a :class:`StackedObjective`, which computes the same
terms for every run of a stack at once. Both reach the baselines through :func:`head_loss` and
AmbER² through :func:`amber2.losses.amber2_loss`. Heads output logits; AmbER²'s distribution-wise
terms see ``softmax(logits)``, the cross-entropy baselines see the logits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from amber2.losses import (
    AmbER2Options,
    amber2_loss,
    amber2_per_sample,
    cb_ce_loss,
    class_balanced_weights,
    soft_cross_entropy,
)
from amber2.training.config import LossConfig

__all__ = ["StackedObjective", "class_prior_for", "class_weights_for", "head_loss", "run_loss", "selection_units",
           "uses_class_weights"]


def uses_class_weights(loss: LossConfig) -> bool:
    """Whether the objective needs class weights: ``cbce``, and AmbER² with ``options.class_balanced``."""
    return loss.kind == "cbce" or (loss.kind == "amber2" and loss.options.class_balanced)


def class_weights_for(loss: LossConfig, y_train: np.ndarray) -> torch.Tensor | None:
    """Class weights ``(C,)`` from a fold's training labels (None when the objective uses none).

    ``cbce`` and AmbER² with ``options.class_balanced`` use the same effective-number weights.
    """
    if not uses_class_weights(loss):
        return None
    return torch.as_tensor(class_balanced_weights(y_train, beta=loss.cb_beta), dtype=torch.float32)


def class_prior_for(loss: LossConfig, y_train: np.ndarray) -> torch.Tensor | None:
    r"""The class prior :math:`\pi = \frac1N \sum_i y_i` ``(C,)`` of a fold's training labels.

    Used by AmbER² with ``options.null_expert``; None for any other objective.
    """
    if not (loss.kind == "amber2" and loss.options.null_expert):
        return None
    return torch.as_tensor(np.asarray(y_train, dtype=np.float64).mean(axis=0), dtype=torch.float32)


def head_loss(
    kind: str,
    logits: torch.Tensor,
    y: torch.Tensor,
    *,
    class_weights: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""A baseline's loss on one head: CB-CE (``cbce``) or soft cross-entropy (``soft_ce``).

    ``cbce``: :math:`-\sum_c w_c\, y_c \log \mathrm{softmax}(z)_c` (class-balanced weights ``w``);
    ``soft_ce``: :math:`-\sum_c y_c \log \mathrm{softmax}(z)_c`; both averaged over the batch
    (``reduction="mean"``) or per sample (``"none"``).

    Raises:
        ValueError: ``cbce`` without class weights, or a kind that is not a per-head baseline.
    """
    if kind == "cbce":
        if class_weights is None:
            raise ValueError("cbce needs class weights (from the fold's training labels)")
        return cb_ce_loss(logits, y, class_weights, sample_weight=sample_weight, reduction=reduction)
    if kind == "soft_ce":
        return soft_cross_entropy(logits, y, sample_weight=sample_weight, reduction=reduction)
    raise ValueError(f"{kind!r} is not a per-head baseline objective (cbce, soft_ce)")


def run_loss(
    logits: Mapping[str, torch.Tensor],
    y: torch.Tensor,
    loss: LossConfig,
    *,
    student: str,
    class_weights: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    prior: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""The objective of one run on one mini-batch.

    ``amber2``: :math:`\lambda_{RAI} JS(y\|s) + \lambda_{MAI} \sum_{m \ne m^*} u_m JS(s\|p_m)`
    (+ the experts' own fidelity terms, see :class:`~amber2.losses.AmbER2Options`).
    ``cbce`` / ``soft_ce``: the sum over heads of each head's loss (every head trained on its own).

    Args:
        logits: ``{head: (..., B, C)}``.
        y: Target distributions ``(..., B, C)``.
        loss: The objective.
        student: The student head (``amber2`` only).
        class_weights: Class weights ``(..., C)`` (``cbce``; ``amber2`` with ``class_balanced``).
        sample_weight: ``(..., B)`` weights (0 for padding).
        prior: The training split's class prior ``(..., C)`` (``amber2`` with ``null_expert``).

    Returns:
        The loss, reduced over B (leading dims kept).
    """
    if loss.kind == "amber2":
        probs = {h: torch.softmax(v, dim=-1) for h, v in logits.items()}
        terms = amber2_loss(
            probs, y, student=student, lambda_rai=loss.lambda_rai, lambda_mai=loss.lambda_mai,
            kappa=loss.kappa, options=loss.options, sample_weight=sample_weight,
            class_weights=class_weights, prior=prior,
        )
        return terms.total
    return sum(head_loss(loss.kind, v, y, class_weights=class_weights, sample_weight=sample_weight)
               for v in logits.values())


class StackedObjective:
    r"""The summed objective of every run of a stacked ensemble, each shared expert counted once.

    Runs are ``G`` groups x ``O`` objectives; head ``h`` of objective ``o`` reads branch
    ``plan[h][o]`` of the stacked logits ``(G, K_h, B, C)``. AmbER² objectives that share their
    options and lambda_RAI are computed together (lambda_MAI and kappa as per-run tensors); their
    experts' fidelity terms are added once per distinct branch. Baselines go through
    :func:`head_loss`, head by head.

    Args:
        objectives: The objectives (the same list in every group).
        plan: ``{head: [branch of objective 0, 1, ...]}`` (see ``ensemble.branch_plan``).
        student: The student head of AmbER².
        class_weights: ``(G, C)`` class weights per group (needed by ``cbce`` and by AmbER² with
            ``options.class_balanced``).
        prior: ``(G, C)`` class prior per group (needed by AmbER² with ``options.null_expert``).
        device: Where the logits will be (every tensor a step reads is put there once).
    """

    def __init__(
        self,
        objectives: Sequence[LossConfig],
        plan: Mapping[str, Sequence[int]],
        student: str,
        class_weights: torch.Tensor | None = None,
        prior: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
    ):
        self.objectives = list(objectives)
        self.heads = list(plan)
        self.student = student
        self.plan = {h: torch.tensor(list(v), device=device) for h, v in plan.items()}
        self._host_plan = {h: [int(k) for k in v] for h, v in plan.items()}
        self.class_weights = None if class_weights is None else class_weights.unsqueeze(1).to(device)  # (G, 1, C)
        if class_weights is None and any(uses_class_weights(o) for o in self.objectives):
            raise ValueError("cbce and class-balanced AmbER² need class weights (from the fold's training labels)")
        # (G, 1, 1, C) against y (G, 1, B, C)
        self.prior = None if prior is None else prior[:, None, None, :].to(device)
        sets: dict[tuple, list[int]] = {}
        for o, loss in enumerate(self.objectives):
            if loss.kind == "amber2":
                sets.setdefault((loss.options, loss.lambda_rai), []).append(o)
        # Everything a step reads is built here, once: the steps create no tensors from Python values.
        self.amber2_sets = [_Amber2Set.of(cols, self.objectives, plan, device) for cols in sets.values()]
        self.baselines = [o for o, loss in enumerate(self.objectives) if loss.kind != "amber2"]

    def __call__(
        self, logits: Mapping[str, torch.Tensor], y: torch.Tensor, sample_weight: torch.Tensor
    ) -> torch.Tensor:
        r"""The loss summed over runs: logits ``{head: (G, K_h, B, C)}``, ``y (G, B, C)``, weights ``(G, B)``.

        Every run's term is a weighted batch mean, :math:`\sum_i w_i \ell_i / \sum_i w_i`, computed as
        :math:`\sum_i \hat w_i \ell_i` with the weights normalised once per step,
        :math:`\hat w_i = w_i / \sum_j w_j` (a group without a batch has all weights 0 and adds 0). Padding
        rows repeat real items, so their terms are finite and weight 0 drops them exactly.
        """
        total = logits[self.heads[0]].new_zeros(())
        y4 = y.unsqueeze(1)  # (G, 1, B, C)
        w = sample_weight / sample_weight.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(sample_weight.dtype).tiny)
        w3 = w.unsqueeze(1)  # (G, 1, B)
        for part in self.amber2_sets:
            total = total + self._amber2_set(part, logits, y4, w3)
        for o in self.baselines:
            # every head's logits of this objective as one (G, heads, B, C) tensor: one loss evaluation
            # (branches picked by Python indices: no device read)
            lg = torch.stack([logits[h][:, self._host_plan[h][o]] for h in self.heads], dim=1)
            cw = None if self.class_weights is None else self.class_weights.unsqueeze(1)
            per_sample = head_loss(self.objectives[o].kind, lg, y4, reduction="none", class_weights=cw)
            total = total + (per_sample * w3).sum()
        return total

    def _amber2_set(self, part: _Amber2Set, logits: Mapping[str, torch.Tensor], y4: torch.Tensor,
                    w3: torch.Tensor) -> torch.Tensor:
        r"""One set of AmbER² objectives, summed over its runs.

        :math:`\sum_{runs} \mathrm{mean}_w(\lambda_{RAI} L_{RAI,i} + \lambda_{MAI} L_{MAI,i})` plus each
        distinct expert's :math:`\lambda_{RAI}\, \mathrm{mean}_w JS(y_i \| p_{m,i})` once (``w3``: normalised
        weights ``(G, 1, B)``).
        """
        probs = {h: torch.softmax(logits[h].index_select(1, part.branches[h]), dim=-1) for h in self.heads}
        ps = amber2_per_sample(
            probs, y4, student=self.student, lambda_rai=part.lambda_rai, lambda_mai=part.lambda_mai.view(1, -1, 1),
            kappa=part.kappa.view(1, -1, 1), options=part.options,
            class_weights=None if self.class_weights is None else self.class_weights.unsqueeze(1), prior=self.prior,
        )
        total = ((part.lambda_rai * ps.rai + ps.lambda_mai * ps.mai) * w3).sum()
        if part.options.expert_fidelity:
            for e, val in ps.expert_rai.items():
                # a device index: a Python list would be copied to the device, a synchronisation on a GPU
                total = total + part.lambda_rai * (val.index_select(1, part.distinct_index[e]) * w3).sum()
        return total


@dataclass(frozen=True)
class _Amber2Set:
    """AmbER² objectives computed together: same options and lambda_RAI, per-run lambda_MAI and kappa.

    Attributes:
        branches: ``{head: (S,) branch index of each objective of the set}``.
        distinct: ``{head: positions in the set of its distinct branches}`` (a shared expert counts once).
        distinct_index: The same positions as index tensors on the device.
    """

    options: AmbER2Options
    lambda_rai: float
    lambda_mai: torch.Tensor
    kappa: torch.Tensor
    branches: dict[str, torch.Tensor]
    distinct: dict[str, list[int]]
    distinct_index: dict[str, torch.Tensor]

    @classmethod
    def of(cls, cols: Sequence[int], objectives: Sequence[LossConfig], plan: Mapping[str, Sequence[int]],
           device: torch.device | str = "cpu") -> _Amber2Set:
        first = objectives[cols[0]]
        distinct = {}
        for h, idx in plan.items():
            branches = [int(idx[o]) for o in cols]
            distinct[h] = [i for i, k in enumerate(branches) if k not in branches[:i]]
        return cls(
            first.options, first.lambda_rai,
            torch.tensor([objectives[o].lambda_mai for o in cols], dtype=torch.float32, device=device),
            torch.tensor([objectives[o].kappa for o in cols], dtype=torch.float32, device=device),
            {h: torch.tensor([int(idx[o]) for o in cols], device=device) for h, idx in plan.items()},
            distinct,
            {h: torch.tensor(v, dtype=torch.long, device=device) for h, v in distinct.items()},
        )


def selection_units(loss: LossConfig, heads: Sequence[str], student: str) -> list[tuple[str, list[str]]]:
    """How a run's epochs are selected: ``[(scoring head, heads that follow it), ...]``.

    AmbER² is one model whose student decides the epoch for every head; a baseline reports each
    head on its own, so each head picks its own epoch.
    """
    if loss.kind == "amber2":
        return [(student, list(heads))]
    return [(h, [h]) for h in heads]
