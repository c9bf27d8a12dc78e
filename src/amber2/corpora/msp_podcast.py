"""MSP-Podcast reader: every worker's vote from the release's label files, as released.

Layout read (v1.6 to v2.0)::

    Audios/MSP-PODCAST_0001_0008.wav
    Transcripts/MSP-PODCAST_0001_0008.txt          (not every turn has one)
    Labels/labels_consensus.csv                    (releases up to 1.9: labels_concensus.csv)
    Labels/labels_detailed.csv                     (one row per worker per file; three formats)
    Labels/labels.txt                              (raw: a summary line, then one line per worker)
    Partitions.txt or Partition.txt, Speaker_ids.txt   (optional; used when the consensus file lacks them)

``labels_detailed.csv`` formats, detected from the header:

* v1.6 ``FileName, Workers, EmoClass_Major, EmoClass_Second, EmoAct, EmoVal, EmoDom``
* v1.7 to v1.12 ``FileName,EmoDetail`` with ``EmoDetail`` =
  ``WORKER<8 digits>; <Primary>; <Secondary, comma separated, may be absent>; A:<f>; V:<f>; D:<f>;``
* v2.0 ``FileName, WorkerID, EmoClass_Major, EmoClass_Second, EmoAct, EmoVal, EmoDom``

Each worker gives one vote row (kind ``external``): ``labels`` = [primary], ``secondary`` = the secondary
list, ``note`` = the free text of ``Other-<text>`` (``Other-confused`` -> label ``other``, note
``confused``), ``arousal``/``valence``/``dominance`` = A/V/D. ``Dissapointed`` -> ``disappointed``. A worker
listed twice for one file keeps its first row (``duplicate_rater`` issue). Primary-only versus
all-inclusive (primary + secondary) targets are label policies, not reader options.

Items: ``speaker`` = ``SpkrID`` (None when ``Unknown``), ``group`` = the podcast number of the file name
(``0001``), metadata ``consensus`` (EmoClass letter: A S H U F D C N O X), ``arousal_mean``,
``valence_mean``, ``dominance_mean``, ``gender``, ``split`` (Train, Development (older releases'
Validation), Test1, Test2, Test3).
"""

from __future__ import annotations

import csv
import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from amber2.corpora.audio_files import check_item_audio
from amber2.corpora.table import CorpusBuilder, CorpusTable
from amber2.corpora.vocab import MSP_LETTERS, MSP_WORDS, canonical_label, split_other
from amber2.utils.logging import get_logger

__all__ = ["READER_VERSION", "MspLayoutError", "MspPodcastFiles", "find_msp_files", "read_msp_podcast"]

log = get_logger(__name__)
READER_VERSION = "1"

_FILE_ID = re.compile(r"^MSP-PODCAST_(?P<podcast>\d+)_\d+")
_DIM = re.compile(r"^(?P<k>[AVD])\s*:\s*(?P<v>[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*$")
_SPLITS = {"train": "Train", "development": "Development", "validation": "Development",
           "test1": "Test1", "test2": "Test2", "test3": "Test3", "test": "Test"}
_MEANS = {"A": "arousal_mean", "V": "valence_mean", "D": "dominance_mean"}


class MspLayoutError(FileNotFoundError):
    """The folder does not hold an MSP-Podcast release (no label file found)."""


@dataclass
class MspPodcastFiles:
    """The files of an MSP-Podcast release that were found (None = absent)."""

    root: Path
    consensus: Path | None = None
    detailed: Path | None = None
    raw: Path | None = None
    partitions: Path | None = None
    speakers: Path | None = None
    audio_dir: Path | None = None
    transcripts_dir: Path | None = None


def _first(*cands: Path) -> Path | None:
    for c in cands:
        if c.is_file():
            return c
    return None


def find_msp_files(root: str | os.PathLike[str]) -> MspPodcastFiles:
    """Locate the label, partition, audio and transcript files of a release under ``root``.

    Raises:
        MspLayoutError: No ``labels_consensus.csv``/``labels_concensus.csv``, ``labels_detailed.csv``
            or ``labels.txt`` in ``root/Labels`` or ``root``.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise MspLayoutError(f"{base} is not a folder")
    dirs = [base / "Labels", base]
    files = MspPodcastFiles(
        root=base,
        consensus=_first(*[d / n for d in dirs for n in ("labels_consensus.csv", "labels_concensus.csv")]),
        detailed=_first(*[d / "labels_detailed.csv" for d in dirs]),
        raw=_first(*[d / "labels.txt" for d in dirs]),
        partitions=_first(*[d / n for d in dirs for n in ("Partitions.txt", "Partition.txt")]),
        speakers=_first(*[d / "Speaker_ids.txt" for d in dirs]),
    )
    for name in ("Audios", "Audio"):
        if (base / name).is_dir():
            files.audio_dir = base / name
            break
    if (base / "Transcripts").is_dir():
        files.transcripts_dir = base / "Transcripts"
    if files.consensus is None and files.detailed is None and files.raw is None:
        raise MspLayoutError(
            f"no MSP-Podcast label file under {base}: expected Labels/labels_consensus.csv "
            "(or labels_concensus.csv), Labels/labels_detailed.csv or Labels/labels.txt"
        )
    return files


class _Vote(NamedTuple):
    worker: str
    labels: tuple[str, ...]
    secondary: tuple[str, ...]
    note: str | None
    arousal: float | None
    valence: float | None
    dominance: float | None


@dataclass
class _Votes:
    """Votes per file, first occurrence of each worker kept."""

    by_file: dict[str, list[_Vote]] = field(default_factory=dict)
    workers: dict[str, set[str]] = field(default_factory=dict)
    summary: dict[str, dict[str, object]] = field(default_factory=dict)  # from labels.txt


def _stem(name: str) -> str:
    name = name.strip()
    return name[:-4] if name.lower().endswith(".wav") else name


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    text = str(text).strip()
    if not text or text.lower() in ("nan", "na", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        return None


_Mapped = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]


@functools.lru_cache(maxsize=1 << 16)
def _map_labels(text: str, secondary: bool) -> _Mapped:
    """Map a primary label, or a comma separated secondary list, to canonical names.

    Cached: a release repeats a few hundred distinct strings over a million rows.

    Returns:
        ``(labels, free texts of Other, unknown words as (word, name))``; secondary labels are
        de-duplicated in order.
    """
    labels: list[str] = []
    notes: list[str] = []
    unknown: list[tuple[str, str]] = []
    last_other = False
    for tok in text.split(",") if secondary else [text]:
        word = tok.strip()
        if not word:
            continue
        is_other, free = split_other(word)
        if is_other:
            labels.append("other")
            if free:
                notes.append(free)
            last_other = True
            continue
        name, known = _word(word)
        if not known and last_other and notes:
            notes[-1] = f"{notes[-1]}, {word}"  # free text of Other- that held a comma
            continue
        if not known:
            unknown.append((word, name))
        labels.append(name)
        last_other = False
    if secondary:
        labels = list(dict.fromkeys(labels))
    return tuple(labels), tuple(notes), tuple(unknown)


def _word(word: str) -> tuple[str, bool]:
    if len(word) == 1 and word.upper() in MSP_LETTERS and MSP_LETTERS[word.upper()]:
        return str(MSP_LETTERS[word.upper()]), True
    return canonical_label(word, MSP_WORDS)


def _make_vote(worker: str, primary: str, secondary: str | None, a: float | None, v: float | None,
               d: float | None, builder: CorpusBuilder, fid: str, where: str) -> _Vote:
    """One worker's vote; unknown or empty labels are recorded as issues of ``fid``."""
    primary = primary.strip()
    labels: tuple[str, ...] = ()
    notes: list[str] = []
    if primary:
        labels, p_notes, unknown = _map_labels(primary, False)
        notes = list(p_notes)
        for word, name in unknown:
            builder.issue("unknown_label", fid, f"{where}: primary label {word!r} kept as {name!r}")
    else:
        builder.issue("empty_label", fid, f"{where}: no primary label")
    sec: tuple[str, ...] = ()
    if secondary:
        sec, s_notes, unknown = _map_labels(secondary, True)
        for word, name in unknown:
            builder.issue("unknown_label", fid, f"{where}: secondary label {word!r} kept as {name!r}")
        notes += [f"secondary: {n}" for n in s_notes]
    return _Vote(worker.strip(), labels, sec, " | ".join(notes) if notes else None, a, v, d)


def _dim(field: str) -> tuple[str, float] | None:
    """``A:3.000000`` -> ("A", 3.0); None when the field is not a dimensional rating."""
    if len(field) > 2 and field[1] == ":" and field[0] in "AVD":
        try:
            return field[0], float(field[2:])
        except ValueError:
            pass
    m = _DIM.match(field)
    return (m.group("k"), float(m.group("v"))) if m else None


def _parse_detail(text: str) -> tuple[str, str, str | None, dict[str, float]]:
    """Parse ``WORKER; Primary; Secondary; A:x; V:y; D:z;`` (the secondary field may be absent).

    Raises:
        ValueError: The string does not follow the grammar.
    """
    parts = [p.strip() for p in text.split(";")]
    while parts and not parts[-1]:
        parts.pop()
    if len(parts) < 2:
        raise ValueError("fewer than two fields")
    worker, primary = parts[0], parts[1]
    if not worker:
        raise ValueError("no worker id")
    secondary: str | None = None
    dims: dict[str, float] = {}
    for p in parts[2:]:
        kv = _dim(p)
        if kv is not None:
            dims[kv[0]] = kv[1]
        elif not p:
            continue
        elif secondary is None and not dims:
            secondary = p
        else:
            raise ValueError(f"unexpected field {p!r}")
    return worker, primary, secondary, dims


def _add(votes: _Votes, file_id: str, vote: _Vote, builder: CorpusBuilder, where: str) -> None:
    seen = votes.workers.setdefault(file_id, set())
    if vote.worker in seen:
        builder.issue("duplicate_rater", file_id, f"{where}: worker {vote.worker} again; first row kept")
        return
    seen.add(vote.worker)
    votes.by_file.setdefault(file_id, []).append(vote)


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh, skipinitialspace=True)
        yield from enumerate(reader, start=1)


def _read_detailed(path: Path, builder: CorpusBuilder, votes: _Votes) -> str:
    """Read ``labels_detailed.csv`` (any of the three formats); return the format name."""
    rows = _csv_rows(path)
    try:
        _, header = next(rows)
    except StopIteration:
        raise MspLayoutError(f"{path} is empty") from None
    cols = [h.strip().lower() for h in header]
    name = path.name
    if cols[:2] == ["filename", "emodetail"]:
        fmt = "v1.7-1.12"
    elif "emoclass_major" in cols and cols[0] == "filename":
        fmt = "v2.0" if "workerid" in cols else "v1.6"
    else:
        raise MspLayoutError(
            f"{path}: unknown labels_detailed.csv header {header}; expected 'FileName,EmoDetail' (v1.7-1.12) "
            "or 'FileName, Workers|WorkerID, EmoClass_Major, EmoClass_Second, EmoAct, EmoVal, EmoDom'"
        )
    idx = {c: i for i, c in enumerate(cols)}

    for lineno, row in rows:
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{name}:{lineno}"
        fid = _stem(row[0]) if row[0].strip() else None
        if fid is None:
            builder.issue("unparsable_line", None, f"{where}: no file name: {row!r}")
            continue
        if fmt == "v1.7-1.12":
            if len(row) < 2:
                builder.issue("unparsable_line", fid, f"{where}: no EmoDetail field: {row!r}")
                continue
            detail = ",".join(row[1:])  # an unquoted field holding commas was split by the csv reader
            try:
                worker, primary, secondary, dims = _parse_detail(detail)
            except ValueError as exc:
                builder.issue("unparsable_line", fid, f"{where}: {exc}: {detail!r}")
                continue
            vote = _make_vote(worker, primary, secondary, dims.get("A"), dims.get("V"), dims.get("D"),
                              builder, fid, where)
        else:
            wcol = idx.get("workerid", idx.get("workers"))
            if wcol is None or len(row) < len(cols):
                builder.issue("unparsable_line", fid, f"{where}: {len(row)} fields, not {len(cols)}: {row!r}")
                continue

            def get(col: str, row: list[str] = row) -> str | None:
                i = idx.get(col)
                return row[i] if i is not None and i < len(row) else None

            vote = _make_vote(row[wcol], get("emoclass_major") or "", get("emoclass_second"),
                              _float(get("emoact")), _float(get("emoval")), _float(get("emodom")),
                              builder, fid, where)
            if not vote.worker:
                builder.issue("unparsable_line", fid, f"{where}: no worker id: {row!r}")
                continue
        _add(votes, fid, vote, builder, where)
    return fmt


def _read_raw(path: Path, builder: CorpusBuilder, votes: _Votes, *, summary_only: bool = False) -> None:
    """Read ``labels.txt``: ``<file>.wav; <letter>; A:..; V:..; D:..;`` then one line per worker.

    With ``summary_only`` only the file lines are read (consensus letter and means).
    """
    current: str | None = None
    name = path.name
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            where = f"{name}:{lineno}"
            head = line.split(";", 1)[0].strip()
            if head.lower().endswith(".wav"):
                current = _stem(head)
                fields = [p.strip() for p in line.split(";")[1:] if p.strip()]
                summary: dict[str, object] = {"consensus": fields[0] if fields else None}
                for f in fields[1:]:
                    kv = _dim(f)
                    if kv is not None:
                        summary[_MEANS[kv[0]]] = kv[1]
                votes.summary[current] = summary
                if not summary_only:
                    votes.by_file.setdefault(current, [])
                continue
            if summary_only:
                continue
            if current is None:
                builder.issue("unparsable_line", None, f"{where}: worker line before any file line: {line!r}")
                continue
            try:
                worker, primary, secondary, dims = _parse_detail(line)
            except ValueError as exc:
                builder.issue("unparsable_line", current, f"{where}: {exc}: {line!r}")
                continue
            vote = _make_vote(worker, primary, secondary, dims.get("A"), dims.get("V"), dims.get("D"),
                              builder, current, where)
            _add(votes, current, vote, builder, where)


def _read_consensus(path: Path, builder: CorpusBuilder) -> dict[str, dict[str, object]]:
    rows = _csv_rows(path)
    try:
        _, header = next(rows)
    except StopIteration:
        raise MspLayoutError(f"{path} is empty") from None
    cols = [h.strip() for h in header]
    if "FileName" not in cols:
        raise MspLayoutError(f"{path}: no FileName column in header {header}")
    out: dict[str, dict[str, object]] = {}
    for lineno, row in rows:
        if not row or all(not c.strip() for c in row):
            continue
        rec = dict(zip(cols, (c.strip() for c in row), strict=False))
        fid = _stem(rec.get("FileName", ""))
        where = f"{path.name}:{lineno}"
        if not fid:
            builder.issue("unparsable_line", None, f"{where}: no file name: {row!r}")
            continue
        if fid in out:
            builder.issue("duplicate_id", fid, f"{where}: file listed twice in {path.name}; first row kept")
            continue
        letter = rec.get("EmoClass") or None
        if letter is not None and letter.upper() not in MSP_LETTERS:
            builder.issue("unknown_consensus_code", fid, f"{where}: EmoClass {letter!r} kept as is")
        split = rec.get("Split_Set") or None
        if split is not None:
            split = _SPLITS.get(split.lower(), split)
        out[fid] = {
            "consensus": letter, "arousal_mean": _float(rec.get("EmoAct")),
            "valence_mean": _float(rec.get("EmoVal")), "dominance_mean": _float(rec.get("EmoDom")),
            "speaker": _speaker(rec.get("SpkrID")), "gender": (rec.get("Gender") or None), "split": split,
        }
    return out


def _speaker(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if not text or text.lower() in ("unknown", "nan", "none", "-1"):
        return None
    return str(int(text)) if text.isdigit() else text


def _read_partitions(path: Path, builder: CorpusBuilder) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            parts = [p.strip() for p in line.split(";")]
            if len(parts) != 2 or not parts[1]:
                builder.issue("unparsable_line", None, f"{path.name}:{lineno}: {line!r}")
                continue
            out[_stem(parts[1])] = _SPLITS.get(parts[0].lower(), parts[0])
    return out


def _read_speaker_ids(path: Path, builder: CorpusBuilder) -> tuple[dict[str, str | None], dict[str, str]]:
    """``<file>.wav; <speaker>`` lines and ``Speaker_<id>; <gender>`` lines."""
    spk: dict[str, str | None] = {}
    gender: dict[str, str] = {}
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            parts = [p.strip() for p in line.split(";")]
            if len(parts) != 2:
                builder.issue("unparsable_line", None, f"{path.name}:{lineno}: {line!r}")
                continue
            if parts[0].lower().endswith(".wav"):
                spk[_stem(parts[0])] = _speaker(parts[1])
            elif parts[0].lower().startswith("speaker_"):
                sid = _speaker(parts[0].split("_", 1)[1])
                if sid is not None:
                    gender[sid] = parts[1]
    return spk, gender


def read_msp_podcast(
    root: str | os.PathLike[str],
    *,
    votes: str = "auto",
    check_audio: bool = True,
    read_transcripts: bool = True,
    workers: int | None = None,
    progress: bool = False,
) -> CorpusTable:
    """Read an MSP-Podcast release into a :class:`~amber2.corpora.table.CorpusTable`.

    Args:
        root: The release folder (holding ``Labels/``, ``Audios/``, ``Transcripts/``).
        votes: Where the votes come from: ``detailed`` (``labels_detailed.csv``), ``raw``
            (``labels.txt``) or ``auto`` (detailed when present, else raw).
        check_audio: Stat each wav and read its header (duration); False skips it (200k files).
        read_transcripts: Read ``Transcripts/<id>.txt``.
        workers: Threads for the audio check.
        progress: Show a progress bar for the audio check.

    Returns:
        The corpus table. Items are the files of the consensus file (in its order), then files that
        only the vote file lists (``no_consensus_row`` issue).

    Raises:
        MspLayoutError: No label file, or the requested vote file is absent, or a header is unknown.
        ValueError: ``votes`` is not one of the values above.
    """
    if votes not in ("auto", "detailed", "raw"):
        raise ValueError(f"votes must be 'auto', 'detailed' or 'raw', not {votes!r}")
    files = find_msp_files(root)
    builder = CorpusBuilder("msp-podcast", files.root, "amber2.corpora.msp_podcast", READER_VERSION)
    source = votes
    if votes == "auto":
        source = "detailed" if files.detailed is not None else "raw"
    vote_path = files.detailed if source == "detailed" else files.raw
    if vote_path is None:
        want = "labels_detailed.csv" if source == "detailed" else "labels.txt"
        raise MspLayoutError(f"no {want} under {files.root} or {files.root}/Labels: the votes come from it")
    collected = _Votes()
    fmt = _read_detailed(vote_path, builder, collected) if source == "detailed" else "raw"
    if source == "raw":
        _read_raw(vote_path, builder, collected)
    elif files.consensus is None and files.raw is not None:
        # without a consensus CSV, labels.txt's summary lines give the consensus letter and means
        _read_raw(files.raw, builder, collected, summary_only=True)
    consensus = _read_consensus(files.consensus, builder) if files.consensus is not None else {}
    partitions = _read_partitions(files.partitions, builder) if files.partitions is not None else {}
    spk_ids: dict[str, str | None] = {}
    spk_gender: dict[str, str] = {}
    if files.speakers is not None:
        spk_ids, spk_gender = _read_speaker_ids(files.speakers, builder)

    order = list(consensus)
    in_consensus = set(order)
    for fid in collected.by_file:
        if fid not in in_consensus:
            order.append(fid)
            if consensus:
                builder.issue("no_consensus_row", fid, f"{vote_path.name} has votes for a file that "
                              f"{files.consensus.name if files.consensus else 'the consensus file'} lacks")

    transcripts: dict[str, Path] = {}
    if read_transcripts and files.transcripts_dir is not None:
        with os.scandir(files.transcripts_dir) as it:
            for entry in it:
                if entry.name.endswith(".txt") and not entry.name.startswith("."):
                    transcripts[entry.name[:-4]] = Path(entry.path)
    audio_dir = files.audio_dir if files.audio_dir is not None else files.root / "Audios"

    ids: list[str] = []
    paths: list[str] = []
    audio_prefix = os.path.join(os.fspath(audio_dir), "")
    for fid in order:
        meta = dict(consensus.get(fid) or collected.summary.get(fid) or {})
        speaker = meta.pop("speaker", None)
        if speaker is None and fid in spk_ids:
            speaker = spk_ids[fid]
        if not meta.get("gender") and speaker is not None and speaker in spk_gender:
            meta["gender"] = spk_gender[speaker]
        split = meta.get("split")
        if fid in partitions:
            if split is None:
                meta["split"] = partitions[fid]
            elif partitions[fid] != split:
                builder.issue("split_mismatch", fid, f"consensus file says {split}, "
                              f"{files.partitions.name if files.partitions else ''} says {partitions[fid]}; "
                              "the consensus file is kept")
        m = _FILE_ID.match(fid)
        if m is None:
            builder.issue("unexpected_id", fid, "file name does not follow MSP-PODCAST_<podcast>_<turn>")
        transcript = None
        if fid in transcripts:
            try:
                transcript = transcripts[fid].read_text(encoding="utf-8", errors="replace").strip() or None
            except OSError as exc:
                builder.issue("unreadable_file", fid, f"{transcripts[fid]}: {exc}")
        if transcript is None and read_transcripts:
            builder.issue("no_transcript", fid, "no (or an empty) Transcripts/<id>.txt")
        path = f"{audio_prefix}{fid}.wav"
        builder.add_item(
            fid, speaker=speaker, group=m.group("podcast") if m else None, audio_path=path,
            transcript=transcript,
            consensus=meta.get("consensus"), arousal_mean=meta.get("arousal_mean"),
            valence_mean=meta.get("valence_mean"), dominance_mean=meta.get("dominance_mean"),
            gender=meta.get("gender"), split=meta.get("split"),
        )
        ids.append(fid)
        paths.append(path)
        file_votes = collected.by_file.get(fid, [])
        if not file_votes:
            builder.issue("no_votes", fid, f"no worker rows in {vote_path.name}")
        for v in file_votes:
            builder.add_vote(fid, rater=v.worker, kind="external", labels=v.labels, secondary=v.secondary,
                             note=v.note, valence=v.valence, arousal=v.arousal, dominance=v.dominance)
    check_item_audio(builder, ids, paths, check=check_audio, workers=workers, progress=progress)
    table = builder.build(votes_source=os.fspath(vote_path.relative_to(files.root)), detailed_format=fmt)
    log.info("MSP-Podcast: %d files, %d worker votes (%s, %s)",
             len(table), len(table.votes), vote_path.name, fmt)
    return table
