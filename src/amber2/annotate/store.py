"""Synthetic votes in the corpus table: replace one source's votes, never duplicate them.

A *source* is one backend and model (``syn:<backend>:<model>:*``). Storing the votes of a run:

* the source's earlier vote of an (item, annotator) pair this run got a reply for is replaced by the
  new one (or removed when the new reply gives no vote: it was unparseable);
* an earlier vote of a pair this run could not get a reply for (server down, budget) is kept, so a failed
  re-run loses nothing;
* every other vote (humans, other sources, annotators beyond this run's N) is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from amber2.corpora.raters import SYNTHETIC_KIND, parse_synthetic_rater, synthetic_rater_id
from amber2.corpora.table import VOTE_COLUMNS, CorpusTable

__all__ = ["StoreCounts", "SyntheticVote", "merge_synthetic_votes", "source_mask"]


@dataclass(frozen=True)
class SyntheticVote:
    """One vote of annotator ``index`` on item ``id``: the class and the raw reply."""

    id: str
    index: int
    label: str
    reply: str


@dataclass(frozen=True)
class StoreCounts:
    """What :func:`merge_synthetic_votes` did."""

    added: int
    replaced: int
    removed: int
    kept_previous: int


def source_mask(votes: pd.DataFrame, backend: str, model: str) -> np.ndarray:
    """Boolean mask of the votes of source ``backend``/``model`` (kind ``synthetic``)."""
    mask = np.zeros(len(votes), dtype=bool)
    syn = np.flatnonzero((votes["kind"] == SYNTHETIC_KIND).to_numpy())
    raters = votes["rater"].to_numpy()
    for k in syn:
        try:
            r = parse_synthetic_rater(str(raters[k]))
        except ValueError:
            continue
        mask[k] = r.backend == backend and r.model == model
    return mask


def merge_synthetic_votes(table: CorpusTable, backend: str, model: str, votes: Sequence[SyntheticVote],
                          answered: Iterable[tuple[str, int]]) -> tuple[CorpusTable, StoreCounts]:
    """A new table with this run's votes of ``backend``/``model`` in place of the earlier ones.

    Args:
        table: The corpus table.
        backend: Backend name.
        model: Model name.
        votes: This run's votes.
        answered: Every (item id, annotator index) this run got a reply for (a vote or not).

    Returns:
        The new table and the counts.
    """
    answered_raters = {(i, synthetic_rater_id(backend, model, k)) for i, k in answered}
    old = table.votes
    src = source_mask(old, backend, model)
    pairs = list(zip(old["id"].to_numpy(), old["rater"].to_numpy()))
    redone = np.array([bool(s) and (str(i), str(r)) in answered_raters for s, (i, r) in zip(src, pairs)], dtype=bool)
    new_pairs = {(v.id, synthetic_rater_id(backend, model, v.index)) for v in votes}
    replaced = sum(1 for s, p in zip(redone, pairs) if s and (str(p[0]), str(p[1])) in new_pairs)
    rows: list[dict[str, Any]] = [{
        "id": v.id, "rater": synthetic_rater_id(backend, model, v.index), "kind": SYNTHETIC_KIND,
        "labels": [v.label], "secondary": [], "note": v.reply,
        "valence": np.nan, "arousal": np.nan, "dominance": np.nan,
        "weight": 1.0,  # one vote each (used where the table's votes carry weights; dropped otherwise)
    } for v in votes]
    kept = old[~redone]
    fresh = pd.DataFrame(rows, columns=list(VOTE_COLUMNS))
    merged = pd.concat([kept, fresh], ignore_index=True) if len(fresh) else kept.reset_index(drop=True)
    out = CorpusTable(table.items, merged, dict(table.info))
    counts = StoreCounts(added=len(rows) - replaced, replaced=replaced, removed=int(redone.sum()) - replaced,
                         kept_previous=int((src & ~redone).sum()))
    return out, counts
