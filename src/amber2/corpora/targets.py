"""What the corpus layer needs to know of target distributions: their shape, as typing protocols.

Folds stratified by class and the ``amber2 prepare`` summary read the targets a label policy made
(:class:`amber2.labels.LabelSet`). Label policies are a layer above the corpora, so these modules name
the attributes they read here instead of importing the class; a ``LabelSet`` satisfies both protocols.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["PolicyTargets", "Targets"]


class Targets(Protocol):
    """Target distributions of a set of items: ``Y[i]`` is item ``ids[i]``'s distribution over ``classes``."""

    ids: Sequence[str]
    Y: np.ndarray
    classes: Sequence[str]


class PolicyTargets(Targets, Protocol):
    """Targets made by a label policy, with what the policy kept and dropped (the prepare summary)."""

    n_votes: np.ndarray
    dropped: Mapping[str, Sequence[str]]
    policy: Any

    def __len__(self) -> int:
        """Number of items with a target."""
        ...

    def fingerprint(self) -> str:
        """Content hash of the targets (recorded in the summary)."""
        ...
