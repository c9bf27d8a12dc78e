"""The vectorised engine behind :meth:`LabelPolicy.apply`: votes -> counts n_c -> y (Eq. 1).

All work is done on flat numpy arrays, one entry per (rater, label) mention, never per utterance in
Python: 200,000 utterances x 7 raters take about a second (see docs/labels.md). The engine needs only
a policy's settings (:mod:`amber2.labels.settings`) and builds a :class:`LabelSet`; it imports nothing
above it.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable
from itertools import chain, repeat
from typing import TYPE_CHECKING

import numpy as np

from amber2.corpora.raters import SYNTHETIC_KIND, SyntheticRater, parse_synthetic_rater
from amber2.corpora.vocab import CANONICAL_LABELS
from amber2.labels.labelset import DROP_REASONS, LabelSet
from amber2.labels.settings import LabelPolicyError, PolicySettings
from amber2.utils.logging import get_logger

if TYPE_CHECKING:
    import pandas as pd

    from amber2.corpora.table import CorpusTable

__all__ = ["apply_policy", "order_classes", "select_vote_rows", "smooth", "synthetic_sources"]

log = get_logger(__name__)
_TIE = 1e-9


def order_classes(labels: set[str] | list[str], first: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Order label names as inferred classes are ordered.

    ``first`` (a corpus's own class order, e.g. a manifest's ``votes:<class>`` columns), then the corpus
    vocabulary's :data:`amber2.corpora.vocab.CANONICAL_LABELS`, then alphabetical.
    """
    rank = {c: i for i, c in enumerate(dict.fromkeys([*(first or ()), *CANONICAL_LABELS]))}
    return sorted(set(labels), key=lambda c: (rank.get(c, len(rank)), c))


def smooth(Y: np.ndarray, eps: float) -> np.ndarray:
    r"""Label smoothing as in EMO-SUPERB (rows of ``Y`` summing to 1 keep summing to 1).

    .. math::

        y'_c = (1 - \epsilon)\, y_c + \epsilon \, \frac{1 - y_c}{C - 1}

    Args:
        Y: (n, C) distributions, C >= 2.
        eps: Smoothing weight in [0, 1).

    Returns:
        (n, C) smoothed distributions; a one-hot row becomes 1 - eps and eps / (C - 1).
    """
    C = Y.shape[-1]
    if eps == 0.0:
        return Y
    if C < 2:
        raise LabelPolicyError(f"label smoothing needs at least 2 classes, got {C}")
    return (1.0 - eps) * Y + eps * (1.0 - Y) / (C - 1)


def apply_policy(policy: PolicySettings, table: CorpusTable) -> LabelSet:
    r"""Apply ``policy`` to every utterance of ``table`` (see :mod:`amber2.labels.policy` for the rule).

    .. math::

        y_c = \frac{n_c}{N}, \qquad N = \sum_c n_c

    Args:
        policy: The label policy.
        table: The corpus table (items and every rater's vote).

    Returns:
        The :class:`LabelSet` of the kept utterances, with the dropped ones listed by reason.

    Raises:
        LabelPolicyError: A column the policy needs is missing, a vote's ``labels`` / ``secondary`` is
            not a list, or smoothing meets fewer than 2 classes.
    """
    import pandas as pd

    who = f"label policy {policy.name!r}"
    corpus = table.corpus or "corpus"
    items, votes = table.items, table.votes
    ids = items["id"].to_numpy(dtype=object)
    n = len(ids)
    reason = np.full(n, -1, dtype=np.int16)

    def mark(mask: np.ndarray, why: str) -> None:
        reason[(reason < 0) & mask] = DROP_REASONS.index(why)

    # 1. item selection by the consensus code in the metadata
    if policy.selection == "consensus":
        col = policy.consensus_column
        if col not in items.columns and n:
            raise LabelPolicyError(
                f"{who} selects utterances by the metadata column {col!r}, which the {corpus} table lacks "
                f"(its metadata columns: {table.metadata_columns}); set consensus_column or use another "
                "selection"
            )
        if n:
            values = items[col]
            accepted = set(policy.consensus_codes or ())
            ok = values.notna().to_numpy() & values.astype(str).isin(accepted).to_numpy()
            mark(~ok, "not_selected_by_consensus")

    # 2. the votes that count: human raters of the accepted kinds and/or synthetic annotators, for
    #    items still in play
    item_of = _item_index(ids, votes["id"].to_numpy(dtype=object))
    in_play = (item_of >= 0) & (reason[np.where(item_of >= 0, item_of, 0)] < 0)
    human, synthetic = select_vote_rows(policy, table, item_of)
    keep_row = in_play & (human | synthetic)
    rows = np.flatnonzero(keep_row)
    row_item = item_of[rows]
    row_synthetic = synthetic[rows]
    m = len(rows)

    # 3. flat (rater row, position, label) entries: primary labels, then secondary ones
    prim = votes["labels"].to_numpy(dtype=object)[rows] if m else np.zeros(0, object)
    lens_p = _lengths(prim, "labels", rows, row_item, ids, votes)
    flat: list[object] = list(chain.from_iterable(prim))
    r = np.repeat(np.arange(m, dtype=np.int64), lens_p)
    pos = np.arange(len(flat), dtype=np.int64) - np.repeat(np.cumsum(lens_p) - lens_p, lens_p)
    if policy.include_secondary:
        sec = votes["secondary"].to_numpy(dtype=object)[rows] if m else np.zeros(0, object)
        lens_s = _lengths(sec, "secondary", rows, row_item, ids, votes)
        flat_s = list(chain.from_iterable(sec))
        r_s = np.repeat(np.arange(m, dtype=np.int64), lens_s)
        starts_s = np.repeat(np.cumsum(lens_s) - lens_s, lens_s)
        pos_s = np.arange(len(flat_s), dtype=np.int64) - starts_s + lens_p[r_s]
        flat.extend(flat_s)
        r = np.concatenate([r, r_s])
        pos = np.concatenate([pos, pos_s])

    try:
        codes, uniques = pd.factorize(np.fromiter(flat, dtype=object, count=len(flat)))
    except TypeError:  # an unhashable "label" (a nested list): name the vote
        k = next(i for i, x in enumerate(flat) if not isinstance(x, Hashable))
        raise LabelPolicyError(
            f"item {ids[row_item[r[k]]]!r}, rater {votes['rater'].iloc[rows[r[k]]]!r}: a label must be a "
            f"name, got {flat[k]!r}; rebuild the table with CorpusBuilder"
        ) from None
    codes = np.asarray(codes, dtype=np.int64)
    if policy.multi_label == "first":
        first = pos == 0
        codes, r = codes[first], r[first]

    # 4. malformed labels (not a non-empty string): drop the item, say which vote
    u_ok = np.fromiter((isinstance(u, str) and u.strip() != "" for u in uniques), bool, count=len(uniques))
    bad = (codes < 0) | ~u_ok[np.where(codes >= 0, codes, 0)] if len(uniques) else codes < 0
    if bad.any():
        bad_items = np.zeros(n, dtype=bool)
        bad_items[row_item[r[bad]]] = True
        mark(bad_items, "invalid_label")
        k = int(np.flatnonzero(bad)[0])
        example = uniques[codes[k]] if codes[k] >= 0 else None
        log.warning(
            "%s: %d utterance(s) of %s have a label that is not a non-empty string and are dropped "
            "(e.g. item %r, rater %r, label %r)", who, int(bad_items.sum()), corpus,
            ids[row_item[r[k]]], votes["rater"].iloc[rows[r[k]]], example,
        )
        codes, r = codes[~bad], r[~bad]

    # 5. merge, then match to the class set (inferred when not given)
    merge = policy.merge_map
    resolved = [merge.get(u, u) if ok else None for u, ok in zip(uniques, u_ok, strict=True)]
    mentions = np.bincount(codes, minlength=len(uniques)) if len(uniques) else np.zeros(0, np.int64)
    if policy.classes is not None:
        classes = list(policy.classes)
    else:
        seen = {resolved[u] for u in np.flatnonzero(mentions)} - {policy.other_class}
        classes = order_classes(seen, table.info.get("class_order"))
        if policy.out_of_set == "keep":
            classes.append(policy.other_class)
    C = len(classes)
    cidx = {c: k for k, c in enumerate(classes)}
    catch_all = cidx.get(policy.other_class, -1) if policy.out_of_set == "keep" else -1
    u_cls = np.array([-1 if name is None else cidx.get(name, catch_all) for name in resolved], dtype=np.int64)
    out_of_set: dict[str, float] = {}
    for u in np.flatnonzero(mentions):
        name = resolved[u]
        if name not in cidx:
            out_of_set[name] = out_of_set.get(name, 0.0) + float(mentions[u])
    cls = u_cls[codes] if len(codes) else np.zeros(0, np.int64)
    valid = cls >= 0
    r, cls = r[valid], cls[valid]

    # 6.-7. repeats within a rater, and the weight of each mention
    if policy.duplicates == "once" and len(r):
        key = np.sort(r * C + cls)  # a plain sort: np.unique's hash path is ~10x slower here
        key = key[np.concatenate([[True], key[1:] != key[:-1]])]
        r, cls = key // C, key % C
    if policy.multi_label == "split":
        per_rater = np.bincount(r, minlength=m).astype(np.float64)
        w = 1.0 / per_rater[r]
    else:
        w = np.ones(len(r), dtype=np.float64)
    row_w = votes["weight"].to_numpy(dtype=np.float64)[rows] if m else np.zeros(0)
    w = w * row_w[r]  # a vote row of weight k counts as k raters giving its labels (aggregated counts)
    if policy.votes == "combined" and policy.synthetic_weight != 1.0:
        w = np.where(row_synthetic[r], w * policy.synthetic_weight, w)

    # 8. counts, votes and raters per utterance; drop what cannot or should not get a target
    item_e = row_item[r]
    if C:
        counts = np.bincount(item_e * C + cls, weights=w, minlength=n * C).reshape(n, C)
    else:
        counts = np.zeros((n, 0), dtype=np.float64)
    n_votes = counts.sum(axis=1)
    rater_counted = np.flatnonzero(np.bincount(r, minlength=m) > 0)
    n_raters = np.rint(np.bincount(row_item[rater_counted], weights=row_w[rater_counted],
                                   minlength=n)).astype(np.int64)
    has_rows = np.bincount(row_item, minlength=n) > 0
    mark(~has_rows, "no_votes")
    mark(n_votes <= 0, "no_valid_votes")
    if policy.min_votes > 0:
        mark(n_votes < policy.min_votes - _TIE, "below_min_votes")
    if policy.min_raters > 0:
        mark(n_raters < policy.min_raters, "below_min_raters")
    if policy.selection in ("plurality", "majority") and C:
        top = counts.max(axis=1)
        if policy.selection == "plurality":
            second = np.partition(counts, C - 2, axis=1)[:, C - 2] if C >= 2 else np.zeros(n)
            mark(top - second <= _TIE * np.maximum(top, 1.0), "no_plurality")
        else:
            mark(~(top > n_votes / 2.0 + _TIE * np.maximum(n_votes, 1.0)), "no_majority")

    # 9. Eq. 1, smoothing, rounding
    keep = reason < 0
    kc = counts[keep]
    kv = n_votes[keep]
    Y = kc / kv[:, None] if len(kv) else np.zeros((0, C))
    Y = smooth(Y, policy.smoothing) if C else Y
    if policy.decimals is not None:
        Y = np.round(Y, policy.decimals)

    dropped = {why: ids[reason == k].tolist() for k, why in enumerate(DROP_REASONS)}
    result = LabelSet(
        ids=ids[keep].tolist(), Y=Y, classes=tuple(classes), counts=kc, n_votes=kv,
        n_raters=n_raters[keep], dropped=dropped, policy=policy, out_of_set=out_of_set,
    )
    _report(result, who, corpus, explicit=policy.classes is not None)
    return result


def synthetic_sources(table: CorpusTable) -> dict[str, int]:
    """The synthetic annotator sources of a table (``<backend>:<model>``) and their vote counts.

    A vote row counts as its ``weight`` votes (a row of weight k stands for k votes; rounded to whole
    votes).

    Raises:
        LabelPolicyError: A synthetic vote's rater id does not follow ``syn:<backend>:<model>:<index>``
            (the message names the item and the rater).
    """
    votes = table.votes
    syn = votes[votes["kind"] == SYNTHETIC_KIND]
    out: dict[str, float] = {}
    for rater, weight in syn.groupby("rater", sort=False)["weight"].sum().items():
        src = _parse(str(rater), syn).source
        out[src] = out.get(src, 0.0) + float(weight)
    return {k: round(v) for k, v in sorted(out.items())}


def select_vote_rows(policy: PolicySettings, table: CorpusTable,
                     item_of: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Which vote rows count as human and which as synthetic votes under ``policy``.

    Human rows: every kind except ``synthetic``, intersected with ``rater_kinds`` (None = every
    human kind). Synthetic rows (``votes`` = ``synthetic`` or ``combined``): the votes of kind
    ``synthetic`` from the chosen source, and per utterance only those of the ``synthetic_n``
    annotators with the smallest indices present (a vote row whose reply was unparseable keeps its
    place in that ranking and simply has no valid label).

    Args:
        policy: The policy settings.
        table: The corpus table.
        item_of: Row of each vote's item in ``table.items`` (computed when None).

    Returns:
        Two boolean arrays over ``table.votes`` rows: (human, synthetic).

    Raises:
        LabelPolicyError: Several synthetic sources and none chosen, the chosen one is absent, or a
            synthetic rater id is malformed.
    """
    votes = table.votes
    n = len(votes)
    is_syn = (votes["kind"] == SYNTHETIC_KIND).to_numpy(dtype=bool) if n else np.zeros(0, dtype=bool)
    human = ~is_syn
    if policy.rater_kinds is not None and n:
        human &= votes["kind"].isin(policy.rater_kinds).to_numpy()
    if policy.votes == "synthetic":
        human = np.zeros(n, dtype=bool)
    if policy.votes == "human" or not n:
        return human, np.zeros(n, dtype=bool)
    who = f"label policy {policy.name!r}"
    corpus = table.corpus or "corpus"
    syn_rows = np.flatnonzero(is_syn)
    raters = votes["rater"].to_numpy(dtype=object)[syn_rows]
    uniq, inv = np.unique(raters.astype(str), return_inverse=True)
    parsed = [_parse(str(u), votes) for u in uniq]
    sources = sorted({p.source for p in parsed})
    if not sources:
        raise LabelPolicyError(f"{who} uses votes={policy.votes!r}, but the {corpus} table holds no synthetic "
                               "votes (annotate it first: amber2 annotate)")
    chosen = policy.synthetic_source
    if chosen is None:
        if len(sources) > 1:
            raise LabelPolicyError(f"{who}: the {corpus} table holds synthetic votes of {len(sources)} sources "
                                   f"({', '.join(sources)}); choose one with synthetic_source")
        chosen = sources[0]
    elif chosen not in sources:
        raise LabelPolicyError(f"{who}: synthetic_source {chosen!r} has no votes in the {corpus} table; "
                               f"its sources: {', '.join(sources)}")
    u_ok = np.array([p.source == chosen for p in parsed], dtype=bool)
    u_index = np.array([p.index for p in parsed], dtype=np.int64)
    rows = syn_rows[u_ok[inv]]
    index = u_index[inv][u_ok[inv]]
    if policy.synthetic_n is not None and len(rows):
        items = item_of if item_of is not None else _item_index(
            table.items["id"].to_numpy(dtype=object), votes["id"].to_numpy(dtype=object))
        it = items[rows]
        order = np.lexsort((index, it))  # by item, then annotator index
        it_sorted = it[order]
        start = np.concatenate([[True], it_sorted[1:] != it_sorted[:-1]])
        first = np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - first
        rows = rows[rank < policy.synthetic_n]
    synthetic = np.zeros(n, dtype=bool)
    synthetic[rows] = True
    return human, synthetic


def _parse(rater: str, votes: pd.DataFrame) -> SyntheticRater:
    try:
        return parse_synthetic_rater(rater)
    except ValueError as exc:
        item = votes.loc[votes["rater"] == rater, "id"].iloc[0]
        raise LabelPolicyError(f"item {item!r}: synthetic vote with rater {rater!r}: {exc}") from None


def _item_index(ids: np.ndarray, vote_ids: np.ndarray) -> np.ndarray:
    """Row of each vote's item in ``ids`` (-1 if unknown), looking up each run of equal ids once.

    Votes come grouped by utterance (readers add them item by item), so this hashes ~N/7 strings
    instead of N; any order stays correct, just slower.
    """
    import pandas as pd

    if not len(vote_ids):
        return np.zeros(0, dtype=np.int64)
    change = np.empty(len(vote_ids), dtype=bool)
    change[0] = True
    np.not_equal(vote_ids[1:], vote_ids[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    run_item = pd.Index(ids).get_indexer(vote_ids[starts])
    return np.repeat(run_item, np.diff(np.append(starts, len(vote_ids)))).astype(np.int64)


def _lengths(values: np.ndarray, what: str, rows: np.ndarray, row_item: np.ndarray, ids: np.ndarray,
             votes: object) -> np.ndarray:
    """Number of labels per vote row; a value that is not a list (or is a bare string) is an error."""
    try:
        lens = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        is_str = np.fromiter(map(isinstance, values, repeat(str)), dtype=bool, count=len(values))
    except TypeError:
        is_str = np.fromiter((not hasattr(v, "__len__") or isinstance(v, str) for v in values), bool,
                             count=len(values))
    if is_str.any():
        k = int(np.flatnonzero(is_str)[0])
        rater = votes["rater"].iloc[rows[k]]  # type: ignore[index]
        raise LabelPolicyError(
            f"item {ids[row_item[k]]!r}, rater {rater!r}: the vote's {what!r} must be a list of label names, "
            f"got {values[k]!r} ({int(is_str.sum())} vote(s) affected); rebuild the table with CorpusBuilder"
        )
    return lens


def _report(ls: LabelSet, who: str, corpus: str, *, explicit: bool) -> None:
    dropped = {k: len(v) for k, v in ls.dropped.items() if v}
    log.info("%s on %s: %d utterance(s) kept, %d dropped %s; classes %s", who, corpus, len(ls),
             ls.n_dropped, dropped or "", list(ls.classes))
    if ls.out_of_set:
        shown = ", ".join(f"{k}: {v:g}" for k, v in sorted(ls.out_of_set.items(), key=lambda kv: -kv[1]))
        fate = "counted as the catch-all class" if ls.policy.out_of_set == "keep" else "dropped"
        log.info("%s: label mentions outside the class set (%s): %s", who, fate, shown)
    if not ls.classes:
        log.warning("%s: no valid label in %s, so there are no classes and no targets", who, corpus)
    elif explicit and len(ls):
        # A class without a single vote while a similar label falls outside the set: likely a typo.
        for c, v in zip(ls.classes, ls.counts.sum(axis=0), strict=True):
            close = difflib.get_close_matches(c, list(ls.out_of_set), n=1, cutoff=0.75) if v <= 0 else []
            if close:
                log.warning("%s: class %r gets no vote in %s while label %r (%g mention(s)) is outside the "
                            "class set; is one of them misspelt?", who, c, corpus, close[0],
                            ls.out_of_set[close[0]])
