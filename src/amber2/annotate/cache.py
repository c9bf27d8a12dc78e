"""A content-keyed cache of model replies: a killed run resumes with no call repeated.

Key (:func:`reply_key`): SHA-256 of the backend name, the backend's settings that change replies
(model, mode, token limit, audio cap ...), the prompt's two turns, the temperature, the annotator index,
the SHA-256 of the item's audio bytes and its transcript. Never the API key: it changes no reply.

Storage: one SQLite file (``replies.sqlite``). A corpus of 100,000 utterances x 20 annotators is two
million replies, too many for one file each, and rewriting one big file per reply is quadratic; SQLite
gives atomic, durable single-row commits (write-ahead log) that survive a killed process. Each row
carries the SHA-256 of its record, checked on every read: a row that does not match is dropped (and its
call made again), never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from amber2.utils.fingerprint import hash_json
from amber2.utils.logging import get_logger

__all__ = ["CACHE_FILE", "ReplyCache", "reply_key"]

log = get_logger(__name__)

#: File name of the cache inside its folder.
CACHE_FILE = "replies.sqlite"
_FORMAT = 1
_CHUNK = 500


def reply_key(*, backend: str, identity: dict[str, Any], system: str, user: str, temperature: float,
              index: int, audio_sha256: str | None, transcript: str | None) -> str:
    """The cache key of one call (see the module docstring)."""
    return hash_json({
        "format": _FORMAT, "backend": backend, "identity": identity, "system": system, "user": user,
        "temperature": round(float(temperature), 9), "index": int(index), "audio": audio_sha256,
        "transcript": transcript,
    })


def _checksum(record: str) -> str:
    return hashlib.sha256(record.encode("utf-8")).hexdigest()


class ReplyCache:
    """Replies by key, in ``folder/replies.sqlite``.

    Args:
        folder: The cache folder (created).

    The object is used from one thread (the event loop of a run).
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / CACHE_FILE
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, record TEXT NOT NULL, "
                         "checksum TEXT NOT NULL)")
        self.corrupt = 0

    def __enter__(self) -> ReplyCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database (every committed reply stays)."""
        self._db.close()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Store one reply record (committed at once)."""
        text = json.dumps(record, sort_keys=True, ensure_ascii=False)
        self._db.execute("INSERT OR REPLACE INTO replies (key, record, checksum) VALUES (?, ?, ?)",
                         (key, text, _checksum(text)))

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The verified records of those ``keys`` that are cached."""
        out: dict[str, dict[str, Any]] = {}
        bad: list[str] = []
        for key, text, checksum in self._rows(list(dict.fromkeys(keys))):
            if _checksum(text) != checksum:
                bad.append(key)
                continue
            try:
                out[key] = json.loads(text)
            except json.JSONDecodeError:
                bad.append(key)
        if bad:
            self.corrupt += len(bad)
            log.warning("reply cache %s: %d record(s) failed their checksum and are dropped (their calls will be "
                        "made again)", self.path, len(bad))
            self._db.executemany("DELETE FROM replies WHERE key = ?", [(k,) for k in bad])
        return out

    def _rows(self, keys: list[str]) -> Iterator[tuple[str, str, str]]:
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(f"SELECT key, record, checksum FROM replies WHERE key IN ({marks})", chunk)
