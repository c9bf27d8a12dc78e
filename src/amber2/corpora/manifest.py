"""Manifest reader: any other corpus, described by a CSV, JSONL or Parquet file.

The schema (also in ``docs/architecture.md`` and ``docs/corpora.md``); the form is detected from the
columns:

**Counts form** - one row per utterance: ``id``, ``audio`` (a relative path is resolved against the
manifest's folder), optional ``transcript``, ``speaker``, ``group`` (defaults to ``speaker``),
``duration``, and one column ``votes:<class>`` per class with that class's vote count::

    id,audio,transcript,speaker,votes:neutral,votes:happy,votes:sad
    utt1,wav/utt1.wav,Hello there,spk1,3,1,0

The counts are expanded into anonymous votes ``anon-1``, ``anon-2``, ... (kind ``external``).

**Rater form** - one row per rater vote: the item columns above (repeated on each row of an item),
``rater``, ``label`` (one label, or several separated by ``;``; empty = the rater gave none), optional
``rater_kind`` (default ``external``), ``valence``, ``arousal``, ``dominance``::

    id,audio,transcript,speaker,rater,label,rater_kind
    utt1,wav/utt1.wav,Hello there,spk1,r1,neutral,external
    utt1,wav/utt1.wav,Hello there,spk1,r2,happy;neutral,external

**JSONL** may instead carry per item ``votes``: a list of ``{"rater": ..., "label": ... | "labels":
[...], "kind": ..., "valence": ...}`` or a dict ``{class: count}``.

Any other column is item metadata and is kept (in the rater form it must be constant within an item:
the first value is kept and an ``inconsistent_item_column`` issue recorded). Labels are lower-cased and
stripped; they are not merged (``excited`` stays ``excited``). Structural errors (no ``id`` column, no
vote columns) raise :class:`ManifestError`; per-row problems are recorded as issues and reading goes on.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amber2.corpora.audio_files import check_item_audio
from amber2.corpora.table import CorpusBuilder, CorpusTable
from amber2.utils.io import read_jsonl
from amber2.utils.logging import get_logger

__all__ = [
    "ITEM_FIELDS", "MANIFEST_SUFFIXES", "READER_VERSION", "VOTE_FIELDS", "ManifestError", "find_manifest",
    "read_manifest",
]

log = get_logger(__name__)
READER_VERSION = "1"

#: Item columns of both forms (``id`` and ``audio`` are required).
ITEM_FIELDS: tuple[str, ...] = ("id", "audio", "transcript", "speaker", "group", "duration")
#: Per-vote columns of the rater form (``rater`` and ``label`` are required there).
VOTE_FIELDS: tuple[str, ...] = ("rater", "label", "rater_kind", "valence", "arousal", "dominance")
#: File suffixes understood, by format.
MANIFEST_SUFFIXES: dict[str, str] = {
    ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}
_COUNT_PREFIX = "votes:"
_TEXT_COLUMNS = frozenset({"id", "audio", "transcript", "speaker", "group", "rater", "label", "rater_kind"})


class ManifestError(ValueError):
    """The manifest cannot be read as either form (the message says what is missing)."""


def find_manifest(path: str | os.PathLike[str]) -> Path:
    """Resolve ``path`` to a manifest file (a folder must hold exactly one ``manifest.<suffix>``).

    Raises:
        FileNotFoundError: Nothing found.
        ManifestError: An unknown suffix, or several manifests in the folder.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        found = [p / f"manifest{s}" for s in MANIFEST_SUFFIXES if (p / f"manifest{s}").is_file()]
        if not found:
            raise FileNotFoundError(f"no manifest.csv / manifest.jsonl / manifest.parquet in {p}")
        if len(found) > 1:
            raise ManifestError(f"several manifests in {p}: {[f.name for f in found]}; pass one file")
        return found[0]
    if not p.is_file():
        raise FileNotFoundError(f"manifest {p} does not exist")
    if p.suffix.lower() not in MANIFEST_SUFFIXES:
        raise ManifestError(f"{p}: unknown manifest suffix {p.suffix!r}; use one of "
                            f"{sorted(MANIFEST_SUFFIXES)}")
    return p


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _text(v: Any) -> str | None:
    return None if _missing(v) else str(v).strip()


def _number(v: Any) -> float | None:
    if _missing(v):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{v!r} is not a number") from None
    return None if math.isnan(x) else x


def _scalar(v: Any) -> Any:
    """Metadata value as a Parquet-friendly scalar (lists and dicts become JSON text)."""
    if isinstance(v, (list, tuple, dict, np.ndarray)):
        return json.dumps(v.tolist() if isinstance(v, np.ndarray) else v, default=str)
    if isinstance(v, np.generic):
        return v.item()
    if _missing(v):
        return None
    return v


def _labels(v: Any) -> list[str]:
    if isinstance(v, (list, tuple, np.ndarray)):
        words: Iterable[Any] = list(v)
    elif _missing(v):
        return []
    else:
        words = str(v).split(";")
    return [str(w).strip().lower() for w in words if not _missing(w) and str(w).strip()]


def _load_rows(path: Path, fmt: str) -> tuple[pd.DataFrame | None, list[dict[str, Any]] | None]:
    """A frame (CSV/TSV/Parquet, or JSONL without nested votes) or the JSONL records."""
    if fmt in ("csv", "tsv"):
        df = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False,
                         na_values=[""], encoding="utf-8-sig")
        df.columns = [str(c).strip() for c in df.columns]
        for c in df.columns:  # numeric metadata and counts stay numbers; ids and names stay text
            if c in _TEXT_COLUMNS:
                continue
            conv = pd.to_numeric(df[c], errors="coerce")
            if int(conv.notna().sum()) == int(df[c].notna().sum()) and conv.notna().any():
                df[c] = conv
        return df, None
    if fmt == "parquet":
        df = pd.read_parquet(path)
        df.columns = [str(c).strip() for c in df.columns]
        return df, None
    records = read_jsonl(path, error=ManifestError)
    if any("votes" in r for r in records):
        return None, records
    return pd.DataFrame.from_records(records), None


def read_manifest(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    check_audio: bool = True,
    workers: int | None = None,
    progress: bool = False,
) -> CorpusTable:
    """Read a manifest (counts form, rater form, or JSONL with nested votes) into a corpus table.

    Args:
        path: The manifest file, or a folder holding one ``manifest.{csv,tsv,jsonl,parquet}``.
        name: Corpus name (default: the manifest's stem, or its folder's name for ``manifest.*``).
        check_audio: Stat each audio file and read its header (duration, LFS pointers, empty files).
        workers: Threads for the audio check.
        progress: Show a progress bar for the audio check.

    Returns:
        The corpus table; per-row problems are in ``table.issues``.

    Raises:
        FileNotFoundError: The manifest does not exist.
        ManifestError: The manifest has no ``id`` or ``audio`` column, or neither ``votes:<class>``
            columns nor ``rater``/``label`` columns (nor JSONL ``votes``), or both forms at once.
    """
    mpath = find_manifest(path)
    fmt = MANIFEST_SUFFIXES[mpath.suffix.lower()]
    corpus = name or (mpath.parent.name if mpath.stem == "manifest" else mpath.stem)
    builder = CorpusBuilder(corpus, mpath.parent, "amber2.corpora.manifest", READER_VERSION)
    frame, records = _load_rows(mpath, fmt)
    state = _State(builder, mpath)
    if records is not None:
        form = "jsonl-votes"
        _read_records(records, state)
    else:
        assert frame is not None
        form = _read_frame(frame, state)
    ids = list(state.audio)
    paths = [state.audio[i] for i in ids]
    check_item_audio(builder, ids, paths, check=check_audio, workers=workers, progress=progress,
                     known_durations=[state.durations.get(i) for i in ids])
    table = builder.build(manifest=os.fspath(mpath), manifest_form=form)
    log.info("manifest %s (%s form): %d items, %d votes", mpath.name, form, len(table), len(table.votes))
    return table


class _State:
    """Shared bookkeeping while reading: audio paths and durations per item, vote rater ids."""

    def __init__(self, builder: CorpusBuilder, path: Path):
        self.builder = builder
        self.path = path
        self.base = path.parent
        self.audio: dict[str, Path | None] = {}
        self.durations: dict[str, float | None] = {}
        self.raters: dict[str, set[str]] = {}

    def where(self, row: int) -> str:
        return f"{self.path.name} row {row}"

    def add_item(self, rec: dict[str, Any], row: int, meta_cols: list[str]) -> str | None:
        """Add the item of a record; return its id (None if the record has none or is a duplicate)."""
        item_id = _text(rec.get("id"))
        if item_id is None:
            self.builder.issue("missing_id", None, f"{self.where(row)}: no id; row skipped")
            return None
        audio = _text(rec.get("audio"))
        apath: Path | None = None
        if audio is not None:
            apath = Path(audio).expanduser()
            if not apath.is_absolute():
                apath = self.base / apath
        try:
            duration = _number(rec.get("duration"))
        except ValueError as exc:
            self.builder.issue("bad_value", item_id, f"{self.where(row)}: duration {exc}; ignored")
            duration = None
        speaker = _text(rec.get("speaker"))
        group = _text(rec.get("group")) or speaker
        transcript = _text(rec.get("transcript"))
        meta = {c: _scalar(rec.get(c)) for c in meta_cols}
        if not self.builder.add_item(item_id, speaker=speaker, group=group,
                                     audio_path=None if apath is None else os.fspath(apath),
                                     duration=duration, transcript=transcript, **meta):
            return None
        if transcript is None:
            self.builder.issue("no_transcript", item_id, f"{self.where(row)}: empty transcript")
        self.audio[item_id] = apath
        self.durations[item_id] = duration
        self.raters[item_id] = set()
        return item_id

    def add_vote(self, item_id: str, row: int, rater: Any, labels: Any, kind: Any = None,
                 valence: Any = None, arousal: Any = None, dominance: Any = None) -> None:
        rid = _text(rater)
        seen = self.raters[item_id]
        if rid is None:
            rid = f"rater-{len(seen) + 1}"
            while rid in seen:
                rid += "'"
            self.builder.issue("missing_rater_id", item_id, f"{self.where(row)}: no rater id; named {rid!r}")
        if rid in seen:
            self.builder.issue("duplicate_rater", item_id, f"{self.where(row)}: rater {rid!r} again; first kept")
            return
        seen.add(rid)
        dims: dict[str, float | None] = {}
        for key, val in (("valence", valence), ("arousal", arousal), ("dominance", dominance)):
            try:
                dims[key] = _number(val)
            except ValueError as exc:
                self.builder.issue("bad_value", item_id, f"{self.where(row)}: {key} {exc}; ignored")
                dims[key] = None
        self.builder.add_vote(item_id, rater=rid, kind=_text(kind) or "external", labels=_labels(labels),
                              **dims)

    def add_counts(self, item_id: str, row: int, counts: dict[str, Any]) -> None:
        k = 0
        for cls, raw in counts.items():
            label = str(cls).strip().lower()
            if _missing(raw):
                continue
            try:
                x = float(raw)
            except (TypeError, ValueError):
                x = float("nan")
            if not math.isfinite(x) or x < 0 or x != int(x):
                self.builder.issue("bad_vote_count", item_id,
                                   f"{self.where(row)}: count {raw!r} for {label!r} is not a whole "
                                   "number >= 0; counted as 0")
                continue
            for _ in range(int(x)):
                k += 1
                self.builder.add_vote(item_id, rater=f"anon-{k}", kind="external", labels=[label])
        if k == 0:
            self.builder.issue("no_votes", item_id, f"{self.where(row)}: every vote count is 0 or empty")


def _check_columns(cols: list[str], path: Path) -> None:
    missing = [c for c in ("id", "audio") if c not in cols]
    if missing:
        raise ManifestError(f"{path.name}: required column(s) {missing} missing (columns: {cols})")


def _read_frame(df: pd.DataFrame, state: _State) -> str:
    cols = list(df.columns)
    _check_columns(cols, state.path)
    count_cols = [c for c in cols if c.lower().startswith(_COUNT_PREFIX)]
    rater_form = "rater" in cols or "label" in cols
    if count_cols and rater_form:
        raise ManifestError(f"{state.path.name}: both votes:<class> columns and rater/label columns; "
                            "use one form (see docs/corpora.md)")
    if not count_cols and not rater_form:
        raise ManifestError(
            f"{state.path.name}: no votes: neither votes:<class> count columns (counts form) nor rater and "
            f"label columns (rater form); columns are {cols}"
        )
    records = df.to_dict("records")
    if count_cols:
        classes = {c: c[len(_COUNT_PREFIX):] for c in count_cols}
        empty = [c for c, k in classes.items() if not k.strip()]
        if empty:
            raise ManifestError(f"{state.path.name}: count column {empty[0]!r} names no class")
        meta_cols = [c for c in cols if c not in ITEM_FIELDS and c not in classes]
        for row, rec in enumerate(records, start=1):
            item_id = state.add_item(rec, row, meta_cols)
            if item_id is not None:
                state.add_counts(item_id, row, {classes[c]: rec.get(c) for c in count_cols})
        return "counts"
    for need in ("rater", "label"):
        if need not in cols:
            raise ManifestError(f"{state.path.name}: rater form needs a {need!r} column (columns: {cols})")
    meta_cols = [c for c in cols if c not in ITEM_FIELDS and c not in VOTE_FIELDS]
    item_cols = [c for c in cols if c in ITEM_FIELDS and c != "id"] + meta_cols
    first: dict[str, dict[str, Any]] = {}
    skipped: set[str] = set()
    for row, rec in enumerate(records, start=1):
        rid = _text(rec.get("id"))
        if rid is None:
            state.builder.issue("missing_id", None, f"{state.where(row)}: no id; vote skipped")
            continue
        if rid in skipped:
            continue
        if rid not in first:
            if state.add_item(rec, row, meta_cols) is None:
                skipped.add(rid)
                continue
            first[rid] = rec
        else:
            ref = first[rid]
            for c in item_cols:
                a, b = ref.get(c), rec.get(c)
                if not (_missing(a) and _missing(b)) and _scalar(a) != _scalar(b):
                    state.builder.issue("inconsistent_item_column", rid,
                                        f"{state.where(row)}: {c} = {b!r} differs from {a!r}; first kept")
        state.add_vote(rid, row, rec.get("rater"), rec.get("label"), rec.get("rater_kind"),
                       rec.get("valence"), rec.get("arousal"), rec.get("dominance"))
    return "rater"


def _read_records(records: list[dict[str, Any]], state: _State) -> None:
    cols: list[str] = []
    for r in records:
        for k in r:
            if k not in cols:
                cols.append(k)
    _check_columns(cols, state.path)
    meta_cols = [c for c in cols if c not in ITEM_FIELDS and c != "votes"]
    for row, rec in enumerate(records, start=1):
        item_id = state.add_item(rec, row, meta_cols)
        if item_id is None:
            continue
        votes = rec.get("votes")
        if isinstance(votes, dict):
            state.add_counts(item_id, row, votes)
        elif isinstance(votes, list):
            for v in votes:
                if not isinstance(v, dict):
                    state.builder.issue("bad_vote", item_id,
                                        f"{state.where(row)}: vote {v!r} is not an object")
                    continue
                labels = v.get("labels", v.get("label"))
                state.add_vote(item_id, row, v.get("rater"), labels, v.get("kind", v.get("rater_kind")),
                               v.get("valence"), v.get("arousal"), v.get("dominance"))
        elif votes is None:
            state.builder.issue("no_votes", item_id, f"{state.where(row)}: no 'votes' field")
        else:
            state.builder.issue("bad_vote", item_id,
                                f"{state.where(row)}: 'votes' must be a list of votes or a "
                                "{class: count} object")
