"""amber2.losses: torch losses over ``(..., B, C)`` tensors (any leading run dims).

JS/KL divergences safe at exact zeros (values and gradients), the AmbER² teacher-student loss
(Eq. 3-6, :func:`amber2_loss` and its parts), and the baselines (CB-CE, soft cross-entropy).
AmbER² losses take probabilities (softmax of the heads' logits); CB-CE and soft CE take logits.
Definitions and options: ``docs/metrics_and_losses.md``.
"""

from __future__ import annotations

from amber2.losses._reduce import (
    trusted_values,
    weighted_mean,
)
from amber2.losses.class_balanced import (
    cb_ce_loss,
    class_balanced_weights,
    effective_number_weights,
    soft_cross_entropy,
    soft_label_counts,
)
from amber2.losses.divergence import (
    js_distance,
    js_divergence,
    kl_divergence,
)
from amber2.losses.teacher_student import (
    AmbER2LossTerms,
    AmbER2Options,
    AmbER2PerSample,
    amber2_loss,
    amber2_per_sample,
    expert_distances,
    expert_weights,
    modality_alignment,
    rater_fidelity,
)

__all__ = [
    "AmbER2LossTerms",
    "AmbER2Options",
    "AmbER2PerSample",
    "amber2_loss",
    "amber2_per_sample",
    "cb_ce_loss",
    "class_balanced_weights",
    "effective_number_weights",
    "expert_distances",
    "expert_weights",
    "js_distance",
    "js_divergence",
    "kl_divergence",
    "modality_alignment",
    "rater_fidelity",
    "soft_cross_entropy",
    "soft_label_counts",
    "trusted_values",
    "weighted_mean",
]
