r"""DiME-Aug: distribution-aware multimodal class balancing of a fold's training items.

Every training item's class is the argmax of its target distribution. With :math:`n_c` items of
class :math:`c` and the majority count :math:`M = \max_c n_c`, every class is brought up to

.. math::  t_c = \lfloor r \cdot M \rfloor \quad (r = \text{ratio}, \text{default } 0.3)

by making :math:`\max(0, t_c - n_c)` new items. Each new item mixes a random item :math:`x_1` of the
class with one of its :math:`k` nearest neighbours :math:`x_2` in the class (Euclidean distance on
features standardised over the fold's training items), :math:`\alpha \sim U(0, 1)`:

.. math::

    x = x_1 + \alpha (x_2 - x_1), \qquad
    y = \frac{y_1 + \alpha (y_2 - y_1)}{\lVert y_1 + \alpha (y_2 - y_1) \rVert_1}, \qquad
    \text{transcript} = \begin{cases} \text{that of } x_1 & \alpha < 0.5 \\
                                      \text{that of } x_2 & \text{otherwise} \end{cases}

where :math:`x` is every modality's embedding (``embedding`` space) or the waveform over the shorter
length (``waveform`` space, :mod:`amber2.augment.waveform`). Parents and new items belong to one
fold's training part only; the draws of fold :math:`f` come from the stream ``(seed, f)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from amber2.augment.options import DimeOptions

__all__ = [
    "DimeAugmentation",
    "DimeError",
    "DimePlan",
    "augment_folds",
    "balance_counts",
    "class_neighbours",
    "item_classes",
    "mix_rows",
    "mix_targets",
    "plan_fold",
    "standardise",
]

log = logging.getLogger(__name__)


class DimeError(ValueError):
    """DiME-Aug cannot run with these data or settings (the message says which item or setting)."""


def item_classes(Y: np.ndarray) -> np.ndarray:
    """The class of each item: the argmax of its target (ties: the first class)."""
    return np.asarray(Y).argmax(axis=1)


def balance_counts(counts: Sequence[int] | np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Target count and number of new items per class.

    :math:`t_c = \lfloor r M \rfloor` with :math:`M` the majority count; ``new_c = max(0, t_c - n_c)``
    for classes that have at least one item (an absent class has nothing to mix and gets none).

    Returns:
        ``(target, new)``, integer arrays of the classes' length.
    """
    n = np.asarray(counts, dtype=np.int64)
    target = np.full(n.shape, math.floor(ratio * int(n.max(initial=0)) + 1e-9), dtype=np.int64)
    new = np.where(n > 0, np.maximum(target - n, 0), 0)
    return target, new


def standardise(F: np.ndarray) -> np.ndarray:
    """Columns scaled to mean 0 and standard deviation 1 (constant columns: centred only)."""
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit_transform(np.asarray(F, dtype=np.float64))


def class_neighbours(F: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest neighbours of every row among the other rows (Euclidean).

    With fewer than ``k + 1`` rows, every other row is a neighbour (``min(k, n - 1)`` columns); a
    single row is its own only neighbour (its new items are copies of it).

    Returns:
        ``(n, min(k, n - 1) or 1)`` row indices, nearest first.
    """
    from sklearn.neighbors import NearestNeighbors

    n = F.shape[0]
    if n == 1:
        return np.zeros((1, 1), dtype=np.int64)
    k_eff = min(k, n - 1)
    nn = NearestNeighbors(n_neighbors=k_eff + 1).fit(F)
    _, idx = nn.kneighbors(F)
    out = np.empty((n, k_eff), dtype=np.int64)
    for i in range(n):
        # the row itself is normally first, but exact duplicates may come before it
        others = [int(j) for j in idx[i] if j != i]
        out[i] = others[:k_eff]
    return out


def mix_rows(a: np.ndarray, b: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    r""":math:`a + \alpha (b - a)` row by row (``alpha`` has one value per row)."""
    a = np.asarray(a, dtype=np.float64)
    return a + np.asarray(alpha, dtype=np.float64)[:, None] * (np.asarray(b, dtype=np.float64) - a)


def mix_targets(y1: np.ndarray, y2: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    r"""Mixed target distributions :math:`(y_1 + \alpha (y_2 - y_1)) / \lVert\cdot\rVert_1`."""
    m = np.clip(mix_rows(y1, y2, alpha), 0.0, None)
    return m / m.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class DimePlan:
    """The new items of one fold: who their parents are and how they are mixed.

    Attributes:
        fold: The test fold whose training part is augmented.
        seed: ``options.seed``.
        parent1: Position (in the whole data) of each new item's first parent :math:`x_1`.
        parent2: Position of its neighbour :math:`x_2` (same class, same fold's training part).
        alpha: Mixing weight in [0, 1).
        label: Class index of the parents.
        before: Training items per class before balancing.
        target: Target count per class.
    """

    fold: int
    seed: int
    parent1: np.ndarray
    parent2: np.ndarray
    alpha: np.ndarray
    label: np.ndarray
    before: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.alpha)

    @property
    def text_parent(self) -> np.ndarray:
        """The parent whose transcript the new item keeps: :math:`x_1` if alpha < 0.5, else :math:`x_2`."""
        return np.where(self.alpha < 0.5, self.parent1, self.parent2)

    @property
    def added(self) -> np.ndarray:
        """New items per class."""
        return np.bincount(self.label, minlength=len(self.before))

    def ids(self, item_ids: Sequence[str]) -> list[str]:
        """Ids of the new items: ``dime-s<seed>-f<fold>-<j>-<h>``.

        ``h`` is a short hash of both parents' ids and alpha, so a clip's file name changes with its
        content (runs with other targets never overwrite each other's clips in a shared work folder).
        """
        from amber2.utils.fingerprint import hash_strings

        return [f"dime-s{self.seed}-f{self.fold}-{j:05d}-"
                f"{hash_strings([item_ids[a], item_ids[b], repr(float(al))])[:8]}"
                for j, (a, b, al) in enumerate(zip(self.parent1, self.parent2, self.alpha))]


def plan_fold(Y: np.ndarray, features: np.ndarray, train_idx: np.ndarray, options: DimeOptions, *,
              fold: int) -> DimePlan:
    """Choose the parents and mixing weights of one fold's new items.

    Args:
        Y: Targets of every item ``(n, C)``.
        features: Neighbour-search features of every item ``(n, d)`` (only training rows are read).
        train_idx: Positions of the fold's training items (after the validation split).
        options: The settings (``ratio``, ``k``, ``seed``, ``max_new``).
        fold: The fold (selects the random stream).

    Returns:
        The :class:`DimePlan` (empty when every class is at its target already).

    Raises:
        DimeError: the balancing would make more than ``options.max_new`` items.
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    C = np.asarray(Y).shape[1]
    cls = item_classes(np.asarray(Y)[train_idx])
    before = np.bincount(cls, minlength=C)
    target, new = balance_counts(before, options.ratio)
    if new.sum() > options.max_new:
        raise DimeError(f"fold {fold}: DiME-Aug would make {int(new.sum())} new items (ratio {options.ratio}, "
                        f"classes {before.tolist()}), more than augment.dime.max_new={options.max_new}")
    rng = np.random.default_rng([options.seed, fold])
    p1, p2, al, lab = [], [], [], []
    F = standardise(np.asarray(features)[train_idx])
    for c in np.flatnonzero(new):
        members = np.flatnonzero(cls == c)
        nbr = class_neighbours(F[members], options.k)
        m = int(new[c])
        first = rng.integers(len(members), size=m)
        pick = rng.integers(nbr.shape[1], size=m)
        alpha = rng.random(m)
        p1.append(train_idx[members[first]])
        p2.append(train_idx[members[nbr[first, pick]]])
        al.append(alpha)
        lab.append(np.full(m, c, dtype=np.int64))
    alpha = np.concatenate(al) if al else np.zeros(0)
    return DimePlan(fold, options.seed, _cat(p1), _cat(p2), alpha, _cat(lab), before, target)


@dataclass
class DimeAugmentation:
    """New training items of every fold, ready to append to the data.

    Attributes:
        plans: One :class:`DimePlan` per fold.
        ids: Ids of the new items (every fold's, in plan order), minus failures.
        X: ``{modality: (n_new, d)}`` embeddings of the new items.
        Y: Targets of the new items ``(n_new, C)``.
        fold: The fold each new item belongs to (it joins that fold's training part only).
        provenance: One row per new item: id, fold, seed, class, parent1, parent2 (ids), alpha,
            text_from (the parent whose transcript it keeps), and for waveform clips the clip path.
        failed: ``{new id: reason}`` for new items that could not be made (waveform space); they
            are left out and counted.
        options: The settings.
    """

    plans: list[DimePlan]
    ids: list[str]
    X: dict[str, np.ndarray]
    Y: np.ndarray
    fold: np.ndarray
    provenance: pd.DataFrame
    failed: dict[str, str] = field(default_factory=dict)
    options: DimeOptions = field(default_factory=DimeOptions)

    def rows_of(self, fold: int) -> np.ndarray:
        """Positions (among the new items) of one fold's new items."""
        return np.flatnonzero(self.fold == fold)

    def summary(self, classes: Sequence[str]) -> dict[str, Any]:
        """What ``results.json`` records: the settings and, per fold, counts per class."""
        made = self.provenance[~self.provenance["id"].isin(list(self.failed))] if len(self.provenance) else None
        folds: dict[str, Any] = {}
        for p in self.plans:
            added = np.zeros(len(classes), dtype=np.int64)
            if made is not None:
                part = made[made["fold"] == p.fold]
                for c in part["class_index"]:
                    added[int(c)] += 1
            folds[str(p.fold)] = {
                "before": dict(zip(classes, p.before.tolist())),
                "target": dict(zip(classes, p.target.tolist())),
                "added": dict(zip(classes, added.tolist())),
                "failed": int(sum(1 for i, f in zip(self.provenance["id"], self.provenance["fold"])
                                  if f == p.fold and i in self.failed)) if len(self.provenance) else 0,
            }
        return {
            "method": "dime", "space": self.options.space, "ratio": self.options.ratio, "k": self.options.k,
            "features": self.options.features, "seed": self.options.seed, "added": len(self.ids),
            "failed": len(self.failed), "folds": folds,
        }


def augment_folds(
    X: Mapping[str, np.ndarray],
    Y: np.ndarray,
    ids: Sequence[str],
    train_sets: Mapping[int, np.ndarray],
    options: DimeOptions,
    *,
    classes: Sequence[str] | None = None,
    corpus: Any = None,
) -> DimeAugmentation:
    """Plan and make every fold's new training items.

    Args:
        X: Embeddings per modality of every item ``{m: (n, d_m)}``.
        Y: Targets ``(n, C)``.
        ids: Item ids (the new items' provenance names their parents by id).
        train_sets: ``{fold: training positions}`` (after the validation split).
        options: The settings.
        classes: Class names (for the provenance; default ``class<i>``).
        corpus: A :class:`amber2.augment.waveform.CorpusAudio` (the corpus audio, the embedding cache
            and a work folder): needed by the ``waveform`` space and by ``features`` that are not a
            modality of ``X``.

    Returns:
        The :class:`DimeAugmentation`.

    Raises:
        DimeError: ``features`` is neither a modality nor computable, the waveform space has no
            corpus, or a fold would get more than ``max_new`` items.
    """
    Y = np.asarray(Y, dtype=np.float64)
    ids = [str(i) for i in ids]
    classes = list(classes) if classes else [f"class{i}" for i in range(Y.shape[1])]
    F = _features(X, ids, options, corpus)
    plans = [plan_fold(Y, F, np.asarray(tr), options, fold=int(f)) for f, tr in train_sets.items()]
    new_ids = [i for p in plans for i in p.ids(ids)]
    clash = sorted(set(new_ids) & set(ids))
    if clash:
        raise DimeError(f"DiME-Aug ids collide with item ids {clash[:5]}; rename those items")
    p1 = _cat([p.parent1 for p in plans])
    p2 = _cat([p.parent2 for p in plans])
    alpha = np.concatenate([p.alpha for p in plans]) if plans else np.zeros(0)
    label = _cat([p.label for p in plans])
    fold = _cat([np.full(len(p), p.fold, dtype=np.int64) for p in plans])
    text_from = np.where(alpha < 0.5, p1, p2)
    ida = np.asarray(ids, dtype=object)
    prov = pd.DataFrame({
        "id": new_ids, "fold": fold, "seed": options.seed, "class": [classes[c] for c in label],
        "class_index": label, "parent1": ida[p1].tolist(), "parent2": ida[p2].tolist(), "alpha": alpha,
        "text_from": ida[text_from].tolist(),
    })
    failed: dict[str, str] = {}
    if options.space == "embedding":
        Xn = {m: mix_rows(np.asarray(a)[p1], np.asarray(a)[p2], alpha).astype(np.float32) for m, a in X.items()}
    else:
        if corpus is None:
            raise DimeError("augment.dime.space=waveform mixes the corpus audio: it needs data.corpus (amber2 prepare) "
                            "and data.embeddings (amber2 extract), not arrays")
        Xn, failed, clips = corpus.embed_mixes(X, ids, prov, p1, p2, alpha, text_from)
        prov["clip"] = clips
    keep = np.array([i not in failed for i in new_ids], dtype=bool)
    Yn = mix_targets(Y[p1], Y[p2], alpha)
    if failed:
        log.warning("DiME-Aug: %d of %d new items could not be made and are left out, e.g. %s", len(failed),
                    len(new_ids), "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3]))
    aug = DimeAugmentation(plans, [i for i, k in zip(new_ids, keep) if k], {m: a[keep] for m, a in Xn.items()},
                           Yn[keep], fold[keep], prov, failed, options)
    log.info("DiME-Aug (%s space, ratio %g, k %d): %d new training items over %d folds", options.space,
             options.ratio, options.k, len(aug.ids), len(plans))
    return aug


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def _features(X: Mapping[str, np.ndarray], ids: list[str], options: DimeOptions, corpus: Any) -> np.ndarray:
    """The neighbour-search features of every item: a modality of ``X``, or a feature set from the audio."""
    if options.features in X:
        return np.asarray(X[options.features], dtype=np.float64)
    if corpus is None:
        raise DimeError(f"augment.dime.features={options.features!r} is not a modality of the training data "
                        f"({sorted(X)}); a named feature set (egemaps, compare, opensmile:<set>) needs the corpus "
                        "audio: data.corpus and data.embeddings")
    return np.asarray(corpus.features(ids, options.features), dtype=np.float64)
