r"""Cross-validation folds and validation splits.

A **fold assignment** is a :class:`pandas.Series`: index = utterance id, value = the fold in which the
utterance is a *test* item (``0 .. k-1``), or ``-1`` when it is in no fold (no group, no target under
the label policy, an actor outside the scheme's ranges). ``series.name`` describes the scheme and
``series.attrs["report"]`` holds sizes and balance figures (:func:`fold_report`).

Schemes (:func:`make_folds`):

``leave-one-group-out`` (aliases ``logo``, ``leave-one-session-out``)
    One fold per value of a group column (IEMOCAP sessions: fold 0 = ``Ses01`` ... fold 4 = ``Ses05``),
    in natural sort order.
``crema-d-emo-superb``
    EMO-SUPERB's CREMA-D actor folds, numbered as their published label files: fold i = their file i+1,
    testing actors 1001-1018, 1019-1036, 1037-1054, 1055-1072, 1073-1091 (folds 0-4); fold i validates on
    fold i+1's test actors (fold 4 on fold 0's).
``iemocap-emo-superb``
    EMO-SUPERB's IEMOCAP session folds, numbered as their files: folds 0-4 test sessions Ses04, Ses03, Ses02,
    Ses01, Ses05 and validate on Ses05, Ses04, Ses03, Ses02, Ses01.

For the two EMO-SUPERB schemes :data:`EMO_SUPERB_VALIDATION_FOLDS` gives each fold's validation fold and
:func:`emo_superb_validation_ids` its validation items, so results compare with theirs fold by fold.
``speaker-k`` (alias ``k-speaker``)
    ``k`` speaker-disjoint folds of as equal size as speakers allow (greedy, seeded).
``balanced`` (aliases ``paper``, ``ambiguity-balanced``)
    The paper's ``k`` equal-size folds balanced for ambiguity and class: items are stratified by
    (entropy bin of y, argmax class of y) and dealt round-robin, so fold sizes differ by at most one and
    every stratum is spread evenly. With ``speakers_disjoint=True`` whole speakers are assigned
    greedily (largest first) to the fold that keeps sizes and strata closest to their targets; sizes
    are then as equal as the speakers allow and the report gives the imbalance.

The official MSP-Podcast partitions are a fixed split, not folds: :func:`official_split`.
Inside the training part of a fold, :func:`validation_ids` picks the validation items (one or more
training groups held out, or a stratified fraction).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from amber2.metrics import row_entropy
from amber2.utils.logging import get_logger

if TYPE_CHECKING:
    from amber2.corpora.table import CorpusTable
    from amber2.corpora.targets import Targets

__all__ = [
    "CREMA_D_EMO_SUPERB_FOLDS",
    "EMO_SUPERB_VALIDATION_FOLDS",
    "FOLD_SCHEMES",
    "IEMOCAP_EMO_SUPERB_SESSIONS",
    "FoldError",
    "balanced_folds",
    "crema_d_emo_superb_folds",
    "emo_superb_validation_ids",
    "fold_report",
    "iemocap_emo_superb_folds",
    "leave_one_group_out",
    "make_folds",
    "official_split",
    "speaker_folds",
    "validation_ids",
]

log = get_logger(__name__)

#: EMO-SUPERB's CREMA-D test actors per fold as inclusive actor-id ranges (fold i = their label file i+1).
CREMA_D_EMO_SUPERB_FOLDS: tuple[tuple[int, int], ...] = (
    (1001, 1018), (1019, 1036), (1037, 1054), (1055, 1072), (1073, 1091),
)
#: EMO-SUPERB's IEMOCAP test session per fold (fold i = their label file i+1).
IEMOCAP_EMO_SUPERB_SESSIONS: tuple[str, ...] = ("Ses04", "Ses03", "Ses02", "Ses01", "Ses05")
#: Per EMO-SUPERB scheme, the fold whose test items are fold i's validation items: CREMA-D file k validates
#: on file k+1's test actors; IEMOCAP files 1-5 validate on sessions 5, 4, 3, 2, 1.
EMO_SUPERB_VALIDATION_FOLDS: dict[str, tuple[int, ...]] = {
    "crema-d-emo-superb": (1, 2, 3, 4, 0),
    "iemocap-emo-superb": (4, 0, 1, 2, 3),
}
#: Scheme names accepted by :func:`make_folds` (aliases map to the first name).
FOLD_SCHEMES: dict[str, str] = {
    "leave-one-group-out": "leave-one-group-out", "logo": "leave-one-group-out",
    "leave-one-session-out": "leave-one-group-out", "loso": "leave-one-group-out",
    "crema-d-emo-superb": "crema-d-emo-superb", "emo-superb-actors": "crema-d-emo-superb",
    "iemocap-emo-superb": "iemocap-emo-superb", "emo-superb-sessions": "iemocap-emo-superb",
    "speaker-k": "speaker-k", "k-speaker": "speaker-k", "speaker": "speaker-k",
    "balanced": "balanced", "paper": "balanced", "ambiguity-balanced": "balanced",
}


class FoldError(ValueError):
    """Folds cannot be made as asked (unknown scheme, missing labels or columns, too few groups)."""


# ---------------------------------------------------------------------- helpers
def _items(table: CorpusTable | pd.DataFrame) -> pd.DataFrame:
    items = table.items if hasattr(table, "items") and not isinstance(table, pd.DataFrame) else table
    if "id" not in items.columns:
        raise FoldError("the items frame has no 'id' column")
    return items


def _natural_key(value: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(value))]


def _series(ids: Sequence[str], folds: np.ndarray, name: str) -> pd.Series:
    return pd.Series(np.asarray(folds, dtype=np.int64), index=pd.Index(list(ids), name="id"), name=name)


def _label_arrays(labels: Targets | tuple[Sequence[str], np.ndarray]) -> tuple[list[str], np.ndarray]:
    if hasattr(labels, "ids") and hasattr(labels, "Y"):
        return list(labels.ids), np.asarray(labels.Y, dtype=np.float64)  # type: ignore[union-attr]
    ids, Y = labels  # type: ignore[misc]
    return [str(i) for i in ids], np.asarray(Y, dtype=np.float64)


def entropy_bins(entropy: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-count entropy bins that keep ties together (some bins may end up empty).

    Edges are the ``j / n_bins`` quantiles (j = 1 .. n_bins-1); an item goes to the number of edges
    strictly below or equal to its entropy, so equal entropies always share a bin.

    Returns:
        int array of bin indices in ``[0, n_bins)``.
    """
    if len(entropy) == 0 or n_bins <= 1:
        return np.zeros(len(entropy), dtype=np.int64)
    edges = np.unique(np.quantile(entropy, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return np.searchsorted(edges, entropy, side="right").astype(np.int64)


# ---------------------------------------------------------------------- schemes
def leave_one_group_out(table: CorpusTable | pd.DataFrame, *, column: str = "group") -> pd.Series:
    """One fold per distinct value of ``column`` (natural order); items without a value get -1.

    Raises:
        FoldError: No such column, or fewer than 2 groups.
    """
    items = _items(table)
    if column not in items.columns:
        raise FoldError(f"no column {column!r} to make leave-one-group-out folds from")
    vals = items[column]
    groups = sorted({str(v) for v in vals if not pd.isna(v)}, key=_natural_key)
    if len(groups) < 2:
        raise FoldError(f"leave-one-group-out needs at least 2 values of {column!r}, found {groups}")
    pos = {g: k for k, g in enumerate(groups)}
    folds = np.array([-1 if pd.isna(v) else pos[str(v)] for v in vals], dtype=np.int64)
    s = _series(items["id"].astype(str).tolist(), folds, f"leave-one-group-out({column})")
    s.attrs["groups"] = groups
    return s


def crema_d_emo_superb_folds(table: CorpusTable | pd.DataFrame, *, column: str = "speaker") -> pd.Series:
    """EMO-SUPERB's five CREMA-D actor folds (:data:`CREMA_D_EMO_SUPERB_FOLDS`); other actors get -1.

    Fold i tests the actors of EMO-SUPERB's label file i+1 and validates on fold i+1's actors
    (:func:`emo_superb_validation_ids`).
    """
    items = _items(table)
    if column not in items.columns:
        raise FoldError(f"no column {column!r} holding CREMA-D actor ids")
    folds = np.full(len(items), -1, dtype=np.int64)
    for i, v in enumerate(items[column]):
        try:
            actor = int(str(v))
        except ValueError:
            continue
        for k, (lo, hi) in enumerate(CREMA_D_EMO_SUPERB_FOLDS):
            if lo <= actor <= hi:
                folds[i] = k
                break
    s = _series(items["id"].astype(str).tolist(), folds, "crema-d-emo-superb")
    s.attrs["validation_folds"] = list(EMO_SUPERB_VALIDATION_FOLDS["crema-d-emo-superb"])
    return s


def iemocap_emo_superb_folds(table: CorpusTable | pd.DataFrame, *, column: str = "group") -> pd.Series:
    """EMO-SUPERB's five IEMOCAP session folds (:data:`IEMOCAP_EMO_SUPERB_SESSIONS`); other items get -1.

    Fold i tests the session of EMO-SUPERB's label file i+1 (Ses04, Ses03, Ses02, Ses01, Ses05) and validates
    on Ses05, Ses04, Ses03, Ses02, Ses01 respectively (:func:`emo_superb_validation_ids`).

    Raises:
        FoldError: No such column.
    """
    items = _items(table)
    if column not in items.columns:
        raise FoldError(f"no column {column!r} holding IEMOCAP sessions (Ses01 ... Ses05)")
    pos = {s: k for k, s in enumerate(IEMOCAP_EMO_SUPERB_SESSIONS)}
    folds = np.array([-1 if pd.isna(v) else pos.get(str(v), -1) for v in items[column]], dtype=np.int64)
    s = _series(items["id"].astype(str).tolist(), folds, "iemocap-emo-superb")
    s.attrs["validation_folds"] = list(EMO_SUPERB_VALIDATION_FOLDS["iemocap-emo-superb"])
    return s


def emo_superb_validation_ids(folds: pd.Series, fold: int, *, scheme: str | None = None) -> list[str]:
    """EMO-SUPERB's validation items of test fold ``fold``: the test items of its validation fold.

    Args:
        folds: A fold assignment of an EMO-SUPERB scheme (``crema-d-emo-superb`` or ``iemocap-emo-superb``).
        fold: The test fold (0-4; EMO-SUPERB's label file ``fold + 1``).
        scheme: The scheme's name; default ``folds.name`` (a ``folds.csv`` read back has lost it: pass it).

    Returns:
        The ids of fold :data:`EMO_SUPERB_VALIDATION_FOLDS` ``[scheme][fold]``, in the order of ``folds``.

    Raises:
        FoldError: Not an EMO-SUPERB scheme, or ``fold`` outside 0-4.
    """
    name = FOLD_SCHEMES.get(str(scheme if scheme is not None else folds.name).strip().lower())
    if name not in EMO_SUPERB_VALIDATION_FOLDS:
        raise FoldError(f"{scheme if scheme is not None else folds.name!r} is not an EMO-SUPERB fold scheme; "
                        f"known: {', '.join(EMO_SUPERB_VALIDATION_FOLDS)}")
    table = EMO_SUPERB_VALIDATION_FOLDS[name]
    if not 0 <= int(fold) < len(table):
        raise FoldError(f"fold {fold} is not one of {name}'s folds 0-{len(table) - 1}")
    val = table[int(fold)]
    return [str(i) for i, f in folds.items() if int(f) == val]


def _assign_units(unit_strata: np.ndarray, k: int, seed: int) -> np.ndarray:
    r"""Greedy assignment of units (speakers) with stratum counts to ``k`` folds.

    Units are taken largest first (ties in a seeded random order); each goes to the fold that
    minimises the growth of

    .. math::

        S \cdot (n_f - \bar n)^2 + \sum_s (c_{f,s} - \bar c_s)^2

    where :math:`n_f` is the fold's size, :math:`c_{f,s}` its count in stratum s, bars the targets
    (totals / k) and S the number of strata, so size equality comes first.

    Returns:
        int array (n_units,) of folds.
    """
    n_units, n_strata = unit_strata.shape
    sizes = unit_strata.sum(axis=1)
    rng = np.random.default_rng(seed)
    tie = rng.permutation(n_units)
    order = np.lexsort((tie, -sizes))
    target = unit_strata.sum(axis=0) / k
    size_target = sizes.sum() / k
    fold_counts = np.zeros((k, n_strata))
    fold_sizes = np.zeros(k)
    out = np.empty(n_units, dtype=np.int64)
    w = float(max(n_strata, 1))
    offset = int(rng.integers(k))
    fold_order = (np.arange(k) + offset) % k
    for u in order:
        c = unit_strata[u]
        n = sizes[u]
        # growth of the squared deviations when unit u joins each fold
        d_size = (fold_sizes + n - size_target) ** 2 - (fold_sizes - size_target) ** 2
        d_strata = ((fold_counts + c - target) ** 2 - (fold_counts - target) ** 2).sum(axis=1)
        cost = w * d_size + d_strata
        f = fold_order[np.argmin(cost[fold_order])]
        out[u] = f
        fold_counts[f] += c
        fold_sizes[f] += n
    return out


def _units(items: pd.DataFrame, ids: Sequence[str], column: str) -> np.ndarray:
    """Unit index per id: its speaker, or a unit of its own when the speaker is unknown."""
    spk = items.set_index(items["id"].astype(str))[column] if column in items.columns else None
    keys: list[str] = []
    for i in ids:
        v = None if spk is None else spk.get(i)
        keys.append(f"\x00{i}" if v is None or pd.isna(v) else f"s:{v}")
    _, inv = np.unique(np.array(keys, dtype=object), return_inverse=True)
    return inv.astype(np.int64)


def speaker_folds(table: CorpusTable | pd.DataFrame, *, k: int = 5, seed: int = 0,
                  column: str = "speaker") -> pd.Series:
    """``k`` speaker-disjoint folds of near-equal size (items with no speaker count as their own speaker).

    Raises:
        FoldError: No such column, or fewer speakers than folds.
    """
    items = _items(table)
    if column not in items.columns:
        raise FoldError(f"no column {column!r} to make speaker folds from")
    ids = items["id"].astype(str).tolist()
    units = _units(items, ids, column)
    n_units = int(units.max()) + 1 if len(units) else 0
    if n_units < k:
        raise FoldError(f"{n_units} speaker(s) cannot fill {k} speaker-disjoint folds")
    strata = np.bincount(units, minlength=n_units).reshape(-1, 1).astype(float)
    unit_fold = _assign_units(strata, k, seed)
    s = _series(ids, unit_fold[units], f"speaker-k(k={k},seed={seed},column={column})")
    s.attrs["report"] = fold_report(s)
    return s


def balanced_folds(
    table: CorpusTable | pd.DataFrame | None,
    labels: Targets | tuple[Sequence[str], np.ndarray],
    *,
    k: int = 5,
    seed: int = 0,
    n_bins: int = 5,
    speakers_disjoint: bool = False,
    speaker_column: str = "speaker",
) -> pd.Series:
    r"""The paper's ``k`` equal-size folds balanced for ambiguity (entropy of y) and class (argmax y).

    Stratum of an item = (entropy bin, argmax class), entropy :math:`H(y) = -\sum_c y_c \log_2 y_c`
    binned into ``n_bins`` equal-count bins (ties kept together). Without speaker constraints the items
    are sorted by (stratum, seeded random key) and dealt to folds round-robin from a seeded start, so
    fold sizes differ by at most 1 and each stratum's items differ by at most 1 between folds. With
    ``speakers_disjoint`` whole speakers are placed greedily (see :func:`_assign_units`).

    Args:
        table: The corpus table (or its items); needed for the speakers and for items without a
            target (they get -1). None: only the labelled ids are returned.
        labels: A :class:`~amber2.labels.LabelSet`, or ``(ids, Y)``.
        k: Number of folds (>= 2).
        seed: Seed of the random order (same seed, same folds).
        n_bins: Entropy bins.
        speakers_disjoint: Keep each speaker's items in one fold.
        speaker_column: Item column holding the speaker.

    Returns:
        The fold assignment (``attrs["report"]`` holds sizes, class shares and mean entropy per fold).

    Raises:
        FoldError: ``k < 2``, fewer labelled items (or speakers) than folds.
    """
    if k < 2:
        raise FoldError(f"k must be >= 2, got {k}")
    lab_ids, Y = _label_arrays(labels)
    n = len(lab_ids)
    if n < k:
        raise FoldError(f"{n} labelled item(s) cannot fill {k} folds")
    ent = row_entropy(Y)
    bins = entropy_bins(ent, n_bins)
    cls = np.argmax(Y, axis=1) if Y.shape[1] else np.zeros(n, dtype=np.int64)
    n_cls = max(Y.shape[1], 1)
    stratum = bins * n_cls + cls
    rng = np.random.default_rng(seed)
    if not speakers_disjoint:
        key = rng.permutation(n)
        order = np.lexsort((key, stratum))
        start = int(rng.integers(k))
        folds = np.empty(n, dtype=np.int64)
        folds[order] = (np.arange(n) + start) % k
    else:
        if table is None:
            raise FoldError("speakers_disjoint needs the corpus table (for the speakers)")
        items = _items(table)
        units = _units(items, lab_ids, speaker_column)
        n_units = int(units.max()) + 1
        if n_units < k:
            raise FoldError(f"{n_units} speaker(s) cannot fill {k} speaker-disjoint folds")
        _, strat_idx = np.unique(stratum, return_inverse=True)
        n_strata = int(strat_idx.max()) + 1
        unit_strata = np.zeros((n_units, n_strata))
        np.add.at(unit_strata, (units, strat_idx), 1.0)
        folds = _assign_units(unit_strata, k, seed)[units]
    name = f"balanced(k={k},seed={seed},bins={n_bins}{',speakers' if speakers_disjoint else ''})"
    if table is not None:
        all_ids = _items(table)["id"].astype(str).tolist()
        pos = dict(zip(lab_ids, folds.tolist(), strict=True))
        s = _series(all_ids, np.array([pos.get(i, -1) for i in all_ids], dtype=np.int64), name)
    else:
        s = _series(lab_ids, folds, name)
    s.attrs["report"] = fold_report(s, labels)
    if speakers_disjoint:
        rep = s.attrs["report"]
        log.info("speaker-disjoint balanced folds: sizes %s (max/min %.3f)", rep["sizes"], rep["size_ratio"])
    return s


# ---------------------------------------------------------------------- front door
def make_folds(
    table: CorpusTable | pd.DataFrame,
    scheme: str,
    *,
    k: int = 5,
    seed: int = 0,
    labels: Targets | tuple[Sequence[str], np.ndarray] | None = None,
    group_column: str = "group",
    speaker_column: str = "speaker",
    speakers_disjoint: bool = False,
    n_bins: int = 5,
) -> pd.Series:
    """Make a fold assignment by scheme name (see the module docstring).

    Args:
        table: The corpus table (or its items frame).
        scheme: ``leave-one-group-out`` | ``crema-d-emo-superb`` | ``iemocap-emo-superb`` | ``speaker-k`` |
            ``balanced`` (or an alias in :data:`FOLD_SCHEMES`).
        k: Folds for ``speaker-k`` and ``balanced``.
        seed: Seed for ``speaker-k`` and ``balanced``.
        labels: Targets (needed by ``balanced``): a LabelSet or ``(ids, Y)``.
        group_column: Column for ``leave-one-group-out`` and ``iemocap-emo-superb``.
        speaker_column: Column for the speaker schemes.
        speakers_disjoint: ``balanced`` with whole speakers per fold.
        n_bins: Entropy bins for ``balanced``.

    Returns:
        A Series (index id, value fold in 0..k-1 or -1) named after the scheme.

    Raises:
        FoldError: Unknown scheme (``official`` explains :func:`official_split`), or what the scheme needs
            is missing.
    """
    key = str(scheme).strip().lower()
    if key in ("official", "msp-official", "partitions"):
        raise FoldError("the official MSP-Podcast partitions are a fixed train/development/test split, "
                        "not cross-validation folds: use amber2.corpora.folds.official_split(table)")
    if key not in FOLD_SCHEMES:
        raise FoldError(f"unknown fold scheme {scheme!r}; known: {', '.join(sorted(set(FOLD_SCHEMES.values())))} "
                        f"(aliases: {', '.join(sorted(k for k, v in FOLD_SCHEMES.items() if k != v))})")
    canon = FOLD_SCHEMES[key]
    if canon == "leave-one-group-out":
        return leave_one_group_out(table, column=group_column)
    if canon == "crema-d-emo-superb":
        return crema_d_emo_superb_folds(table, column=speaker_column)
    if canon == "iemocap-emo-superb":
        return iemocap_emo_superb_folds(table, column=group_column)
    if canon == "speaker-k":
        return speaker_folds(table, k=k, seed=seed, column=speaker_column)
    if labels is None:
        raise FoldError("the balanced scheme needs targets: pass labels=policy.apply(table)")
    return balanced_folds(table, labels, k=k, seed=seed, n_bins=n_bins,
                          speakers_disjoint=speakers_disjoint, speaker_column=speaker_column)


def official_split(table: CorpusTable | pd.DataFrame, *, column: str = "split") -> pd.Series:
    """The release's fixed partition per item (MSP-Podcast: Train, Development, Test1, Test2, Test3).

    Returns:
        A Series (index id, value the split name or None) named ``official``.

    Raises:
        FoldError: The table has no ``column`` or it is empty.
    """
    items = _items(table)
    if column not in items.columns or items[column].isna().all():
        raise FoldError(f"the corpus table has no official partition (column {column!r} missing or empty)")
    vals = [None if pd.isna(v) else str(v) for v in items[column]]
    return pd.Series(vals, index=pd.Index(items["id"].astype(str).tolist(), name="id"), name="official",
                     dtype=object)


# ---------------------------------------------------------------------- report
def fold_report(folds: pd.Series, labels: Targets | tuple[Sequence[str], np.ndarray] | None = None
                ) -> dict[str, Any]:
    """Sizes and balance of a fold assignment.

    Returns:
        ``{"scheme", "k", "sizes": [...], "unassigned", "size_ratio": max/min size}`` and, with
        labels, ``"class_share"`` (per fold, the share of items whose argmax is each class),
        ``"max_class_share_gap"`` (largest absolute gap to the overall share) and
        ``"mean_entropy_bits"`` per fold.
    """
    vals = folds.to_numpy()
    k = int(vals.max()) + 1 if len(vals) and vals.max() >= 0 else 0
    sizes = [int((vals == f).sum()) for f in range(k)]
    rep: dict[str, Any] = {
        "scheme": str(folds.name), "k": k, "sizes": sizes, "unassigned": int((vals < 0).sum()),
        "size_ratio": (max(sizes) / min(sizes)) if sizes and min(sizes) > 0 else float("inf"),
    }
    if labels is not None and k:
        ids, Y = _label_arrays(labels)
        classes = list(getattr(labels, "classes", range(Y.shape[1])))
        fold_of = folds.reindex(ids).fillna(-1).astype(int).to_numpy()
        top = np.argmax(Y, axis=1)
        ent = row_entropy(Y)
        overall = np.bincount(top, minlength=Y.shape[1]) / max(len(top), 1)
        shares, ents = [], []
        gap = 0.0
        for f in range(k):
            m = fold_of == f
            share = np.bincount(top[m], minlength=Y.shape[1]) / max(int(m.sum()), 1)
            gap = max(gap, float(np.abs(share - overall).max()) if m.any() else 0.0)
            shares.append({str(c): round(float(x), 4) for c, x in zip(classes, share, strict=True)})
            ents.append(round(float(ent[m].mean()), 4) if m.any() else float("nan"))
        rep.update(class_share=shares, max_class_share_gap=round(gap, 4), mean_entropy_bits=ents)
    return rep


# ---------------------------------------------------------------------- validation
def validation_ids(
    table: CorpusTable | pd.DataFrame | pd.Series | None,
    train_ids: Iterable[str],
    *,
    method: str = "group",
    groups: Sequence[str] | None = None,
    n_groups: int = 1,
    fraction: float = 0.1,
    column: str = "group",
    labels: Targets | tuple[Sequence[str], np.ndarray] | None = None,
    seed: int = 0,
) -> list[str]:
    """Pick validation items from the training part of a fold (the training protocol calls this).

    The methods are:

    * ``group``: hold out whole training groups (``column``; IEMOCAP: a training session) - the ones in
      ``groups`` if given, else ``n_groups`` groups drawn with ``seed``.
    * ``group-fraction``: hold out whole groups (e.g. ``column="speaker"``), drawn with ``seed``, until at
      least ``fraction`` of the training items are held out.
    * ``fraction``: a ``fraction`` of the training items, stratified by argmax class when ``labels``
      are given (each class contributes ``round(fraction * n_class)`` items, at least 1 when it has
      2 or more), else drawn uniformly.

    Args:
        table: The corpus table, its items frame, or a Series (index id -> group); may be None for
            ``fraction``.
        train_ids: The fold's training ids.
        method: ``group`` | ``group-fraction`` | ``fraction``.
        groups: Explicit groups to hold out (``group``).
        n_groups: Groups drawn when ``groups`` is None (``group``).
        fraction: Share of the training items to hold out (``group-fraction``, ``fraction``), in (0, 1).
        column: Group column.
        labels: Targets for stratification (``fraction``).
        seed: Random seed.

    Returns:
        Validation ids, in the order of ``train_ids`` (a subset of them).

    Raises:
        FoldError: Unknown method, an explicit group not among the training groups, too few groups,
            or a fraction outside (0, 1).
    """
    train = [str(i) for i in train_ids]
    rng = np.random.default_rng(seed)
    if method in ("group", "group-fraction"):
        if table is None:
            raise FoldError(f"method {method!r} needs the table (or a Series id -> group)")
        if isinstance(table, pd.Series):
            gmap = table
        else:
            items = _items(table)
            if column not in items.columns:
                raise FoldError(f"no column {column!r} to hold groups out from")
            gmap = pd.Series(items[column].to_numpy(), index=items["id"].astype(str))
        g_of = gmap.reindex(train)
        present = sorted({str(v) for v in g_of if not pd.isna(v)}, key=_natural_key)
        if method == "group":
            if groups is not None:
                chosen = [str(g) for g in groups]
                bad = [g for g in chosen if g not in present]
                if bad:
                    raise FoldError(f"validation group(s) {bad} are not among the training groups {present}")
            else:
                if len(present) <= n_groups:
                    raise FoldError(f"cannot hold out {n_groups} of the {len(present)} training group(s) "
                                    f"{present}: nothing would be left to train on")
                chosen = [present[i] for i in sorted(rng.choice(len(present), size=n_groups, replace=False))]
        else:
            _check_fraction(fraction)
            counts = g_of.astype(object).where(g_of.notna(), None).map(lambda v: None if v is None else str(v))
            sizes = counts.value_counts()
            order = [present[i] for i in rng.permutation(len(present))]
            chosen, held = [], 0
            for g in order[:-1]:  # always leave at least one group to train on
                if held >= fraction * len(train):
                    break
                chosen.append(g)
                held += int(sizes.get(g, 0))
        keep = set(chosen)
        return [i for i, g in zip(train, g_of, strict=True) if not pd.isna(g) and str(g) in keep]
    if method == "fraction":
        _check_fraction(fraction)
        n = len(train)
        if labels is None:
            pick = rng.permutation(n)[: max(1, round(fraction * n))] if n > 1 else np.array([], int)
            chosen_idx = set(pick.tolist())
        else:
            lab_ids, Y = _label_arrays(labels)
            top = dict(zip(lab_ids, np.argmax(Y, axis=1).tolist(), strict=True))
            by_cls: dict[int, list[int]] = {}
            for idx, i in enumerate(train):
                by_cls.setdefault(top.get(i, -1), []).append(idx)
            chosen_idx = set()
            for c in sorted(by_cls):
                members = by_cls[c]
                m = round(fraction * len(members))
                if m == 0 and len(members) >= 2:
                    m = 1
                perm = rng.permutation(len(members))[:m]
                chosen_idx.update(members[j] for j in perm)
        return [i for idx, i in enumerate(train) if idx in chosen_idx]
    raise FoldError(f"unknown validation method {method!r}; use 'group', 'group-fraction' or 'fraction'")


def _check_fraction(fraction: float) -> None:
    if not 0.0 < float(fraction) < 1.0:
        raise FoldError(f"fraction must be in (0, 1), got {fraction}")
