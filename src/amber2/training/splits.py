"""Deterministic splits and mini-batch orders shared by both training engines.

The batched ensemble and the plain per-run loop must see *identical* data: the same validation
split for a fold and the same mini-batch order for a (fold, seed, epoch). Both engines call these
functions.
"""

from __future__ import annotations

import hashlib

import numpy as np

from amber2.training.config import ValidationConfig
from amber2.training.data import DataError, LabeledSet

__all__ = ["derive_seed", "epoch_order", "validation_split"]


def derive_seed(*parts: object) -> int:
    """A 63-bit seed derived from any printable parts (stable across runs and platforms)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def epoch_order(n: int, *, seed: int, fold: int, epoch: int) -> np.ndarray:
    """The shuffled order of a fold's ``n`` training items in one epoch of one seed."""
    rng = np.random.default_rng(derive_seed("order", seed, fold, epoch))
    return rng.permutation(n)


def validation_split(
    data: LabeledSet, train_idx: np.ndarray, config: ValidationConfig, *, fold: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split a fold's training positions into (train, validation).

    ``fraction``: a class-stratified share (by the argmax of y, ties to the lowest class) of the
    items, at least one per class that has >= 2 items. ``group``: whole groups (speakers, sessions)
    covering about ``fraction`` of the groups, at least one group.

    Returns:
        Sorted position arrays ``(train, val)``.

    Raises:
        DataError: ``group`` without groups, or too few items/groups to hold any out.
    """
    train_idx = np.asarray(train_idx)
    rng = np.random.default_rng(derive_seed("validation", config.seed, fold))
    if config.strategy == "group":
        if data.groups is None:
            raise DataError("validation strategy 'group' needs groups (speaker or session) for every item")
        groups = data.groups[train_idx]
        uniq = np.unique(groups)
        if len(uniq) < 2:
            raise DataError(f"fold {fold}: only {len(uniq)} training group(s); cannot hold one out for validation")
        n_val = max(1, int(round(config.fraction * len(uniq))))
        val_groups = rng.choice(uniq, size=n_val, replace=False)
        is_val = np.isin(groups, val_groups)
    else:
        labels = data.Y[train_idx].argmax(axis=1)
        is_val = np.zeros(len(train_idx), dtype=bool)
        for c in np.unique(labels):
            pos = np.flatnonzero(labels == c)
            if len(pos) < 2:
                continue
            k = max(1, int(round(config.fraction * len(pos))))
            is_val[rng.choice(pos, size=k, replace=False)] = True
    if not is_val.any() or is_val.all():
        raise DataError(f"fold {fold}: the validation split is empty or takes every training item")
    return np.sort(train_idx[~is_val]), np.sort(train_idx[is_val])
