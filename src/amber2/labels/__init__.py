"""Label policies: raters' votes -> target distributions y (the paper's Eq. 1 and public conventions).

    >>> from amber2.labels import get_policy
    >>> policy = get_policy("iemocap-4class")
    >>> labels = policy.apply(table)          # doctest: +SKIP
    >>> labels.Y, labels.classes, labels.dropped  # doctest: +SKIP

See ``docs/labels.md`` for the rules and the table of presets. The modules import downwards only:
``settings`` (the validated settings) <- ``labelset`` (the result) <- ``apply`` (the engine) <-
``policy`` (:class:`LabelPolicy`: settings + apply + files) <- ``presets`` (the registry).
"""

from __future__ import annotations

from amber2.labels.apply import apply_policy, order_classes, smooth, synthetic_sources
from amber2.labels.labelset import DROP_REASONS, LabelSet
from amber2.labels.policy import LabelPolicy, LabelPolicyError, read_labels
from amber2.labels.presets import UnknownPolicyError, get_policy, list_policies, load_policy, register_policy
from amber2.labels.settings import VOTE_SOURCES, PolicySettings

__all__ = [
    "DROP_REASONS",
    "VOTE_SOURCES",
    "LabelPolicy",
    "LabelPolicyError",
    "LabelSet",
    "PolicySettings",
    "UnknownPolicyError",
    "apply_policy",
    "get_policy",
    "list_policies",
    "load_policy",
    "order_classes",
    "read_labels",
    "register_policy",
    "smooth",
    "synthetic_sources",
]
