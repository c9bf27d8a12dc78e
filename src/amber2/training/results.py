"""Results of training runs: predictions at the selected epoch, scores, histories."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amber2.training.config import LossConfig

__all__ = ["HeadResult", "RunResult"]


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
