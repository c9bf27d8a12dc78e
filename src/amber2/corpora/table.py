"""The corpus table: one format every reader produces and the rest of the pipeline consumes.

A corpus table holds, per utterance, where its audio is, what was said, who said it, and **every
rater's vote** as released. Target distributions are *derived* from the votes by a label policy
(:mod:`amber2.labels`); they are never stored in place of the votes.

In memory a :class:`CorpusTable` is two pandas frames:

``items`` (one row per utterance)
    ``id`` (str, unique), ``corpus`` (str), ``speaker`` (str or None), ``group`` (str or None:
    session / podcast / actor), ``audio_path`` (absolute path or None), ``duration`` (seconds or
    NaN), ``transcript`` (str or None), ``audio_status`` (``ok`` | ``missing`` | ``lfs_pointer`` |
    ``empty`` | ``unreadable`` | ``unchecked``), then any corpus-specific metadata columns (consensus code, official
    split, gender, ...).

``votes`` (one row per rater per utterance)
    ``id``, ``rater`` (str; anonymous raters get a made-up stable id), ``kind`` (``external``,
    ``self``, or a rating mode such as ``voice`` / ``face`` / ``audiovisual``), ``labels`` (list of
    canonical class names in the order the rater gave them; may be empty), ``secondary`` (list of
    secondary labels, MSP-Podcast), ``note`` (free text or None), ``valence`` / ``arousal`` /
    ``dominance`` (floats or NaN), ``weight`` (float >= 0, default 1.0: how many raters' worth the
    row's labels count for; a manifest's aggregated counts or distribution become one row per class
    with the count, or probability mass, as its weight instead of one row per anonymous rater, so
    memory follows the manifest's size, not the numbers in it).

Items may carry the metadata column ``n_raters`` (a float, NaN = not given) when the source states
how many raters an aggregated row stands for; :meth:`CorpusTable.raters_per_item` reports it, or
counts raters when the votes allow, and never invents a number.

On disk it is **one Parquet file** with the item columns and a nested ``votes`` column
(``list<struct<rater, kind, labels, secondary, note, valence, arousal, dominance, weight>>``; a file
without ``weight`` reads as weight 1); the reader
name, its version, the corpus root and the problems met while reading sit in the file's metadata.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amber2._version import __version__
from amber2.utils.fingerprint import hash_strings
from amber2.utils.io import atomic_path

__all__ = [
    "AUDIO_STATUSES",
    "ITEM_COLUMNS",
    "PREPARED",
    "PREPARED_POLICY",
    "VOTE_COLUMNS",
    "CorpusBuilder",
    "CorpusTable",
    "CorpusTableError",
    "ReadIssue",
]

ITEM_COLUMNS: tuple[str, ...] = (
    "id", "corpus", "speaker", "group", "audio_path", "duration", "transcript", "audio_status",
)
VOTE_COLUMNS: tuple[str, ...] = (
    "id", "rater", "kind", "labels", "secondary", "note", "valence", "arousal", "dominance", "weight",
)
AUDIO_STATUSES: tuple[str, ...] = ("ok", "missing", "lfs_pointer", "empty", "unreadable", "unchecked")
_META_KEY = b"amber2.corpus"
#: Checksum list of a prepared-corpus folder (written last by ``amber2 prepare``; verified on read).
PREPARED = "prepared.json"
#: The label policy a prepared corpus was made with (its JSON form).
PREPARED_POLICY = "policy.json"
FORMAT_VERSION = 1


class CorpusTableError(ValueError):
    """A corpus table is malformed (duplicate ids, votes for unknown items, missing columns)."""


@dataclass(frozen=True)
class ReadIssue:
    """A problem a reader met and handled (kept, skipped or repaired), to be reported, not hidden.

    Attributes:
        reason: Short machine-friendly reason, e.g. ``duplicate_id``, ``duplicate_rater``,
            ``unparsable_line``, ``no_transcript``.
        item: The utterance id concerned (or None).
        detail: Human-readable detail (file and line, what was done).
    """

    reason: str
    item: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON)."""
        return {"reason": self.reason, "item": self.item, "detail": self.detail}


@dataclass
class CorpusTable:
    """Utterances and their raters' votes (see the module docstring for the columns).

    Attributes:
        items: One row per utterance.
        votes: One row per rater vote.
        info: Provenance: ``corpus``, ``root``, ``reader``, ``reader_version``, ``created``,
            ``amber2_version``, and ``issues`` (list of :class:`ReadIssue` dicts).
    """

    items: pd.DataFrame
    votes: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "weight" not in self.votes.columns:  # frames built before votes had weights
            self.votes = self.votes.assign(weight=np.ones(len(self.votes)))
        self.validate()

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> list[str]:
        """Utterance ids in table order."""
        return self.items["id"].tolist()

    @property
    def corpus(self) -> str:
        """Corpus name (``iemocap``, ``msp-podcast``, ``crema-d``, or the manifest's name)."""
        return str(self.info.get("corpus", ""))

    @property
    def issues(self) -> list[ReadIssue]:
        """Problems the reader met, as :class:`ReadIssue` objects."""
        return [ReadIssue(**d) for d in self.info.get("issues", [])]

    @property
    def metadata_columns(self) -> list[str]:
        """Item columns beyond the standard ones (corpus-specific metadata)."""
        return [c for c in self.items.columns if c not in ITEM_COLUMNS]

    def validate(self) -> None:
        """Check the invariants; raise :class:`CorpusTableError` naming the offending items."""
        missing = [c for c in ITEM_COLUMNS if c not in self.items.columns]
        if missing:
            raise CorpusTableError(f"corpus table items lack columns {missing}")
        vmissing = [c for c in VOTE_COLUMNS if c not in self.votes.columns]
        if vmissing:
            raise CorpusTableError(f"corpus table votes lack columns {vmissing}")
        ids = self.items["id"]
        if ids.isna().any():
            rows = np.flatnonzero(ids.isna().to_numpy())[:10].tolist()
            raise CorpusTableError(f"utterance ids are missing at rows {rows}")
        dup = ids[ids.duplicated()].unique().tolist()
        if dup:
            raise CorpusTableError(f"{len(dup)} duplicate utterance id(s): {_show(dup)}")
        unknown = sorted(set(self.votes["id"].unique()) - set(ids))
        if unknown:
            raise CorpusTableError(f"votes for {len(unknown)} unknown utterance id(s): {_show(unknown)}")
        w = pd.to_numeric(self.votes["weight"], errors="coerce").to_numpy(dtype=np.float64)
        wbad = ~(np.isfinite(w) & (w >= 0))
        if wbad.any():
            rows = np.flatnonzero(wbad)
            raise CorpusTableError(
                f"{len(rows)} vote(s) with a weight that is not a finite number >= 0, e.g. item "
                f"{self.votes['id'].iloc[rows[0]]!r} rater {self.votes['rater'].iloc[rows[0]]!r}")
        bad = sorted(set(self.items["audio_status"].dropna().unique()) - set(AUDIO_STATUSES))
        if bad:
            raise CorpusTableError(f"unknown audio_status value(s) {bad}; expected one of {AUDIO_STATUSES}")

    # ------------------------------------------------------------------ access
    def votes_of(self, item_id: str) -> pd.DataFrame:
        """The votes of one utterance."""
        return self.votes[self.votes["id"] == item_id].reset_index(drop=True)

    def raters_per_item(self) -> np.ndarray:
        """Raters behind each item's votes (float; NaN where they cannot be known).

        An item's ``n_raters`` metadata value when given; otherwise the sum of its votes' weights
        when every weight is a whole number (a row of weight k stands for k raters, each giving
        the row's labels); otherwise (fractional counts, a distribution without a rater count) NaN.

        Returns:
            (n_items,) float64 array in the order of ``items``.
        """
        n = len(self.items)
        ids = pd.Index(self.items["id"])
        pos = ids.get_indexer(self.votes["id"]) if len(self.votes) else np.zeros(0, np.int64)
        w = self.votes["weight"].to_numpy(dtype=np.float64) if len(self.votes) else np.zeros(0)
        total = np.bincount(pos, weights=w, minlength=n) if n else np.zeros(0)
        frac = np.bincount(pos, weights=(w != np.floor(w)).astype(np.float64), minlength=n) > 0 if n \
            else np.zeros(0, bool)
        out = np.where(frac, np.nan, total)
        if "n_raters" in self.items.columns:
            given = pd.to_numeric(self.items["n_raters"], errors="coerce").to_numpy(dtype=np.float64)
            out = np.where(np.isfinite(given), given, out)
        return out.astype(np.float64)

    def subset(self, ids: Iterable[str]) -> CorpusTable:
        """A table restricted to ``ids`` (in the given order); unknown ids raise an error."""
        ids = list(ids)
        pos = pd.Index(self.items["id"])
        idx = pos.get_indexer(ids)
        if (idx < 0).any():
            raise CorpusTableError(f"unknown utterance id(s): {_show([i for i, k in zip(ids, idx) if k < 0])}")
        items = self.items.iloc[idx].reset_index(drop=True)
        keep = set(ids)
        votes = self.votes[self.votes["id"].isin(keep)].reset_index(drop=True)
        return CorpusTable(items, votes, dict(self.info))

    def fingerprint(self) -> str:
        """SHA-256 of the table's content: ids, transcripts, groups and every vote.

        Audio paths are left out (they differ between machines holding the same corpus).
        """
        it = self.items.sort_values("id")
        parts = [f"v{FORMAT_VERSION}"]
        for row in zip(it["id"], it["speaker"], it["group"], it["transcript"]):
            parts.append("\x1f".join("" if _isna(v) else str(v) for v in row))
        vt = self.votes.sort_values(["id", "rater", "kind"], kind="stable")
        for row in zip(vt["id"], vt["rater"], vt["kind"], vt["labels"], vt["secondary"],
                       vt["valence"], vt["arousal"], vt["dominance"], vt["weight"]):
            text = "\x1e".join(
                ",".join(v) if isinstance(v, (list, tuple, np.ndarray)) else
                ("" if _isna(v) else str(v))
                for v in row[:-1]
            )
            # weight 1 leaves the text (and so every fingerprint made before weights) unchanged
            parts.append(text if float(row[-1]) == 1.0 else f"{text}\x1e{float(row[-1])!r}")
        return hash_strings(parts)

    # ------------------------------------------------------------------ disk
    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the table as one Parquet file (atomically) and return its path."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = _to_arrow(self)
        meta = dict(table.schema.metadata or {})
        info = dict(self.info)
        info.setdefault("format_version", FORMAT_VERSION)
        meta[_META_KEY] = json.dumps(info, default=str).encode("utf-8")
        table = table.replace_schema_metadata(meta)
        with atomic_path(path, suffix=".parquet") as tmp:
            pq.write_table(table, tmp)
        del pa
        from amber2.utils.integrity import update_checksum

        # a table rewritten inside a prepared folder (e.g. synthetic votes added) keeps the folder verifiable
        update_checksum(Path(path).parent, PREPARED, Path(path).name)
        return Path(path)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> CorpusTable:
        """Read a table written by :meth:`write` (or a folder holding ``corpus.parquet``).

        A folder written by ``amber2 prepare`` is verified first against its ``prepared.json``
        checksums: an interrupted prepare, or a file changed since, raises :class:`CorpusTableError`
        naming the folder or file.
        """
        import pyarrow.parquet as pq

        from amber2.utils.integrity import verify_checksums

        p = Path(path)
        if p.is_dir():
            try:
                verify_checksums(p, PREPARED, error=CorpusTableError)
            except ValueError as exc:  # IncompleteError or CorpusTableError: one kind for callers
                raise CorpusTableError(f"{exc} (run `amber2 prepare` again)") from None
            p = p / "corpus.parquet"
        if not p.exists():
            raise FileNotFoundError(f"no corpus table at {p} (run `amber2 prepare` first)")
        table = pq.read_table(p)
        raw = (table.schema.metadata or {}).get(_META_KEY)
        info = json.loads(raw) if raw else {}
        return _from_arrow(table, info)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frames(cls, items: pd.DataFrame, votes: pd.DataFrame, info: dict[str, Any] | None = None) -> CorpusTable:
        """Build a table from frames, filling absent optional columns with defaults."""
        items = items.copy()
        for col in ITEM_COLUMNS:
            if col not in items.columns:
                items[col] = _default_item_value(col)
        items = items[list(ITEM_COLUMNS) + [c for c in items.columns if c not in ITEM_COLUMNS]]
        items["id"] = items["id"].astype(str)
        votes = votes.copy()
        for col in VOTE_COLUMNS:
            if col not in votes.columns:
                votes[col] = _default_vote_value(col, len(votes))
        votes = votes[list(VOTE_COLUMNS)]
        votes["id"] = votes["id"].astype(str)
        votes["weight"] = pd.to_numeric(votes["weight"], errors="coerce").astype(np.float64)
        votes["labels"] = [list(v) if v is not None else [] for v in votes["labels"]]
        votes["secondary"] = [list(v) if v is not None else [] for v in votes["secondary"]]
        return cls(items.reset_index(drop=True), votes.reset_index(drop=True), dict(info or {}))


class CorpusBuilder:
    """Collects items, votes and issues while a reader walks a corpus, then builds the table.

    Duplicate utterance ids are not added twice: the first is kept and each repeat is recorded as
    a ``duplicate_id`` issue, so that ``amber2 prepare`` can count it.

    Args:
        corpus: Corpus name.
        root: The folder the corpus was read from.
        reader: Reader name (for provenance), e.g. ``amber2.corpora.iemocap``.
        reader_version: Bumped when a reader's output changes.
    """

    def __init__(self, corpus: str, root: str | os.PathLike[str] | None, reader: str, reader_version: str = "1"):
        self.corpus = corpus
        self.root = None if root is None else str(Path(root).resolve())
        self.reader = reader
        self.reader_version = reader_version
        self._items: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}
        self._votes: list[dict[str, Any]] = []
        self.issues: list[ReadIssue] = []

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._index

    def add_item(
        self,
        item_id: str,
        *,
        speaker: str | None = None,
        group: str | None = None,
        audio_path: str | os.PathLike[str] | None = None,
        duration: float | None = None,
        transcript: str | None = None,
        audio_status: str = "unchecked",
        **metadata: Any,
    ) -> bool:
        """Add an utterance; return False (and record an issue) if the id was already added."""
        if item_id in self._index:
            self.issue("duplicate_id", item_id, "the id occurs more than once; the first occurrence was kept")
            return False
        if audio_status not in AUDIO_STATUSES:
            raise ValueError(f"item {item_id!r}: unknown audio_status {audio_status!r}")
        row = {
            "id": str(item_id), "corpus": self.corpus, "speaker": speaker, "group": group,
            "audio_path": None if audio_path is None else os.fspath(audio_path),
            "duration": np.nan if duration is None else float(duration),
            "transcript": transcript, "audio_status": audio_status, **metadata,
        }
        self._index[item_id] = len(self._items)
        self._items.append(row)
        return True

    def update_item(self, item_id: str, **values: Any) -> None:
        """Set fields of an already added item (e.g. a transcript found in another file)."""
        self._items[self._index[item_id]].update(values)

    def add_vote(
        self,
        item_id: str,
        *,
        rater: str,
        kind: str = "external",
        labels: Sequence[str] = (),
        secondary: Sequence[str] = (),
        note: str | None = None,
        valence: float | None = None,
        arousal: float | None = None,
        dominance: float | None = None,
        weight: float = 1.0,
    ) -> None:
        """Add one rater's vote for an utterance (labels are canonical class names).

        ``weight`` is how many raters' worth the labels count for (see the module docstring): an
        aggregated count of k votes for one class is one row of weight k.
        """
        self._votes.append({
            "id": str(item_id), "rater": str(rater), "kind": kind, "labels": list(labels),
            "secondary": list(secondary), "note": note,
            "valence": np.nan if valence is None else float(valence),
            "arousal": np.nan if arousal is None else float(arousal),
            "dominance": np.nan if dominance is None else float(dominance),
            "weight": float(weight),
        })

    def issue(self, reason: str, item: str | None = None, detail: str = "") -> None:
        """Record a problem met and handled while reading."""
        self.issues.append(ReadIssue(reason, item, detail))

    def build(self, **extra_info: Any) -> CorpusTable:
        """Return the :class:`CorpusTable` (votes for ids never added raise an error)."""
        items = pd.DataFrame(self._items) if self._items else pd.DataFrame(columns=list(ITEM_COLUMNS))
        votes = pd.DataFrame(self._votes) if self._votes else pd.DataFrame(columns=list(VOTE_COLUMNS))
        info = {
            "corpus": self.corpus, "root": self.root, "reader": self.reader,
            "reader_version": self.reader_version, "amber2_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "issues": [i.to_dict() for i in self.issues], **extra_info,
        }
        return CorpusTable.from_frames(items, votes, info)


# ---------------------------------------------------------------------- helpers
def _isna(v: Any) -> bool:
    """True for None, NaN and pandas NA scalars (never for lists)."""
    if v is None:
        return True
    if isinstance(v, (list, tuple, np.ndarray)):
        return False
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _show(ids: Sequence[Any], n: int = 10) -> str:
    shown = ", ".join(repr(str(i)) for i in list(ids)[:n])  # str(): never np.str_('u005')
    return shown + (f", ... ({len(ids) - n} more)" if len(ids) > n else "")


def _default_item_value(col: str) -> Any:
    return {"duration": np.nan, "audio_status": "unchecked"}.get(col)


def _default_vote_value(col: str, n: int) -> Any:
    if col in ("labels", "secondary"):
        return [[] for _ in range(n)]
    if col in ("valence", "arousal", "dominance"):
        return np.nan
    if col == "kind":
        return "external"
    if col == "weight":
        return 1.0
    return None


def _to_arrow(t: CorpusTable) -> Any:
    import pyarrow as pa

    items = t.items.reset_index(drop=True)
    pos = pd.Index(items["id"]).get_indexer(t.votes["id"])
    order = np.argsort(pos, kind="stable")
    votes = t.votes.iloc[order]
    counts = np.bincount(pos[order], minlength=len(items)) if len(votes) else np.zeros(len(items), int)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    str_list = pa.list_(pa.string())
    struct = pa.StructArray.from_arrays(
        [
            pa.array(votes["rater"].astype(str).tolist(), pa.string()),
            pa.array(votes["kind"].astype(str).tolist(), pa.string()),
            pa.array([list(map(str, v)) for v in votes["labels"]], str_list),
            pa.array([list(map(str, v)) for v in votes["secondary"]], str_list),
            pa.array([None if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v)
                      for v in votes["note"]], pa.string()),
            pa.array(votes["valence"].astype(float).to_numpy(), pa.float64()),
            pa.array(votes["arousal"].astype(float).to_numpy(), pa.float64()),
            pa.array(votes["dominance"].astype(float).to_numpy(), pa.float64()),
            pa.array(votes["weight"].astype(float).to_numpy(), pa.float64()),
        ],
        names=["rater", "kind", "labels", "secondary", "note", "valence", "arousal", "dominance", "weight"],
    )
    vote_col = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), struct)
    item_table = pa.Table.from_pandas(_arrow_safe(items), preserve_index=False)
    return item_table.append_column("votes", vote_col)


def _arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Make object columns of mixed scalars Parquet-friendly (strings or None)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            vals = out[col].tolist()
            kinds = {type(v) for v in vals if v is not None and not (isinstance(v, float) and np.isnan(v))}
            if len(kinds) > 1 or (kinds and not kinds <= {str}):
                if kinds <= {int, float, bool, np.int64, np.float64}:
                    out[col] = pd.to_numeric(out[col], errors="coerce")
                else:
                    out[col] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in vals]
    return out


def _from_arrow(table: Any, info: dict[str, Any]) -> CorpusTable:
    import pyarrow.compute as pc

    names = table.column_names
    if "votes" not in names:
        raise CorpusTableError("the Parquet file has no 'votes' column: not an amber2 corpus table")
    vote_col = table.column("votes").combine_chunks()
    items = table.drop_columns(["votes"]).to_pandas()
    for col in ("id", "corpus", "speaker", "group", "audio_path", "transcript", "audio_status"):
        if col in items.columns:
            items[col] = items[col].astype(object).where(items[col].notna(), None)
    flat = pc.list_flatten(vote_col)
    parents = pc.list_parent_indices(vote_col).to_numpy()
    ids = items["id"].to_numpy()[parents] if len(parents) else np.array([], dtype=object)
    votes = pd.DataFrame({
        "id": ids,
        "rater": flat.field("rater").to_pylist(),
        "kind": flat.field("kind").to_pylist(),
        "labels": flat.field("labels").to_pylist(),
        "secondary": flat.field("secondary").to_pylist(),
        "note": flat.field("note").to_pylist(),
        "valence": flat.field("valence").to_numpy(zero_copy_only=False),
        "arousal": flat.field("arousal").to_numpy(zero_copy_only=False),
        "dominance": flat.field("dominance").to_numpy(zero_copy_only=False),
        "weight": (flat.field("weight").to_numpy(zero_copy_only=False).astype(np.float64)
                   if "weight" in [flat.type.field(i).name for i in range(flat.type.num_fields)]
                   else np.ones(len(flat))),
    })
    votes["labels"] = [v if v is not None else [] for v in votes["labels"]]
    votes["secondary"] = [v if v is not None else [] for v in votes["secondary"]]
    return CorpusTable(items.reset_index(drop=True), votes, info)
