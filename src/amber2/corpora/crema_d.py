"""CREMA-D reader: a clone of the official repository (CheyneyComputerScience/CREMA-D).

Layout read::

    processedResults/tabulatedVotes.csv   (also accepted at the top level)
    SentenceFilenames.csv                 clip number -> file name
    VideoDemographics.csv                 actor id, age, sex, race, ethnicity
    AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav   (Git LFS: pointers until ``git lfs pull``)

``tabulatedVotes.csv`` has one row per clip and rating mode (22,326 rows = 7,442 clips x 3 modes). Its
first, unnamed column is ``mode * 100000 + clip number`` (mode 1 = voice only, 2 = face only,
3 = audio-visual); columns ``A D F H N S`` count the raters who chose anger, disgust, fear, happy,
neutral, sad. The release gives counts, not rater ids, so each count is expanded into anonymous votes
with stable ids ``<mode>-1``, ``<mode>-2``, ... (kind = the mode: ``voice``, ``face``,
``audiovisual``), in the column order A D F H N S. Which mode makes the training target is the label
policy's choice (``crema-d-voice``, ``crema-d-face``, ``crema-d-audiovisual``); every mode is kept.

Items: ``speaker`` = ``group`` = the actor id (``1001``), ``transcript`` = the sentence of the code in
the file name, metadata ``sentence``, ``acted_emotion`` (canonical name of the file name's emotion),
``level`` (LO MD HI XX), ``clip`` (clip number), ``age``, ``gender``, ``race``, ``ethnicity``, and per mode
``<mode>_responses`` (numResponses), ``<mode>_agreement``, ``<mode>_vote`` (emoVote, ties joined by
``:``) and ``<mode>_level`` (meanEmoResp). ``1001_IEO_HAP_HI``, voice mode: A 2, H 6, N 2.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from amber2.corpora.audio_files import check_item_audio
from amber2.corpora.table import CorpusBuilder, CorpusTable
from amber2.corpora.vocab import CREMA_D_EMOTIONS, CREMA_D_LETTERS, CREMA_D_SENTENCES
from amber2.utils.logging import get_logger

__all__ = [
    "KNOWN_BAD_MEDIA", "MODES", "READER_VERSION", "CremaDLayoutError", "normalise_modes", "read_crema_d",
]

log = get_logger(__name__)
READER_VERSION = "1"

#: Rating modes by the leading digit of tabulatedVotes' first column.
MODES: dict[int, str] = {1: "voice", 2: "face", 3: "audiovisual"}
#: Clips the CREMA-D README lists as bad media.
KNOWN_BAD_MEDIA: dict[str, str] = {"1076_MTI_SAD_XX": "listed as bad media by CREMA-D: no usable audio"}
_NAME = re.compile(r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{2})$")
_MODE_ALIASES = {"voice": "voice", "audio": "voice", "face": "face", "video": "face",
                 "audiovisual": "audiovisual", "audio-visual": "audiovisual", "multimodal": "audiovisual",
                 "av": "audiovisual"}


class CremaDLayoutError(FileNotFoundError):
    """The folder does not hold a CREMA-D clone (no tabulatedVotes.csv)."""


def _find(base: Path, name: str) -> Path | None:
    for d in (base, base / "processedResults", base / "data" / "InfoAndStats" / "processedResults"):
        if (d / name).is_file():
            return d / name
    return None


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise CremaDLayoutError(f"{path} is empty") from None
        return [h.strip() for h in header], [(i, r) for i, r in enumerate(reader, start=2) if r]


def _num(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def normalise_modes(modes: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Canonical mode names (``voice``, ``face``, ``audiovisual``) from user spellings.

    Raises:
        ValueError: An unknown mode name.
    """
    if modes is None:
        return tuple(MODES.values())
    if isinstance(modes, str):
        modes = [m for m in re.split(r"[,\s]+", modes) if m]
    out: list[str] = []
    for m in modes:
        key = m.strip().lower()
        if key not in _MODE_ALIASES:
            raise ValueError(f"unknown CREMA-D rating mode {m!r}; use voice, face or audiovisual")
        if _MODE_ALIASES[key] not in out:
            out.append(_MODE_ALIASES[key])
    return tuple(out)


def read_crema_d(
    root: str | os.PathLike[str],
    *,
    modes: str | list[str] | tuple[str, ...] | None = None,
    audio_dir: str = "AudioWAV",
    check_audio: bool = True,
    workers: int | None = None,
    progress: bool = False,
) -> CorpusTable:
    """Read a CREMA-D clone into a :class:`~amber2.corpora.table.CorpusTable`.

    Args:
        root: The clone (holding ``processedResults/tabulatedVotes.csv`` or ``tabulatedVotes.csv``).
        modes: Rating modes whose votes are kept (default all three: voice, face, audiovisual).
        audio_dir: Audio folder under ``root`` (``AudioWAV``; the clips are ``<name>.wav``).
        check_audio: Stat each file, recognise Git LFS pointers (issue ``lfs_pointer`` with the
            ``git lfs pull`` hint) and read wav headers for durations.
        workers: Threads for the audio check.
        progress: Show a progress bar for the audio check.

    Returns:
        The corpus table: 7,442 items and, for all three modes, 212,000 anonymous votes.

    Raises:
        CremaDLayoutError: No ``tabulatedVotes.csv``, or its header lacks the vote columns.
    """
    base = Path(root).expanduser()
    wanted = normalise_modes(modes)
    votes_path = _find(base, "tabulatedVotes.csv")
    if votes_path is None:
        raise CremaDLayoutError(
            f"no tabulatedVotes.csv under {base} (looked in ., processedResults/): point --root at a clone "
            "of https://github.com/CheyneyComputerScience/CREMA-D"
        )
    builder = CorpusBuilder("crema-d", base, "amber2.corpora.crema_d", READER_VERSION)

    # clip number -> file name
    names: dict[int, str] = {}
    sent_path = _find(base, "SentenceFilenames.csv")
    if sent_path is not None:
        header, rows = _rows(sent_path)
        lower = [h.lower() for h in header]
        try:
            inum, iname = lower.index("stimulus_number"), lower.index("filename")
        except ValueError:
            raise CremaDLayoutError(
                f"{sent_path}: expected columns Stimulus_Number, Filename, got {header}") from None
        for lineno, row in rows:
            try:
                names[int(row[inum])] = row[iname].strip()
            except (ValueError, IndexError):
                builder.issue("unparsable_line", None, f"{sent_path.name}:{lineno}: {row!r}")
    else:
        builder.issue("missing_file", None,
                      "SentenceFilenames.csv not found; clip names come from tabulatedVotes.csv")

    # demographics
    demo: dict[str, dict[str, object]] = {}
    demo_path = _find(base, "VideoDemographics.csv")
    if demo_path is not None:
        header, rows = _rows(demo_path)
        for lineno, row in rows:
            rec = dict(zip(header, (c.strip() for c in row), strict=False))
            actor = rec.get("ActorID")
            if not actor:
                builder.issue("unparsable_line", None, f"{demo_path.name}:{lineno}: {row!r}")
                continue
            age = _num(rec.get("Age", ""))
            demo[actor] = {"age": int(age) if age is not None else None, "gender": rec.get("Sex") or None,
                           "race": rec.get("Race") or None, "ethnicity": rec.get("Ethnicity") or None}
    else:
        builder.issue("missing_file", None, "VideoDemographics.csv not found; no actor demographics")

    # votes
    header, rows = _rows(votes_path)
    lower = [h.lower() for h in header]
    missing = [c for c in [*CREMA_D_LETTERS, "fileName"] if c.lower() not in lower]
    if missing:
        raise CremaDLayoutError(f"{votes_path}: columns {missing} missing from header {header}")
    col = {h: lower.index(h.lower()) for h in [*CREMA_D_LETTERS, "fileName", "numResponses", "agreement",
                                                   "emoVote", "meanEmoResp"] if h.lower() in lower}
    per_clip: dict[str, dict[str, object]] = {}
    vote_rows: dict[str, list[tuple[str, dict[str, int]]]] = {}
    clip_of: dict[str, int] = {}
    for lineno, row in rows:
        where = f"{votes_path.name}:{lineno}"
        try:
            code = int(float(row[0]))
            mode = MODES[code // 100000]
            clip = code % 100000
            name = row[col["fileName"]].strip()
            counts = {letter: int(float(row[col[letter]])) for letter in CREMA_D_LETTERS}
        except (ValueError, KeyError, IndexError):
            builder.issue("unparsable_line", None, f"{where}: {row[:9]!r}")
            continue
        if any(c < 0 for c in counts.values()):
            builder.issue("bad_vote_count", name, f"{where}: negative count {counts}; row skipped")
            continue
        if names and names.get(clip) not in (None, name):
            builder.issue("clip_name_mismatch", name,
                          f"{where}: clip {clip} is {names[clip]!r} in SentenceFilenames.csv; fileName kept")
        clip_of.setdefault(name, clip)
        meta = per_clip.setdefault(name, {})
        n_resp = _num(row[col["numResponses"]]) if "numResponses" in col else None
        if n_resp is not None and int(n_resp) != sum(counts.values()):
            builder.issue("vote_count_mismatch", name,
                          f"{where}: {mode} counts sum to {sum(counts.values())}, not {int(n_resp)}")
        meta[f"{mode}_responses"] = int(n_resp) if n_resp is not None else sum(counts.values())
        meta[f"{mode}_agreement"] = _num(row[col["agreement"]]) if "agreement" in col else None
        meta[f"{mode}_vote"] = (row[col["emoVote"]].strip() or None) if "emoVote" in col else None
        meta[f"{mode}_level"] = _num(row[col["meanEmoResp"]]) if "meanEmoResp" in col else None
        rows_of = vote_rows.setdefault(name, [])
        if any(m == mode for m, _ in rows_of):
            builder.issue("duplicate_rater", name, f"{where}: second {mode} row for the clip ignored")
            continue
        rows_of.append((mode, counts))

    # items: every clip of SentenceFilenames (in clip order), then clips only tabulatedVotes knows
    order = [names[k] for k in sorted(names)]
    known = set(order)
    order += sorted((n for n in vote_rows if n not in known), key=lambda n: clip_of.get(n, 0))
    audio_root = base / audio_dir
    if check_audio and not audio_root.is_dir():
        log.warning("CREMA-D: no %s/ folder under %s: every clip will be reported missing", audio_dir, base)
    ids: list[str] = []
    paths: list[Path] = []
    for name in order:
        m = _NAME.match(name)
        meta: dict[str, object] = {}
        if m is None:
            builder.issue("unexpected_id", name,
                          "file name does not follow <actor>_<sentence>_<emotion>_<level>")
            actor = sentence = None
        else:
            actor, sentence = m.group("actor"), m.group("sentence")
            emo = CREMA_D_EMOTIONS.get(m.group("emotion"))
            if emo is None:
                builder.issue("unknown_label", name, f"emotion code {m.group('emotion')!r} of the file name")
            meta.update(sentence=sentence, acted_emotion=emo or m.group("emotion").lower(),
                        level=m.group("level"))
        text = CREMA_D_SENTENCES.get(sentence) if sentence else None
        if text is None:
            builder.issue("no_transcript", name, f"unknown sentence code {sentence!r}")
        info = demo.get(actor or "")
        if actor is not None and demo and info is None:
            builder.issue("no_demographics", name, f"actor {actor} is not in VideoDemographics.csv")
        meta.update(info or {"age": None, "gender": None, "race": None, "ethnicity": None})
        meta["clip"] = clip_of.get(name)
        for mode in MODES.values():
            for key in ("responses", "agreement", "vote", "level"):
                meta[f"{mode}_{key}"] = per_clip.get(name, {}).get(f"{mode}_{key}")
        path = audio_root / f"{name}.wav"
        if not builder.add_item(name, speaker=actor, group=actor, audio_path=os.fspath(path),
                                transcript=text, **meta):
            continue
        ids.append(name)
        paths.append(path)
        if name in KNOWN_BAD_MEDIA:
            builder.issue("known_bad_media", name, KNOWN_BAD_MEDIA[name])
        if name not in vote_rows:
            builder.issue("no_votes", name, f"no row in {votes_path.name}")
        for mode, counts in vote_rows.get(name, []):
            if mode not in wanted:
                continue
            k = 0
            for letter, label in CREMA_D_LETTERS.items():
                for _ in range(counts[letter]):
                    k += 1
                    builder.add_vote(name, rater=f"{mode}-{k}", kind=mode, labels=[label])
    check_item_audio(builder, ids, paths, check=check_audio, workers=workers, progress=progress)
    table = builder.build(modes=list(wanted))
    log.info("CREMA-D: %d clips, %d votes (%s)", len(table), len(table.votes), ", ".join(wanted))
    return table
