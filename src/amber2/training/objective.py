"""The per-run training objective: AmbER² (Eq. 6) or a baseline, on the heads' logits.

Both engines (the plain per-run loop and the batched ensemble) use these definitions, so a run's
objective is written once. Heads output logits; AmbER²'s distribution-wise terms see
``softmax(logits)``, the cross-entropy baselines see the logits.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from amber2.losses import AmbER2Options, amber2_loss, cb_ce_loss, soft_cross_entropy
from amber2.training.config import LossConfig

__all__ = ["amber2_options", "run_loss", "selection_units"]


def amber2_options(loss: LossConfig) -> AmbER2Options:
    """The loss library's options object for a :class:`LossConfig`."""
    return AmbER2Options(**loss.options.model_dump())


def run_loss(
    logits: Mapping[str, torch.Tensor],
    y: torch.Tensor,
    loss: LossConfig,
    *,
    student: str,
    class_weights: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
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
        class_weights: CB-CE class weights ``(..., C)`` (``cbce`` only).
        sample_weight: ``(..., B)`` weights (0 for padding).

    Returns:
        The loss, reduced over B (leading dims kept).
    """
    if loss.kind == "amber2":
        probs = {h: torch.softmax(v, dim=-1) for h, v in logits.items()}
        terms = amber2_loss(
            probs, y, student=student, lambda_rai=loss.lambda_rai, lambda_mai=loss.lambda_mai,
            kappa=loss.kappa, options=amber2_options(loss), sample_weight=sample_weight,
        )
        return terms.total
    if loss.kind == "cbce":
        if class_weights is None:
            raise ValueError("cbce needs class weights (from the fold's training labels)")
        return sum(cb_ce_loss(v, y, class_weights, sample_weight=sample_weight) for v in logits.values())
    return sum(soft_cross_entropy(v, y, sample_weight=sample_weight) for v in logits.values())


def selection_units(loss: LossConfig, heads: list[str], student: str) -> list[tuple[str, list[str]]]:
    """How a run's epochs are selected: ``[(scoring head, heads that follow it), ...]``.

    AmbER² is one model whose student decides the epoch for every head; a baseline reports each
    head on its own, so each head picks its own epoch.
    """
    if loss.kind == "amber2":
        return [(student, list(heads))]
    return [(h, [h]) for h in heads]
