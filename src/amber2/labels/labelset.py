"""The result of a label policy: target distributions y for the kept utterances, and what was dropped.

Imports only :mod:`amber2.labels.settings` (below it); reading a written set back, which rebuilds its
policy, is :func:`amber2.labels.policy.read_labels`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from amber2.labels.settings import LabelPolicyError, PolicySettings
from amber2.utils.fingerprint import hash_array, hash_strings
from amber2.utils.io import atomic_path

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DROP_REASONS", "META_KEY", "LabelSet"]

#: Why an utterance gets no target, in the order the checks run (an item is listed under the first).
DROP_REASONS: tuple[str, ...] = (
    "not_selected_by_consensus",  # selection="consensus" and its code is not accepted (or missing)
    "invalid_label",              # a counted label is not a non-empty string (a reader bug)
    "no_votes",                   # no rater of the counted kinds
    "no_valid_votes",             # raters, but every label was dropped (N = 0)
    "below_min_votes",            # N < min_votes
    "below_min_raters",           # fewer raters with a valid label than min_raters
    "no_plurality",               # selection="plurality" and the top class is tied
    "no_majority",                # selection="majority" and the top class has <= N / 2
)
#: Parquet metadata key of a written label set (read back by :func:`amber2.labels.policy.read_labels`).
META_KEY = b"amber2.labels"


@dataclass
class LabelSet:
    """Target distributions made by a :class:`~amber2.labels.policy.LabelPolicy`.

    Attributes:
        ids: Kept utterance ids, in corpus-table order.
        Y: float64 (n, C) target distributions: rows sum to 1 (within 1e-9), except that a policy
            with ``decimals`` leaves the rounded rows as they are.
        classes: Class names, the columns of ``Y``.
        counts: float64 (n, C) vote counts n_c before normalisation and smoothing (fractions under
            ``multi_label="split"``).
        n_votes: float64 (n,) valid votes N per utterance (the row sums of ``counts``).
        n_raters: int64 (n,) raters who contributed at least one valid label.
        dropped: Reason -> dropped ids (every reason of :data:`DROP_REASONS` is a key).
        policy: The policy that made this set.
        out_of_set: Label -> mentions that fell outside the class set (dropped, or counted as the
            catch-all class under ``out_of_set="keep"``), over the utterances the policy looked at.
    """

    ids: list[str]
    Y: np.ndarray
    classes: tuple[str, ...]
    counts: np.ndarray
    n_votes: np.ndarray
    n_raters: np.ndarray
    dropped: dict[str, list[str]]
    policy: PolicySettings
    out_of_set: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        self.classes = tuple(self.classes)
        n, c = len(self.ids), len(self.classes)
        self.Y = np.asarray(self.Y, dtype=np.float64).reshape(n, c)
        self.counts = np.asarray(self.counts, dtype=np.float64).reshape(n, c)
        self.n_votes = np.asarray(self.n_votes, dtype=np.float64).reshape(n)
        self.n_raters = np.asarray(self.n_raters, dtype=np.int64).reshape(n)
        for reason in DROP_REASONS:
            self.dropped.setdefault(reason, [])
        if len(set(self.ids)) != n:
            seen: set[str] = set()
            dup = [i for i in self.ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
            raise LabelPolicyError(f"label set has duplicate ids: {dup[:10]}")

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_classes(self) -> int:
        """Number of classes C."""
        return len(self.classes)

    @property
    def n_dropped(self) -> int:
        """Number of utterances that got no target."""
        return sum(len(v) for v in self.dropped.values())

    def entropy(self, base: float = 2.0) -> np.ndarray:
        r"""Per-utterance entropy of the targets, the rater-ambiguity measure.

        .. math::

            H(y) = -\sum_c y_c \log_b y_c, \qquad 0 \log 0 = 0

        Args:
            base: Logarithm base (2: bits, so the range is [0, log2 C]).

        Returns:
            float64 array (n,).
        """
        from amber2.metrics import row_entropy

        return row_entropy(self.Y, base=base)

    def argmax(self) -> list[str]:
        """The top class of each utterance (the first one on ties)."""
        if not len(self):
            return []
        return [self.classes[k] for k in np.argmax(self.Y, axis=1)]

    def select(self, ids: Iterable[str]) -> LabelSet:
        """The rows of ``ids`` in the given order (e.g. to align with embeddings).

        Raises:
            LabelPolicyError: Some ids are not in this set (the message says whether they were dropped
                by the policy, and why).
        """
        ids = [str(i) for i in ids]
        pos = {k: i for i, k in enumerate(self.ids)}
        missing = [i for i in ids if i not in pos]
        if missing:
            why = {i: r for r, lst in self.dropped.items() for i in lst}
            shown = ", ".join(f"{i!r} ({'dropped: ' + why[i] if i in why else 'unknown'})"
                              for i in missing[:10])
            more = f", ... ({len(missing) - 10} more)" if len(missing) > 10 else ""
            raise LabelPolicyError(
                f"{len(missing)} id(s) have no target under policy {self.policy}: {shown}{more}"
            )
        idx = np.array([pos[i] for i in ids], dtype=np.int64)
        return LabelSet(
            ids, self.Y[idx], self.classes, self.counts[idx], self.n_votes[idx], self.n_raters[idx],
            {k: list(v) for k, v in self.dropped.items()}, self.policy, dict(self.out_of_set),
        )

    # ------------------------------------------------------------------ views
    def to_frame(self, *, counts: bool = False) -> pd.DataFrame:
        """One row per utterance: ``id``, one column per class (y_c), ``n_votes``, ``n_raters``.

        Args:
            counts: Also add ``votes:<class>`` columns holding n_c (the manifest's counts form).
        """
        import pandas as pd

        cols: dict[str, Any] = {"id": list(self.ids)}
        for k, c in enumerate(self.classes):
            cols[c] = self.Y[:, k]
        if counts:
            for k, c in enumerate(self.classes):
                cols[f"votes:{c}"] = self.counts[:, k]
        cols["n_votes"] = self.n_votes
        cols["n_raters"] = self.n_raters
        return pd.DataFrame(cols)

    def summary(self) -> dict[str, Any]:
        """Counts for logs and reports: kept, dropped by reason, mean target, mean entropy, policy."""
        mass = self.Y.mean(axis=0).tolist() if len(self) else [0.0] * self.n_classes
        return {
            "policy": self.policy.name,
            "policy_version": self.policy.version,
            "policy_fingerprint": self.policy.fingerprint(),
            "classes": list(self.classes),
            "n_items": len(self),
            "n_dropped": self.n_dropped,
            "dropped": {k: len(v) for k, v in self.dropped.items() if v},
            "class_mass": dict(zip(self.classes, mass, strict=True)),
            "mean_entropy_bits": float(self.entropy().mean()) if len(self) else float("nan"),
            "mean_votes": float(self.n_votes.mean()) if len(self) else float("nan"),
            "out_of_set": dict(self.out_of_set),
        }

    def fingerprint(self) -> str:
        """SHA-256 of the policy's rule, the ids, the classes and ``Y`` (traces a run to its targets)."""
        return hash_strings([self.policy.fingerprint(), *self.classes, "\x1e", *self.ids, hash_array(self.Y)])

    # ------------------------------------------------------------------ disk
    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the set as one Parquet file (atomically).

        The columns are :meth:`to_frame` with counts; the policy, classes and dropped ids sit in the
        file's metadata.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.to_frame(counts=True), preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[META_KEY] = json.dumps({
            "format_version": 1, "policy": self.policy.to_dict(), "classes": list(self.classes),
            "dropped": self.dropped, "out_of_set": self.out_of_set,
        }).encode("utf-8")
        with atomic_path(path, suffix=".parquet") as tmp:
            pq.write_table(table.replace_schema_metadata(meta), tmp)
        return Path(path)

    def __repr__(self) -> str:
        return (f"LabelSet(policy={self.policy.name!r}, n={len(self)}, classes={list(self.classes)}, "
                f"dropped={ {k: len(v) for k, v in self.dropped.items() if v} })")
