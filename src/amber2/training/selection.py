"""Model selection on validation: the best epoch of every selection unit, and early stopping.

A *selection unit* is one scoring head of one run: AmbER²'s student picks the epoch of every head
of its run; each head of a baseline picks its own (:func:`~amber2.training.objective.selection_units`).
Both engines keep one :class:`EpochSelector` over all their units (the plain loop: the units of one
run; the ensemble: groups x units), so the rule is written once:

- after epoch ``e``, a unit improves when its score is strictly better than its best so far
  (ties keep the earlier epoch); its best epoch becomes ``e``;
- a unit that did not improve counts one more epoch since its best;
- with ``patience`` P, a unit is *stalled* once P epochs passed without improvement; a run stops
  when all its units are stalled.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EpochSelector"]


class EpochSelector:
    """Best-epoch tracking and early stopping for an array of selection units.

    Args:
        shape: Shape of the unit array (``(U,)`` for one run, ``(G, U)`` for an ensemble).
        higher_is_better: Orientation of the selection metric.
        patience: Epochs without improvement before a unit is stalled (None: never).
    """

    def __init__(self, shape: tuple[int, ...], *, higher_is_better: bool, patience: int | None):
        self.sign = 1.0 if higher_is_better else -1.0
        self.patience = patience
        self.best = np.full(shape, -np.inf)
        self.best_epoch = np.zeros(shape, dtype=int)
        self.since = np.zeros(shape, dtype=int)

    def update(self, epoch: int, scores: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        """Record epoch ``epoch``'s validation scores; returns which units improved (bool array).

        Args:
            epoch: 1-based epoch.
            scores: Metric values, the units' shape (inactive units' values are ignored).
            active: Units still training (default: all).
        """
        active = np.ones(self.best.shape, dtype=bool) if active is None else np.asarray(active, dtype=bool)
        oriented = np.where(active, self.sign * np.asarray(scores, dtype=float), -np.inf)
        improved = (oriented > self.best) & active
        self.best[improved] = oriented[improved]
        self.best_epoch[improved] = epoch
        self.since[improved] = 0
        self.since[~improved & active] += 1
        return improved

    def stalled(self) -> np.ndarray:
        """Units whose last ``patience`` epochs brought no improvement (all False without patience)."""
        if self.patience is None:
            return np.zeros(self.best.shape, dtype=bool)
        return self.since >= self.patience
