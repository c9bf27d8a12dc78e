"""What a prediction can be asked for: files, folders, manifests, prepared corpora and arrays.

:func:`collect_inputs` turns what a user passes into a list of :class:`InputItem` (id, audio path or
waveform, transcript). Paths that do not exist or cannot be read become items that carry their error,
so one bad entry never stops a batch. :func:`read_transcripts` reads a transcripts file.

Inputs understood:

* an audio file (``.wav``, ``.flac``, ``.ogg``, ``.mp3``, ... anything soundfile decodes); its id is
  the file stem (the path relative to the common folder when stems collide);
* a folder: a prepared corpus (``corpus.parquet``), a folder holding one ``manifest.*``, or else
  every audio file below it (recursively, sorted);
* a manifest (``.csv``, ``.tsv``, ``.jsonl``, ``.parquet``) with columns ``id``, ``audio`` (relative
  paths resolve against the manifest's folder) and optional ``transcript``, as in
  ``docs/architecture.md``; vote columns, if any, are ignored, and rater-form rows are merged per id.
  A row without ``audio`` but with a transcript is predicted from the text alone;
* a 1-D numpy array (a mono waveform; ``sample_rate`` is then required) or a list of them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amber2.utils.logging import get_logger

__all__ = [
    "AUDIO_SUFFIXES",
    "InputError",
    "InputItem",
    "attach_transcripts",
    "collect_inputs",
    "read_transcripts",
]

log = get_logger(__name__)

#: Suffixes treated as audio when a folder is scanned (soundfile / libsndfile formats).
AUDIO_SUFFIXES: frozenset[str] = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".snd", ".caf", ".w64"}
)
_TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
                   ".pq": "parquet"}


class InputError(ValueError):
    """The inputs cannot be understood at all (a manifest without the needed columns, a 2-D array...)."""


@dataclass
class InputItem:
    """One utterance to predict.

    Attributes:
        id: Utterance id.
        path: Audio file (None for a waveform or a text-only item).
        waveform: Mono samples (None for a file).
        sample_rate: Rate of ``waveform`` in Hz.
        transcript: Transcript, if known.
        transcript_source: ``given`` or ``asr`` (None without a transcript).
        error: A problem found while collecting (the item is reported, not predicted).
        error_reason: Short code of that problem.
    """

    id: str
    path: Path | None = None
    waveform: np.ndarray | None = None
    sample_rate: int | None = None
    transcript: str | None = None
    transcript_source: str | None = None
    error: str | None = None
    error_reason: str | None = None

    @property
    def source(self) -> str:
        """Human-readable origin: the audio path, ``array`` or ``text``."""
        if self.path is not None:
            return os.fspath(self.path)
        return "array" if self.waveform is not None else "text"

    @property
    def has_audio(self) -> bool:
        """Whether the item has audio (a file or a waveform)."""
        return self.path is not None or self.waveform is not None


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    import pandas as pd

    if v is pd.NA:
        return True
    return isinstance(v, str) and not v.strip()


def _text(v: Any) -> str | None:
    return None if _missing(v) else str(v).strip()


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV/TSV/JSONL/Parquet table as dicts (JSON: a list of objects or ``{id: text}``)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        import pandas as pd

        df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False,
                         na_values=[""], encoding="utf-8-sig")
        df.columns = [str(c).strip() for c in df.columns]
        return [{k: (None if _missing(v) else v) for k, v in r.items()} for r in df.to_dict("records")]
    if suffix in (".parquet", ".pq"):
        import pandas as pd

        df = pd.read_parquet(path)
        df.columns = [str(c).strip() for c in df.columns]
        return df.to_dict("records")
    if suffix in (".jsonl", ".ndjson"):
        from amber2.utils.io import read_jsonl

        return read_jsonl(path, error=InputError)
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc.msg})") from None
        if isinstance(data, dict):
            return [{"id": k, "transcript": v} for k, v in data.items()]
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            return data
        raise InputError(f"{path}: expected a JSON object {{id: transcript}} or a list of objects")
    raise InputError(f"{path}: unknown table suffix {path.suffix!r}; use .csv, .tsv, .jsonl, .json or .parquet")


def read_transcripts(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a transcripts file into ``{key: transcript}``.

    Formats: CSV/TSV/JSONL/Parquet/JSON-list with a ``transcript`` (or ``text``) column and a key
    column ``id`` (or ``audio`` / ``file`` / ``path``); a JSON object ``{key: transcript}``; or a text
    file with one ``key<TAB>transcript`` per line. A key may be an item id, a file name, a file stem
    or a path.

    Raises:
        FileNotFoundError: The file does not exist.
        InputError: No key or transcript column, or a malformed line.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"transcripts file {p} does not exist")
    if p.suffix.lower() in (".txt", ".tab", ""):
        out: dict[str, str] = {}
        for lineno, line in enumerate(p.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise InputError(f"{p}:{lineno}: expected 'id<TAB>transcript', got {line[:60]!r}")
            key, text = line.split("\t", 1)
            out[key.strip()] = text.strip()
        return out
    rows = _read_rows(p)
    if not rows:
        return {}
    cols = set().union(*(r.keys() for r in rows))
    tcol = next((c for c in ("transcript", "text", "sentence") if c in cols), None)
    kcol = next((c for c in ("id", "audio", "file", "path", "filename") if c in cols), None)
    if tcol is None or kcol is None:
        raise InputError(f"{p}: needs a key column (id, audio, file or path) and a transcript column "
                         f"(transcript or text); columns are {sorted(cols)}")
    out = {}
    for r in rows:
        key, text = _text(r.get(kcol)), _text(r.get(tcol))
        if key is not None and text is not None:
            out[key] = text
    return out


def _keys_of(item: InputItem) -> list[str]:
    keys = [item.id]
    if item.path is not None:
        keys += [item.path.name, item.path.stem, os.fspath(item.path)]
    return keys


def attach_transcripts(items: Sequence[InputItem], transcripts: Mapping[str, str | None]) -> int:
    """Set each item's transcript from a mapping keyed by id, file name, stem or path.

    Returns:
        How many items got a transcript from the mapping (later entries win over a manifest's).
    """
    resolved = {}
    for k, v in transcripts.items():
        resolved[str(k)] = v
        with_path = Path(str(k)).expanduser()
        if with_path.is_absolute() or os.sep in str(k):
            resolved[os.fspath(with_path.resolve())] = v
    n = 0
    for item in items:
        for key in _keys_of(item):
            if key in resolved:
                text = _text(resolved[key])
                item.transcript = text
                item.transcript_source = "given" if text is not None else None
                n += 1
                break
    return n


def _unique_ids(items: list[InputItem]) -> None:
    """Make ids unique: colliding file stems become paths relative to the common folder."""
    seen: dict[str, list[InputItem]] = {}
    for it in items:
        seen.setdefault(it.id, []).append(it)
    for group in seen.values():
        if len(group) < 2:
            continue
        paths = [it.path for it in group if it.path is not None]
        if len(paths) == len(group):
            common = Path(os.path.commonpath([os.fspath(p.resolve()) for p in paths]))
            for it in group:
                assert it.path is not None
                rel = it.path.resolve().relative_to(common) if it.path.resolve() != common else Path(it.path.name)
                it.id = rel.with_suffix("").as_posix()
    # anything still colliding (same manifest id twice, arrays with given ids) gets a #k suffix
    counts: dict[str, int] = {}
    for it in items:
        k = counts.get(it.id, 0)
        counts[it.id] = k + 1
        if k:
            log.warning("duplicate input id %r; renamed the repeat to %r", it.id, f"{it.id}#{k + 1}")
            it.id = f"{it.id}#{k + 1}"


def _manifest_items(path: Path) -> list[InputItem]:
    rows = _read_rows(path)
    if not rows:
        return []
    cols = set().union(*(r.keys() for r in rows))
    if "audio" not in cols and "transcript" not in cols:
        raise InputError(f"manifest {path}: needs an 'audio' column (and/or 'transcript'); columns are "
                         f"{sorted(cols)}")
    items: dict[str, InputItem] = {}
    for k, r in enumerate(rows, start=1):
        audio = _text(r.get("audio"))
        rid = _text(r.get("id")) or (Path(audio).stem if audio else None)
        if rid is None:
            items[f"{path.name}:{k}"] = InputItem(id=f"{path.name}:{k}", error=f"{path.name} row {k}: no id and no "
                                                  "audio path", error_reason="bad_row")
            continue
        if rid in items:  # rater form: one row per vote; the item columns repeat
            continue
        apath = None
        if audio is not None:
            apath = Path(audio).expanduser()
            if not apath.is_absolute():
                apath = path.parent / apath
        text = _text(r.get("transcript"))
        item = InputItem(id=rid, path=apath, transcript=text, transcript_source="given" if text else None)
        if apath is None and text is None:
            item.error = f"{path.name} row {k} (item {rid!r}): neither audio nor transcript"
            item.error_reason = "no_input"
        items[rid] = item
    return list(items.values())


def _corpus_items(folder: Path) -> list[InputItem]:
    from amber2.corpora.table import CorpusTable

    table = CorpusTable.read(folder)
    out = []
    for r in table.items.itertuples(index=False):
        audio = _text(getattr(r, "audio_path", None))
        text = _text(getattr(r, "transcript", None))
        out.append(InputItem(id=str(r.id), path=Path(audio) if audio else None, transcript=text,
                             transcript_source="given" if text else None))
    return out


def _path_items(p: Path) -> list[InputItem]:
    if not p.exists():
        return [InputItem(id=p.stem or str(p), path=p, error=f"{p}: no such file or folder", error_reason="missing")]
    if p.is_dir():
        if (p / "corpus.parquet").is_file():
            return _corpus_items(p)
        manifests = [p / f"manifest{s}" for s in _TABLE_SUFFIXES if (p / f"manifest{s}").is_file()]
        if len(manifests) == 1:
            return _manifest_items(manifests[0])
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
        if not files:
            log.warning("folder %s holds no audio files (%s)", p, ", ".join(sorted(AUDIO_SUFFIXES)))
        return [InputItem(id=f.stem, path=f) for f in files]
    if p.suffix.lower() in _TABLE_SUFFIXES:
        if p.name == "corpus.parquet":
            return _corpus_items(p)
        return _manifest_items(p)
    return [InputItem(id=p.stem, path=p)]


def collect_inputs(
    inputs: Any,
    *,
    sample_rate: int | None = None,
    ids: Sequence[str] | None = None,
) -> list[InputItem]:
    """Turn paths, folders, manifests and arrays into a flat list of items.

    Args:
        inputs: A path, an array, or a list mixing them (see the module docstring).
        sample_rate: Sample rate of array inputs (required when any input is an array).
        ids: Ids for the items, in order (default: file stems, manifest ids, ``item<k>`` for arrays).

    Returns:
        The items, in input order; unreadable entries carry ``error``.

    Raises:
        InputError: An array that is not 1-D, an array without ``sample_rate``, ``ids`` of the wrong
            length, a manifest without the needed columns.
    """
    if isinstance(inputs, (str, os.PathLike, np.ndarray)) or not isinstance(inputs, Sequence):
        inputs = [inputs]
    items: list[InputItem] = []
    for k, x in enumerate(inputs):
        if isinstance(x, InputItem):
            items.append(x)
        elif isinstance(x, (str, os.PathLike)):
            items.extend(_path_items(Path(x).expanduser()))
        elif isinstance(x, np.ndarray) or (hasattr(x, "detach") and hasattr(x, "numpy")):
            a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
            if a.ndim != 1:
                raise InputError(f"input {k}: a waveform must be a 1-D array of mono samples, got shape {a.shape} "
                                 "(pass a list of 1-D arrays for several clips; average channels first)")
            if not sample_rate:
                raise InputError("array inputs need sample_rate=... (Hz)")
            items.append(InputItem(id=f"item{k}", waveform=a, sample_rate=int(sample_rate)))
        elif x is None:
            items.append(InputItem(id=f"item{k}"))  # text-only: the transcript comes from `text=`
        else:
            raise InputError(f"input {k}: expected a path, a 1-D numpy array or None, got {type(x).__name__}")
    if ids is not None:
        ids = [str(i) for i in ids]
        if len(ids) != len(items):
            raise InputError(f"{len(ids)} ids for {len(items)} inputs")
        for it, i in zip(items, ids):
            it.id = i
    _unique_ids(items)
    return items
