"""Training data: aligned embeddings and target distributions, checked before any training.

A :class:`LabeledSet` holds, for n utterances, one embedding matrix per modality and the rater
distribution ``Y`` (rows sum to 1; Eq. 1 or a label policy). Construction validates everything a
long protocol would otherwise trip over hours later, with errors that name the items:

- duplicate ids, arrays whose row counts differ from the ids;
- NaN or inf in an embedding (the first offending ids are listed);
- negative label mass, rows that do not sum to 1 (renormalised with a warning, or an error), rows
  with no mass at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from amber2.utils.fingerprint import hash_arrays, hash_strings

__all__ = ["TRAIN_ONLY", "VALIDATION_ONLY", "DataError", "LabeledSet", "check_folds", "check_training_classes"]

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Training data is inconsistent; the message names the offending items."""


def _show(ids: Sequence[Any], n: int = 8) -> str:
    ids = list(ids)
    s = ", ".join(repr(str(i)) for i in ids[:n])  # str(): numpy ids would print as np.str_('u005')
    return s + (f" ... ({len(ids) - n} more)" if len(ids) > n else "")


@dataclass
class LabeledSet:
    """Embeddings and target distributions of n utterances.

    Args:
        ids: Utterance ids (unique).
        X: ``{modality: array (n, d_m)}``; converted to float32.
        Y: Target distributions ``(n, C)``.
        classes: Class names (length C); default ``class0..``.
        groups: Optional speaker/session per utterance (for group validation splits).
        meta: Optional per-utterance metadata columns (``{name: sequence of n values}``).
        on_bad_rows: ``renormalize`` rows that do not sum to 1 (with a warning naming them) or
            ``fail``.
        atol: Tolerance on the row sums.

    Raises:
        DataError: Any inconsistency, naming the items.
    """

    ids: list[str]
    X: dict[str, np.ndarray]
    Y: np.ndarray
    classes: list[str] = field(default_factory=list)
    groups: np.ndarray | None = None
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    on_bad_rows: Literal["renormalize", "fail"] = "renormalize"
    atol: float = 1e-4

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        n = len(self.ids)
        seen: dict[str, int] = {}
        dups = []
        for i in self.ids:
            if i in seen:
                dups.append(i)
            seen[i] = 1
        if dups:
            raise DataError(f"{len(dups)} duplicate utterance id(s): {_show(sorted(set(dups)))}")
        if not self.X:
            raise DataError("no modality given: X must hold at least one embedding matrix")
        X: dict[str, np.ndarray] = {}
        for m, a in self.X.items():
            arr = np.asarray(a, dtype=np.float32)
            if arr.ndim != 2:
                raise DataError(f"modality {m!r}: embeddings must be 2-D (n, d), got shape {arr.shape}")
            if arr.shape[0] != n:
                raise DataError(f"modality {m!r}: {arr.shape[0]} rows but {n} ids")
            bad = ~np.isfinite(arr).all(axis=1)
            if bad.any():
                raise DataError(
                    f"modality {m!r}: NaN or inf in the embeddings of {int(bad.sum())} item(s): "
                    f"{_show(np.asarray(self.ids)[bad])}"
                )
            X[m] = np.ascontiguousarray(arr)
        self.X = X
        Y = np.asarray(self.Y, dtype=np.float64)
        if Y.ndim != 2 or Y.shape[0] != n:
            raise DataError(f"Y must have shape (n={n}, C), got {Y.shape}")
        if Y.shape[1] < 2:
            raise DataError(f"Y needs at least 2 classes, got {Y.shape[1]}")
        ids_arr = np.asarray(self.ids)
        bad = ~np.isfinite(Y).all(axis=1)
        if bad.any():
            raise DataError(f"NaN or inf in the target distributions of {_show(ids_arr[bad])}")
        neg = (Y < 0).any(axis=1)
        if neg.any():
            raise DataError(f"negative label mass for {_show(ids_arr[neg])}")
        s = Y.sum(axis=1)
        empty = s <= 0
        if empty.any():
            raise DataError(
                f"{int(empty.sum())} item(s) have no label mass (zero valid votes?): {_show(ids_arr[empty])}; "
                "drop them with the label policy (it counts them) before training"
            )
        off = np.abs(s - 1.0) > self.atol
        if off.any():
            msg = (f"{int(off.sum())} target row(s) do not sum to 1 (e.g. {_show(ids_arr[off], 4)}, "
                   f"sums {np.round(s[off][:4], 6).tolist()})")
            if self.on_bad_rows == "fail":
                raise DataError(msg)
            log.warning("%s; renormalised", msg)
        self.Y = Y / s[:, None]
        if not self.classes:
            self.classes = [f"class{i}" for i in range(Y.shape[1])]
        self.classes = [str(c) for c in self.classes]
        if len(self.classes) != Y.shape[1]:
            raise DataError(f"{len(self.classes)} class names for {Y.shape[1]} columns of Y")
        if self.groups is not None:
            self.groups = np.asarray(self.groups).astype(str)
            if len(self.groups) != n:
                raise DataError(f"groups has {len(self.groups)} entries for {n} ids")
        self.meta = {k: np.asarray(v) for k, v in self.meta.items()}
        for k, v in self.meta.items():
            if len(v) != n:
                raise DataError(f"metadata column {k!r} has {len(v)} entries for {n} ids")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_classes(self) -> int:
        """Number of classes C."""
        return self.Y.shape[1]

    @property
    def modalities(self) -> list[str]:
        """Modality names in order."""
        return list(self.X)

    @property
    def dims(self) -> dict[str, int]:
        """Embedding width per modality."""
        return {m: int(a.shape[1]) for m, a in self.X.items()}

    def subset(self, index: np.ndarray | Sequence[int]) -> LabeledSet:
        """Rows ``index`` (positions) as a new set."""
        idx = np.asarray(index)
        return LabeledSet(
            [self.ids[i] for i in idx], {m: a[idx] for m, a in self.X.items()}, self.Y[idx], list(self.classes),
            None if self.groups is None else self.groups[idx], {k: v[idx] for k, v in self.meta.items()},
        )

    def select_modalities(self, modalities: Sequence[str]) -> LabeledSet:
        """The same items with only some modalities."""
        missing = [m for m in modalities if m not in self.X]
        if missing:
            raise DataError(f"modalities {missing} are not in the data (have {self.modalities})")
        return LabeledSet(list(self.ids), {m: self.X[m] for m in modalities}, self.Y, list(self.classes),
                          self.groups, dict(self.meta))

    def fingerprint(self) -> str:
        """SHA-256 of ids, embeddings and targets (what a run saw)."""
        arrays = {f"X:{m}": a for m, a in self.X.items()}
        arrays["Y"] = self.Y
        return hash_strings([hash_strings(self.ids), hash_arrays(arrays), *self.classes])


#: Fold value of an item that is always in the training part (never tested).
TRAIN_ONLY = -1
#: Fold value of an item that is always the validation set (a fixed partition such as MSP-Podcast's
#: Development): when any item has it, it replaces the validation split drawn from the training part.
VALIDATION_ONLY = -2


def check_folds(
    data: LabeledSet, folds: np.ndarray, fold_ids: Sequence[int] | None = None
) -> list[int]:
    """Validate a fold assignment: the test fold per item, or -1 (always training) or -2 (always validation).

    Raises:
        DataError: Wrong length, another negative value, a requested fold with no items, a gap in the
            numbering of the folds present (fold 2 missing from 0, 1, 3, 4: a fold with no items),
            or a fold whose training part has a class that never occurs, naming the fold and the class.

    Returns:
        The folds to run, sorted.
    """
    folds = np.asarray(folds)
    if folds.shape != (len(data),):
        raise DataError(f"fold assignment has shape {folds.shape}, expected ({len(data)},)")
    odd = np.flatnonzero(folds < VALIDATION_ONLY)
    if len(odd):
        raise DataError(f"fold values must be >= 0 (test fold), -1 (always training) or -2 (always validation); "
                        f"got {sorted(set(folds[odd].tolist()))} for {_show(np.asarray(data.ids)[odd])}")
    present = sorted(int(f) for f in np.unique(folds) if f >= 0)
    if fold_ids is None:
        gaps = sorted(set(range(present[0], present[-1] + 1)) - set(present)) if present else []
        if gaps:
            raise DataError(f"fold(s) {gaps} have no items (folds present: {present}); renumber the folds or "
                            "choose the folds to run with protocol.folds")
    wanted = present if fold_ids is None else sorted(int(f) for f in fold_ids)
    if not wanted:
        raise DataError("no test fold: the fold assignment has no value >= 0")
    fixed_val = folds == VALIDATION_ONLY
    for f in wanted:
        test = folds == f
        if not test.any():
            raise DataError(f"fold {f} has no items (folds present: {present})")
        train = ~test & ~fixed_val
        if not train.any():
            raise DataError(f"fold {f}: every item is in the test fold, nothing to train on")
        check_training_classes(data, np.flatnonzero(train), f)
    return wanted


def check_training_classes(data: LabeledSet, train_idx: np.ndarray, fold: int) -> None:
    """Fail when a class never occurs in a fold's training items.

    A class *occurs* in an item when its target mass is above the class's floor: the smallest mass
    it has anywhere in the data (0 without smoothing; ``eps / C`` under label smoothing, which gives
    every class some mass), with a 10 % margin for rows renormalised after rounding.

    Raises:
        DataError: naming the fold and the classes.
    """
    Y = data.Y
    floor = Y.min(axis=0)
    seen = (Y[np.asarray(train_idx)] > floor * 1.1 + 1e-9).any(axis=0)
    never = [data.classes[c] for c in np.flatnonzero(~seen)]
    if never:
        raise DataError(f"fold {fold}: class(es) {never} never occur in the training items "
                        f"({len(train_idx)} items); merge or drop the class, or change the folds")
