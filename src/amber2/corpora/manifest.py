"""Manifest reader: any other corpus, described by a CSV, JSONL or Parquet file.

The schema (also in ``docs/architecture.md`` and ``docs/corpora.md``); the form is detected from the
columns:

**Counts form** - one row per utterance: ``id``, ``audio`` (a relative path is resolved against the
manifest's folder), optional ``transcript``, ``speaker``, ``group`` (defaults to ``speaker``),
``duration``, ``n_raters`` (how many raters the counts come from, when known), and one column
``votes:<class>`` per class with that class's vote count (whole or fractional, >= 0)::

    id,audio,transcript,speaker,votes:neutral,votes:happy,votes:sad
    utt1,wav/utt1.wav,Hello there,spk1,3,1,0

Each non-zero count is stored as **one** vote row of that weight (rater ``counts:<class>``, kind
``external``; see :mod:`amber2.corpora.table`), never expanded into one row per vote: reading a
manifest takes memory in proportion to its size on disk, whatever the numbers in it. A count must be
finite, >= 0 and at most :data:`MAX_COUNT`.

**Distribution form** - as the counts form, with ``p:<class>`` columns holding each class's share
(a published distribution, or recognition rates); a row must sum to 1 within :data:`DIST_TOLERANCE`
(else the item gets no votes and a ``bad_distribution`` issue). Each share becomes one vote row
(rater ``p:<class>``) of weight ``p * n_raters`` when the row gives ``n_raters``, else of weight ``p``
(then the item's rater count is unknown and the summary says n/a rather than inventing one)::

    id,audio,n_raters,p:neutral,p:happy,p:sad
    utt1,wav/utt1.wav,10,0.6,0.3,0.1

In both column forms the classes keep the manifest's column order (``class_order="manifest"``,
stored as ``class_order`` in the table's info and used when a policy infers its classes);
``class_order="canonical"`` uses the library's built-in order instead.

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
stripped; they are not merged (``excited`` stays ``excited``).

**What is refused.** Structural errors raise :class:`ManifestError` naming the file: a file that is
empty, binary, not UTF-8, or ragged (a row with more or fewer cells than the header: the line is
named); a duplicated column (``votes:angry`` twice); no ``id`` or ``audio`` column; no vote columns,
or two forms at once; no item with a label; an audio path that leaves the manifest's folder (``..``,
an absolute path elsewhere, or a symlink pointing out) unless ``allow_outside_paths=True`` (``amber2
prepare --allow-outside-paths``). Per-row problems are recorded as issues and reading goes on.
"""

from __future__ import annotations

import csv
import io
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
    "DIST_TOLERANCE", "ITEM_FIELDS", "MANIFEST_SUFFIXES", "MAX_COUNT", "READER_VERSION", "VOTE_FIELDS",
    "ManifestError", "find_manifest", "read_manifest",
]

log = get_logger(__name__)
READER_VERSION = "2"

#: Item columns of every form (``id`` and ``audio`` are required).
ITEM_FIELDS: tuple[str, ...] = ("id", "audio", "transcript", "speaker", "group", "duration", "n_raters")
#: Largest vote count (or ``n_raters``) accepted in one cell.
MAX_COUNT = 1e9
#: How far a ``p:<class>`` row may sum from 1.
DIST_TOLERANCE = 0.01
#: Per-vote columns of the rater form (``rater`` and ``label`` are required there).
VOTE_FIELDS: tuple[str, ...] = ("rater", "label", "rater_kind", "valence", "arousal", "dominance")
#: File suffixes understood, by format.
MANIFEST_SUFFIXES: dict[str, str] = {
    ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}
_COUNT_PREFIX = "votes:"
_DIST_PREFIX = "p:"
_SNIFF_BYTES = 1 << 16
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


def _read_text(path: Path) -> str:
    """The manifest's text; an empty, binary or non-UTF-8 file is a :class:`ManifestError`."""
    data = path.read_bytes()
    if not data.strip():
        raise ManifestError(f"{path}: the file is empty")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise ManifestError(f"{path}: binary data (NUL bytes), not a {path.suffix} text manifest")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                            "save it as UTF-8") from None


def _check_header(cols: list[str], path: Path) -> None:
    unnamed = [i + 1 for i, c in enumerate(cols) if not c]
    if unnamed:
        raise ManifestError(f"{path}: column {unnamed[0]} of the header has no name")
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise ManifestError(f"{path}: column {dup[0]!r} appears more than once in the header")


def _read_delimited(path: Path, sep: str) -> pd.DataFrame:
    """Parse CSV/TSV text with the csv module, refusing ragged rows (pandas pads or mangles them)."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), delimiter=sep)
    header: list[str] | None = None
    rows: list[list[str]] = []
    try:
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip() for c in cells]
                _check_header(header, path)
                continue
            if len(cells) != len(header):
                raise ManifestError(f"{path} line {reader.line_num}: {len(cells)} cell(s) where the header has "
                                    f"{len(header)} (a ragged row: an unquoted {sep!r} or a missing cell?)")
            rows.append(cells)
    except csv.Error as exc:
        raise ManifestError(f"{path} line {reader.line_num}: cannot parse ({exc})") from None
    if header is None:  # only blank-looking lines (e.g. control characters that str.strip removes)
        raise ManifestError(f"{path}: no header row (the file holds only blank lines)")
    df = pd.DataFrame(rows, columns=header, dtype=object).replace("", None)
    for c in df.columns:  # numeric metadata and counts stay numbers; ids and names stay text
        if c in _TEXT_COLUMNS:
            continue
        conv = pd.to_numeric(df[c], errors="coerce")
        if int(conv.notna().sum()) == int(df[c].notna().sum()) and conv.notna().any():
            df[c] = conv
    return df


def _load_rows(path: Path, fmt: str) -> tuple[pd.DataFrame | None, list[dict[str, Any]] | None]:
    """A frame (CSV/TSV/Parquet, or JSONL without nested votes) or the JSONL records."""
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, "\t" if fmt == "tsv" else ","), None
    if fmt == "parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a damaged or foreign file
            raise ManifestError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
        df.columns = [str(c).strip() for c in df.columns]
        _check_header(list(df.columns), path)
        return df, None
    _read_text(path)
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
    allow_outside_paths: bool = False,
    class_order: str = "manifest",
) -> CorpusTable:
    """Read a manifest (counts, distribution or rater form, or JSONL with nested votes) into a corpus table.

    Args:
        path: The manifest file, or a folder holding one ``manifest.{csv,tsv,jsonl,parquet}``.
        name: Corpus name (default: the manifest's stem, or its folder's name for ``manifest.*``).
        check_audio: Stat each audio file and read its header (duration, LFS pointers, empty files).
        workers: Threads for the audio check.
        progress: Show a progress bar for the audio check.
        allow_outside_paths: Accept audio paths that leave the manifest's folder (``..``, absolute
            paths elsewhere, symlinks pointing out). Off by default: a manifest from someone else
            must not make amber2 read arbitrary files.
        class_order: ``manifest`` (classes in the order of the ``votes:`` / ``p:`` columns) or
            ``canonical`` (the library's built-in order).

    Returns:
        The corpus table; per-row problems are in ``table.issues``.

    Raises:
        FileNotFoundError: The manifest does not exist.
        ManifestError: See the module docstring (what is refused); the message names the file.
    """
    if class_order not in ("manifest", "canonical"):
        raise ValueError(f"class_order must be 'manifest' or 'canonical', got {class_order!r}")
    mpath = find_manifest(path)
    fmt = MANIFEST_SUFFIXES[mpath.suffix.lower()]
    corpus = name or (mpath.parent.name if mpath.stem == "manifest" else mpath.stem)
    builder = CorpusBuilder(corpus, mpath.parent, "amber2.corpora.manifest", READER_VERSION)
    frame, records = _load_rows(mpath, fmt)
    state = _State(builder, mpath, allow_outside_paths)
    if records is not None:
        form = "jsonl-votes"
        _read_records(records, state)
    else:
        assert frame is not None
        form = _read_frame(frame, state)
    if not state.labelled:
        raise ManifestError(f"{mpath}: no item has a label ({len(state.audio)} item(s) read; "
                            "every vote is empty, zero or invalid - see the checks above)")
    ids = list(state.audio)
    paths = [state.audio[i] for i in ids]
    check_item_audio(builder, ids, paths, check=check_audio, workers=workers, progress=progress,
                     known_durations=[state.durations.get(i) for i in ids])
    extra: dict[str, Any] = {}
    if class_order == "manifest" and state.class_order:
        extra["class_order"] = state.class_order
    table = builder.build(manifest=os.fspath(mpath), manifest_form=form, **extra)
    log.info("manifest %s (%s form): %d items, %d votes", mpath.name, form, len(table), len(table.votes))
    return table


class _State:
    """Shared bookkeeping while reading: audio paths and durations per item, vote rater ids."""

    def __init__(self, builder: CorpusBuilder, path: Path, allow_outside: bool = False):
        self.builder = builder
        self.path = path
        self.base = path.parent
        self.root = path.parent.resolve()
        self.allow_outside = allow_outside
        self.labelled = 0
        self.class_order: list[str] = []
        self.n_raters: dict[str, float] = {}
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
            if not self.allow_outside and not apath.resolve().is_relative_to(self.root):
                raise ManifestError(
                    f"{self.where(row)} (item {item_id!r}): audio path {audio!r} leaves the manifest's folder "
                    f"{self.root} (via '..', an absolute path or a symlink); pass allow_outside_paths=True "
                    "(amber2 prepare --allow-outside-paths) if you trust this manifest")
        try:
            duration = _number(rec.get("duration"))
        except ValueError as exc:
            self.builder.issue("bad_value", item_id, f"{self.where(row)}: duration {exc}; ignored")
            duration = None
        speaker = _text(rec.get("speaker"))
        group = _text(rec.get("group")) or speaker
        transcript = _text(rec.get("transcript"))
        meta = {c: _scalar(rec.get(c)) for c in meta_cols}
        if "n_raters" in rec:
            meta["n_raters"] = self._n_raters(rec.get("n_raters"), item_id, row)
        if not self.builder.add_item(item_id, speaker=speaker, group=group,
                                     audio_path=None if apath is None else os.fspath(apath),
                                     duration=duration, transcript=transcript, **meta):
            return None
        if transcript is None:
            self.builder.issue("no_transcript", item_id, f"{self.where(row)}: empty transcript")
        self.audio[item_id] = apath
        self.durations[item_id] = duration
        self.n_raters[item_id] = float(meta.get("n_raters", float("nan")))
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
        labs = _labels(labels)
        self.builder.add_vote(item_id, rater=rid, kind=_text(kind) or "external", labels=labs, **dims)
        self.labelled += bool(labs)

    def _n_raters(self, raw: Any, item_id: str, row: int) -> float:
        """The ``n_raters`` cell as a number > 0 (NaN when empty or invalid, with an issue)."""
        try:
            x = _number(raw)
        except ValueError:
            x = float("nan")
        if x is None:
            return float("nan")
        if not (math.isfinite(x) and 0 < x <= MAX_COUNT):
            self.builder.issue("bad_value", item_id, f"{self.where(row)}: n_raters {raw!r} is not a number in "
                               f"(0, {MAX_COUNT:g}]; ignored")
            return float("nan")
        return x

    def add_counts(self, item_id: str, row: int, counts: dict[str, Any], *, shares: bool = False,
                   n_raters: float = float("nan")) -> None:
        """Add a row's aggregated votes: one vote row per class, weighted by its count (or share)."""
        what = "share" if shares else "count"
        values: dict[str, float] = {}
        for cls, raw in counts.items():
            label = str(cls).strip().lower()
            if _missing(raw):
                continue
            try:
                x = float(raw)
            except (TypeError, ValueError, OverflowError):
                x = float("nan")
            limit = 1.0 + DIST_TOLERANCE if shares else MAX_COUNT
            if not math.isfinite(x) or x < 0 or x > limit:
                self.builder.issue("bad_vote_count", item_id,
                                   f"{self.where(row)}: {what} {raw!r} for {label!r} is not a number in "
                                   f"[0, {limit:g}]; counted as 0")
                continue
            values[label] = x
        total = sum(values.values())
        if shares and values and abs(total - 1.0) > DIST_TOLERANCE:
            self.builder.issue("bad_distribution", item_id,
                               f"{self.where(row)}: the p:<class> shares sum to {total:.6g}, not 1 (within "
                               f"{DIST_TOLERANCE:g}); no votes kept")
            return
        scale = n_raters if shares and math.isfinite(n_raters) else 1.0
        prefix = _DIST_PREFIX if shares else "counts:"
        for label, x in values.items():
            if x > 0:
                self.builder.add_vote(item_id, rater=f"{prefix}{label}", kind="external", labels=[label],
                                      weight=x * scale)
        if total <= 0:
            self.builder.issue("no_votes", item_id, f"{self.where(row)}: every vote {what} is 0 or empty")
        else:
            self.labelled += 1


def _check_columns(cols: list[str], path: Path) -> None:
    missing = [c for c in ("id", "audio") if c not in cols]
    if missing:
        raise ManifestError(f"{path.name}: required column(s) {missing} missing (columns: {cols})")


def _read_frame(df: pd.DataFrame, state: _State) -> str:
    cols = list(df.columns)
    _check_columns(cols, state.path)
    count_cols = [c for c in cols if c.lower().startswith(_COUNT_PREFIX)]
    dist_cols = [c for c in cols if c.lower().startswith(_DIST_PREFIX)]
    rater_form = "rater" in cols or "label" in cols
    forms = [f for f, on in (("votes:<class>", count_cols), ("p:<class>", dist_cols), ("rater/label", rater_form))
             if on]
    if len(forms) > 1:
        raise ManifestError(f"{state.path.name}: both {forms[0]} and {forms[1]} columns; use one form (see "
                            "docs/corpora.md)")
    if not forms:
        raise ManifestError(
            f"{state.path.name}: no votes: neither votes:<class> count columns (counts form), p:<class> share "
            f"columns (distribution form), nor rater and label columns (rater form); columns are {cols}"
        )
    records = df.to_dict("records")
    if count_cols or dist_cols:
        shares = bool(dist_cols)
        prefix = _DIST_PREFIX if shares else _COUNT_PREFIX
        classes = {c: c[len(prefix):].strip().lower() for c in (dist_cols or count_cols)}
        empty = [c for c, k in classes.items() if not k]
        if empty:
            raise ManifestError(f"{state.path.name}: column {empty[0]!r} names no class")
        twice = sorted({k for k in classes.values() if list(classes.values()).count(k) > 1})
        if twice:
            raise ManifestError(f"{state.path.name}: class {twice[0]!r} has more than one {prefix}<class> column")
        state.class_order = list(classes.values())
        meta_cols = [c for c in cols if c not in ITEM_FIELDS and c not in classes]
        for row, rec in enumerate(records, start=1):
            item_id = state.add_item(rec, row, meta_cols)
            if item_id is not None:
                state.add_counts(item_id, row, {classes[c]: rec.get(c) for c in classes}, shares=shares,
                                 n_raters=state.n_raters[item_id])
        return "distribution" if shares else "counts"
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
            state.add_counts(item_id, row, votes, n_raters=state.n_raters[item_id])
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
