r"""IEMOCAP reader: ``IEMOCAP_full_release/`` exactly as released, every rater line kept.

Layout read::

    SessionN/dialog/EmoEvaluation/<dialog>.txt        (sub-folders and ``._*`` files are skipped)
    SessionN/dialog/transcriptions/<dialog>.txt
    SessionN/sentences/wav/<dialog>/<utterance>.wav

EmoEvaluation blocks (fields separated by TAB)::

    [6.2901 - 8.2357]   Ses01F_impro01_F000   neu   [2.5000, 2.5000, 2.5000]
    C-E2:   Neutral;    ()
    C-F1:   Neutral;    (curious)
    A-E3:   val 3; act 2; dom  2;   ()

Each rater becomes one vote row: ``C-E<k>`` and ``A-E<k>`` of the same ``E<k>`` merge into one row
(kind ``external``), ``C-F<k>``/``C-M<k>`` (+ ``A-F``/``A-M``) are the actors' self-ratings (kind
``self``). A rater with only an ``A-`` line gets a row with empty labels and its dimensional ratings;
a ``C-`` line with an empty payload (``C-F2:\t;\t()``) gives an empty label list. The free text in
parentheses is the vote's ``note``. Labels are mapped to canonical names (``Happiness`` -> ``happy``,
``Anger`` -> ``angry``, ``Frustration`` -> ``frustrated``, ...).

Items: ``speaker`` = session + gender letter of the last id token (``Ses01M``), ``group`` = session
(``Ses01``), metadata ``session``, ``dialog``, ``gender`` (``Female``/``Male``), ``scripted``,
``consensus`` (the turn line's code: neu hap exc ang sad fru sur fea dis oth xxx), the external
raters' mean ``valence_mean``/``arousal_mean``/``dominance_mean``, ``start``/``end`` (seconds) and
``eval_file``. ``duration`` is read from the wav header when audio is checked, else ``end - start``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from amber2.corpora.audio_files import check_item_audio
from amber2.corpora.table import CorpusBuilder, CorpusTable
from amber2.corpora.vocab import IEMOCAP_CODES, IEMOCAP_WORDS, canonical_label
from amber2.utils.logging import get_logger

__all__ = ["READER_VERSION", "IemocapLayoutError", "find_iemocap_root", "read_iemocap"]

log = get_logger(__name__)
READER_VERSION = "1"

_SESSION_DIR = re.compile(r"^Session(\d+)$")
_TURN = re.compile(
    r"^\[\s*(?P<start>[-\d.]+)\s*-\s*(?P<end>[-\d.]+)\s*\]\s+(?P<id>\S+)\s+(?P<code>\S+)"
    r"\s+\[(?P<vad>[^\]]*)\]\s*$"
)
_RATER = re.compile(r"^(?P<form>[CA])-(?P<who>[A-Za-z]+)(?P<num>\d*)\s*:\s*(?P<rest>.*)$")
_NOTE = re.compile(r"^(?P<payload>.*?)\s*\((?P<note>.*)\)\s*$", re.DOTALL)
_DIM = re.compile(r"\b(val|act|dom)\s*[:=]?\s*([-+]?\d+(?:\.\d*)?)", re.IGNORECASE)
_UTT = re.compile(r"^Ses(?P<session>\d+)(?P<spk>[FM])_(?P<rest>.+)_(?P<gender>[FM])[A-Za-z0-9]*$")
_TRANSCRIPT = re.compile(r"^(?P<id>Ses\S+)\s+\[[^\]]*\]\s*:\s?(?P<text>.*)$")
_SELF = {"F": "self", "M": "self", "E": "external"}


class IemocapLayoutError(FileNotFoundError):
    """The folder does not hold the IEMOCAP release layout."""


@dataclass
class _Rater:
    kind: str
    labels: list[str] = field(default_factory=list)
    c_note: str | None = None
    a_note: str | None = None
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    has_c: bool = False
    has_a: bool = False

    @property
    def note(self) -> str | None:
        parts = [self.c_note] if self.c_note else []
        if self.a_note:
            parts.append(f"dim: {self.a_note}")
        return " | ".join(parts) or None


def find_iemocap_root(root: str | os.PathLike[str]) -> Path:
    """Return the folder holding ``Session1`` ... (``root`` itself or ``root/IEMOCAP_full_release``).

    Raises:
        IemocapLayoutError: Neither holds a ``SessionN`` folder.
    """
    base = Path(root).expanduser()
    for cand in (base, base / "IEMOCAP_full_release"):
        if cand.is_dir() and any(_SESSION_DIR.match(p.name) and p.is_dir() for p in cand.iterdir()):
            return cand
    raise IemocapLayoutError(
        f"{base} does not look like IEMOCAP_full_release/: no Session1..Session5 folder found there "
        "(expected SessionN/dialog/EmoEvaluation/*.txt)"
    )


def _note(text: str) -> tuple[str, str | None]:
    """Split ``payload (note)`` into the payload and the note (None when empty or absent)."""
    parts = text.split("\t")
    if len(parts) >= 2 and parts[-1].strip().startswith("("):
        payload = "\t".join(parts[:-1])
        raw = parts[-1].strip()
        note = raw[1:-1] if raw.endswith(")") else raw[1:]
    else:
        m = _NOTE.match(text)
        if m:
            payload, note = m.group("payload"), m.group("note")
        else:
            payload, note = text, None
    note = note.strip() if note is not None else None
    return payload.strip(), (note or None)


def _parse_eval_file(path: Path, session_dir: Path, builder: CorpusBuilder, root: Path,
                     items: list[dict]) -> None:
    """Parse one EmoEvaluation file, adding its items and votes to ``builder``.

    A file is a sequence of blocks separated by blank lines: a turn line ``[start - end] id code
    [v, a, d]`` followed by one categorical (``C-``) and one dimensional (``A-``) line per rater.
    """
    rel = os.fspath(path.relative_to(root))
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        builder.issue("unreadable_file", None, f"{rel}: {exc}")
        return
    parser = _EvalFileParser(builder, rel, session_dir, items)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        parser.line(lineno, raw.strip())
    parser.end_block()


class _EvalFileParser:
    """The state of one EmoEvaluation file: the turn being read and the votes of its raters so far."""

    def __init__(self, builder: CorpusBuilder, rel: str, session_dir: Path, items: list[dict]):
        self.builder = builder
        self.rel = rel
        self.session_dir = session_dir
        self.items = items
        self.current: str | None = None  # the id of the turn whose rater lines follow
        self.skipping = False  # inside the block of a bad turn line or a duplicate id (already recorded)
        self.raters: dict[str, _Rater] = {}

    def line(self, lineno: int, line: str) -> None:
        """Read one stripped line."""
        if not line:
            self.end_block()
        elif line.startswith("%"):
            return
        elif line.startswith("["):
            self.end_block()
            self.turn_line(lineno, line)
        elif not self.skipping:
            self.rater_line(f"{self.rel}:{lineno}", line)

    def end_block(self) -> None:
        """Add the votes of the current turn to the builder and start afresh."""
        if self.current is not None:
            for rid, r in self.raters.items():
                self.builder.add_vote(self.current, rater=rid, kind=r.kind, labels=r.labels, note=r.note,
                                      valence=r.valence, arousal=r.arousal, dominance=r.dominance)
        self.current = None
        self.raters.clear()
        self.skipping = False

    def turn_line(self, lineno: int, line: str) -> None:
        """``[start - end] id code [v, a, d]``: a new item (or a skipped block, recorded as an issue)."""
        builder, rel = self.builder, self.rel
        m = _TURN.match(line.replace("\t", " "))
        if not m:
            builder.issue("unparsable_line", None, f"{rel}:{lineno}: turn line not understood: {line!r}")
            self.skipping = True
            return
        item_id = m.group("id")
        if item_id in builder:
            builder.issue("duplicate_id", item_id,
                          f"{rel}:{lineno}: the id occurs again; the first block was kept, this one skipped")
            self.skipping = True
            return
        vad = [v.strip() for v in m.group("vad").split(",")]
        vals = [_float(v) for v in vad] if len(vad) == 3 else [None, None, None]
        start, end = _float(m.group("start")), _float(m.group("end"))
        duration = end - start if start is not None and end is not None else None
        code = m.group("code").lower()
        if code not in IEMOCAP_CODES:
            builder.issue("unknown_consensus_code", item_id, f"{rel}:{lineno}: code {code!r} kept as is")
        speaker, group, session, gender = _speaker_of(item_id)
        if session is None:
            builder.issue("unexpected_id", item_id, f"{rel}:{lineno}: id does not follow SesNNX_..._XNNN")
        dialog = item_id.rsplit("_", 1)[0]
        builder.add_item(
            item_id, speaker=speaker, group=group, duration=duration,
            session=session, dialog=dialog, gender=gender, scripted="_script" in item_id,
            consensus=code, valence_mean=vals[0], arousal_mean=vals[1], dominance_mean=vals[2],
            start=start, end=end, eval_file=rel,
        )
        self.current = item_id
        self.items.append({"id": item_id, "session_dir": self.session_dir, "dialog": dialog, "duration": duration})

    def rater_line(self, where: str, line: str) -> None:
        """``C-E1: Word; Word; (note)`` or ``A-E1: [val 3; act 2; dom 4;] (note)``: one rater's vote."""
        builder, current = self.builder, self.current
        m = _RATER.match(line)
        if not m:
            builder.issue("unparsable_line", current, f"{where}: {line!r}")
            return
        if current is None:
            builder.issue("unparsable_line", None, f"{where}: rater line outside a turn block: {line!r}")
            return
        who = m.group("who").upper()
        rid = f"{who}{m.group('num')}"
        kind = _SELF.get(who) if len(who) == 1 else None
        if kind is None:
            tag = line.split(":")[0]
            builder.issue("unknown_rater", current, f"{where}: rater tag {tag!r} kept as external")
            kind = "external"
        payload, note = _note(m.group("rest"))
        r = self.raters.get(rid)
        if r is None:
            r = self.raters[rid] = _Rater(kind)
        if m.group("form") == "C":
            self._categorical(r, rid, payload, note, where)
        else:
            self._dimensional(r, rid, payload, note, where, line)

    def _categorical(self, r: _Rater, rid: str, payload: str, note: str | None, where: str) -> None:
        if r.has_c:
            self.builder.issue("duplicate_rater", self.current, f"{where}: 2nd categorical line of {rid} ignored")
            return
        r.has_c = True
        for word in payload.split(";"):
            if not word.strip():
                continue
            name, known = canonical_label(word, IEMOCAP_WORDS)
            if not known:
                self.builder.issue("unknown_label", self.current, f"{where}: {word.strip()!r} kept as {name!r}")
            r.labels.append(name)
        r.c_note = note

    def _dimensional(self, r: _Rater, rid: str, payload: str, note: str | None, where: str, line: str) -> None:
        builder, current = self.builder, self.current
        if r.has_a:
            builder.issue("duplicate_rater", current, f"{where}: 2nd dimensional line of {rid} ignored")
            return
        r.has_a = True
        dims = {k.lower(): float(v) for k, v in _DIM.findall(payload)}
        if not dims:
            builder.issue("unparsable_line", current, f"{where}: no val/act/dom values in {line!r}")
        elif len(dims) < 3:
            missing = [k for k in ("val", "act", "dom") if k not in dims]
            builder.issue("partial_dimensions", current, f"{where}: {missing} missing in {line!r}")
        r.valence, r.arousal, r.dominance = dims.get("val"), dims.get("act"), dims.get("dom")
        r.a_note = note


def _speaker_of(item_id: str) -> tuple[str | None, str | None, int | None, str | None]:
    """``(speaker, group, session, gender)`` of an id ``SesNNX_..._XNNN`` (all None for another form)."""
    um = _UTT.match(item_id)
    if not um:
        return None, None, None, None
    session, sex = um.group("session"), um.group("gender")
    return f"Ses{session}{sex}", f"Ses{session}", int(session), "Female" if sex == "F" else "Male"


def _float(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _visible_txt(folder: Path) -> list[Path]:
    """``*.txt`` files directly in ``folder``, without macOS ``._*`` twins, sorted."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix == ".txt" and not p.name.startswith("."))


def read_iemocap(
    root: str | os.PathLike[str],
    *,
    sessions: list[int] | None = None,
    check_audio: bool = True,
    workers: int | None = None,
    progress: bool = False,
) -> CorpusTable:
    """Read IEMOCAP as released into a :class:`~amber2.corpora.table.CorpusTable`.

    Args:
        root: ``IEMOCAP_full_release/`` (or its parent).
        sessions: Session numbers to read (default: every ``SessionN`` folder).
        check_audio: Stat every wav and read its header for the duration (see
            :mod:`amber2.corpora.audio_files`); False leaves ``audio_status = "unchecked"``.
        workers: Threads for the audio check.
        progress: Show a progress bar for the audio check.

    Returns:
        The corpus table (10,039 items and every rater line for the full release). Problems met are
        in ``table.issues`` (``unparsable_line``, ``duplicate_id``, ``duplicate_rater``, ``unknown_label``,
        ``no_transcript``, ``unlabelled_transcript``, ``skipped_transcript_line``, ``missing_audio``, ...).

    Raises:
        IemocapLayoutError: ``root`` does not hold the release layout, or no EmoEvaluation file exists.
    """
    base = find_iemocap_root(root)
    builder = CorpusBuilder("iemocap", base, "amber2.corpora.iemocap", READER_VERSION)
    session_dirs = sorted(
        (int(m.group(1)), p) for p in base.iterdir() if p.is_dir() and (m := _SESSION_DIR.match(p.name))
    )
    if sessions is not None:
        wanted = {int(s) for s in sessions}
        unknown = wanted - {n for n, _ in session_dirs}
        if unknown:
            raise IemocapLayoutError(f"session(s) {sorted(unknown)} not found under {base}")
        session_dirs = [(n, p) for n, p in session_dirs if n in wanted]
    items: list[dict] = []
    n_eval = 0
    for _, sdir in session_dirs:
        eval_files = _visible_txt(sdir / "dialog" / "EmoEvaluation")
        n_eval += len(eval_files)
        for path in eval_files:
            _parse_eval_file(path, sdir, builder, base, items)
    if n_eval == 0:
        raise IemocapLayoutError(f"no EmoEvaluation file under {base}/SessionN/dialog/EmoEvaluation/")

    # transcripts
    known = {it["id"] for it in items}
    found: set[str] = set()
    for _, sdir in session_dirs:
        for path in _visible_txt(sdir / "dialog" / "transcriptions"):
            rel = os.fspath(path.relative_to(base))
            for lineno, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                line = raw.strip()
                if not line:
                    continue
                m = _TRANSCRIPT.match(line)
                if not m or "XX" in m.group("id"):
                    builder.issue("skipped_transcript_line", None,
                                  f"{rel}:{lineno}: not an utterance: {line!r}")
                    continue
                tid = m.group("id")
                if tid not in known:
                    builder.issue("unlabelled_transcript", tid, f"{rel}:{lineno}: no EmoEvaluation entry")
                    continue
                if tid in found:
                    builder.issue("duplicate_transcript", tid, f"{rel}:{lineno}: second transcript ignored")
                    continue
                found.add(tid)
                txt = m.group("text").strip()
                builder.update_item(tid, transcript=txt or None)
                if not txt:
                    builder.issue("no_transcript", tid, f"{rel}:{lineno}: empty transcript")
    for it in items:
        if it["id"] not in found:
            builder.issue("no_transcript", it["id"], "no line in the dialog's transcription file")

    # audio
    paths = [it["session_dir"] / "sentences" / "wav" / it["dialog"] / f"{it['id']}.wav" for it in items]
    for it, p in zip(items, paths, strict=True):
        builder.update_item(it["id"], audio_path=os.fspath(p))
    check_item_audio(builder, [it["id"] for it in items], paths, check=check_audio,
                     known_durations=[it["duration"] for it in items], workers=workers, progress=progress)
    table = builder.build(sessions=[n for n, _ in session_dirs])
    log.info("IEMOCAP: %d utterances, %d votes from %d EmoEvaluation files",
             len(table), len(table.votes), n_eval)
    return table
