"""Results of training runs: predictions at the selected epoch, scores, histories."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amber2.training.config import LossConfig

__all__ = ["DivergenceError", "HeadResult", "RunResult"]


@dataclass
class HeadResult:
    """One head of one run, at the epoch model selection chose.

    Attributes:
        head: Head name (``audio``, ``text``, ``fusion`` ...).
        epoch: Selected epoch (1-based).
        val_score: Validation selection metric at that epoch.
        val_pred: Validation predictions ``(n_val, C)``.
        test_pred: Test predictions ``(n_test, C)``.
        history: Validation selection metric after every epoch trained.
    """

    head: str
    epoch: int
    val_score: float
    val_pred: np.ndarray
    test_pred: np.ndarray
    history: list[float] = field(default_factory=list)


@dataclass
class RunResult:
    """One training run (fold x seed x objective).

    Attributes:
        fold: Test fold.
        seed: Seed.
        loss: The objective.
        heads: Every head at the selected epoch. For ``amber2`` runs all heads follow the
            student's best epoch (one model); for baselines each head has its own best epoch
            (each head is reported on its own, as in the paper's Tables 1-2).
        reported: Heads whose numbers the run reports (``[student]`` or every head).
        epochs_trained: Epochs actually trained (early stopping may end sooner).
        val_ids: Validation item positions; test_ids: test item positions.
        state: The model's state dict at selection (optional).
        seconds: Wall time (sequential engine; the ensemble reports its total elsewhere).
    """

    fold: int
    seed: int
    loss: LossConfig
    heads: dict[str, HeadResult]
    reported: list[str]
    epochs_trained: int
    val_idx: np.ndarray
    test_idx: np.ndarray
    state: dict[str, Any] | None = None
    seconds: float = float("nan")

    @property
    def config(self) -> str:
        """The objective's short label."""
        return self.loss.label()


class DivergenceError(ValueError):
    """A run's weights stopped being finite (NaN or inf): the message says which run and why.

    Attributes:
        fold: Test fold of the run.
        seed: Its seed.
        objective: The objective's label (``amber2(lm=0.5,k=4)``, ``cbce`` ...).
        head: The first head found with non-finite predictions.
        epoch: The epoch after which it was found.
    """

    def __init__(self, *, fold: int, seed: int, objective: LossConfig, head: str, epoch: int, lr: float):
        self.fold, self.seed, self.objective, self.head, self.epoch = fold, seed, objective.label(), head, epoch
        where = "the final fit (all items)" if fold < 0 else f"fold {fold}"
        super().__init__(
            f"training diverged in {where}, seed {seed}, objective {self.objective}: head {head!r} predicts "
            f"NaN or inf on the validation items after epoch {epoch}, so its weights are no longer finite "
            f"(a non-finite loss or gradient; the inputs and labels were checked finite). Lower the learning "
            f"rate (optim.lr={lr:g}) or check the scale of the embeddings (model.standardize)."
        )
