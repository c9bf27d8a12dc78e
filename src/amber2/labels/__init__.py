"""Label policies: raters' votes -> target distributions y (the paper's Eq. 1 and public conventions).

    >>> from amber2.labels import get_policy
    >>> policy = get_policy("iemocap-4class")
    >>> labels = policy.apply(table)          # doctest: +SKIP
    >>> labels.Y, labels.classes, labels.dropped  # doctest: +SKIP

See ``docs/labels.md`` for the rules and the table of presets.
"""

from __future__ import annotations

from amber2.labels.apply import apply_policy, order_classes, smooth
from amber2.labels.labelset import DROP_REASONS, LabelSet
from amber2.labels.policy import CANONICAL_ORDER, LabelPolicy, LabelPolicyError
from amber2.labels.presets import UnknownPolicyError, get_policy, list_policies, load_policy, register_policy

__all__ = [
    "CANONICAL_ORDER",
    "DROP_REASONS",
    "LabelPolicy",
    "LabelPolicyError",
    "LabelSet",
    "UnknownPolicyError",
    "apply_policy",
    "get_policy",
    "list_policies",
    "load_policy",
    "order_classes",
    "register_policy",
    "smooth",
]
