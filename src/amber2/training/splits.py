"""Deterministic splits and mini-batch orders shared by both training engines.

The batched ensemble and the plain per-run loop must see *identical* data: the same validation
split for a fold and the same mini-batch order for a (fold, seed, epoch). Both engines call these
functions.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from amber2.training.config import ValidationConfig
from amber2.training.data import DataError, LabeledSet

__all__ = ["derive_seed", "epoch_order", "resolved_strategy", "validation_split"]

#: How a missing group reads once ``LabeledSet`` has made the groups strings.
_MISSING_GROUP = frozenset({"", "nan", "None", "<NA>"})


def derive_seed(*parts: object) -> int:
    """A 63-bit seed derived from any printable parts (stable across runs and platforms)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def epoch_order(n: int, *, seed: int, fold: int, epoch: int) -> np.ndarray:
    """The shuffled order of a fold's ``n`` training items in one epoch of one seed."""
    rng = np.random.default_rng(derive_seed("order", seed, fold, epoch))
    return rng.permutation(n)


def resolved_strategy(data: LabeledSet, train_idx: np.ndarray, config: ValidationConfig) -> str:
    """The strategy a fold's validation split uses: ``auto`` resolved, any other strategy as given.

    ``auto`` holds out whole speakers (``group-fraction``) whenever the data knows every item's group
    and the fold's training part has at least two groups; otherwise it falls back to ``fraction``.
    """
    if config.strategy != "auto":
        return config.strategy
    if data.groups is None:
        return "fraction"
    present = {str(g) for g in np.asarray(data.groups)[np.asarray(train_idx)]}
    if present & _MISSING_GROUP:  # an item without a group: whole-group splits would be ill-defined
        return "fraction"
    return "group-fraction" if len(present) >= 2 else "fraction"


def validation_split(
    data: LabeledSet, train_idx: np.ndarray, config: ValidationConfig, *, fold: int,
    folds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split a fold's training positions into (train, validation).

    One implementation serves corpora and training: this calls
    :func:`amber2.corpora.folds.validation_ids` with the fold's training ids and a seed derived from
    ``(config.seed, fold)``. Strategies:

    * ``auto``: ``group-fraction`` when the data has groups and the fold's training part has at least
      two of them, else ``fraction`` (:func:`resolved_strategy`);
    * ``fraction``: a class-stratified share (by the argmax of y) of the items, at least one per class
      that has >= 2 items;
    * ``group``: whole groups (speakers, sessions) drawn at random, ``round(fraction x groups)`` of
      them and at least one (IEMOCAP's leave-one-session-out: one of the four training sessions);
    * ``group-fraction``: whole groups drawn until at least ``fraction`` of the items are held out;
    * ``emo-superb``: EMO-SUPERB's validation set of test fold ``fold``, the training items of fold
      ``EMO_SUPERB_VALIDATION_FOLDS[config.scheme][fold]`` (needs ``folds``, numbered by that scheme).

    Args:
        data: The labelled set.
        train_idx: Positions of the fold's training part.
        config: The validation settings.
        fold: The test fold (-1: no test fold, e.g. a final model on all data).
        folds: Test fold of every item of ``data`` (only ``emo-superb`` reads it).

    Returns:
        Sorted position arrays ``(train, val)``.

    Raises:
        DataError: a group strategy without groups, or too few items/groups to hold any out.
    """
    from amber2.corpora.folds import FoldError, emo_superb_validation_ids, validation_ids

    train_idx = np.asarray(train_idx)
    ids = [data.ids[i] for i in train_idx]
    seed = derive_seed("validation", config.seed, fold)
    strategy = resolved_strategy(data, train_idx, config)
    try:
        if strategy == "emo-superb":
            if folds is None or fold < 0:
                raise DataError("validation strategy 'emo-superb' takes the validation set from the fold file: it "
                                "needs a test fold and the fold assignment (use fraction or group for a final "
                                "model trained on all data)")
            val = emo_superb_validation_ids(pd.Series(np.asarray(folds)[train_idx], index=ids), fold,
                                            scheme=config.scheme)
            if not val:
                raise DataError(f"fold {fold}: no training item is in EMO-SUPERB's validation fold "
                                f"{config.scheme} of it; was the fold file prepared with --folds {config.scheme}?")
        elif strategy in ("group", "group-fraction"):
            if data.groups is None:
                raise DataError(f"validation strategy {config.strategy!r} needs groups (speaker or session) "
                                "for every item")
            groups = pd.Series(np.asarray(data.groups)[train_idx].astype(str), index=ids)
            n_groups = groups.nunique()
            if n_groups < 2:
                raise DataError(f"fold {fold}: only {n_groups} training group(s); cannot hold one out for "
                                "validation")
            val = validation_ids(groups, ids, method=strategy, fraction=config.fraction, seed=seed,
                                 n_groups=max(1, round(config.fraction * n_groups)))
        else:
            val = validation_ids(None, ids, method="fraction", fraction=config.fraction, seed=seed,
                                 labels=(ids, data.Y[train_idx]))
    except FoldError as exc:
        raise DataError(f"fold {fold}: {exc}") from exc
    held_out = set(val)  # a hash lookup per id: np.isin on object arrays takes ~0.1 s per fold at IEMOCAP size
    is_val = np.fromiter((i in held_out for i in ids), dtype=bool, count=len(ids))
    if not is_val.any() or is_val.all():
        raise DataError(f"fold {fold}: the validation split is empty or takes every training item")
    return np.sort(train_idx[~is_val]), np.sort(train_idx[is_val])
