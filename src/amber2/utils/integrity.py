"""Checksums of a folder's files, written last and verified when read back.

A folder written as one unit (a model bundle, a prepared corpus) lists the SHA-256 of each of its
files in a small JSON file written *after* them::

    {"format": "amber2.checksums", "files": {"model.json": "<sha256>", "model.safetensors": "<sha256>"}}

A reader calls :func:`verify_checksums`: a file whose bytes changed (bit rot, a partial copy, an edit)
or that is missing is reported by name before anything is parsed. Files written before checksums
existed have no list; they load as before (the caller decides whether to warn).

A folder rewritten in several steps is first marked incomplete (:func:`mark_incomplete`: the list
with ``"complete": false``), then its files are written, then the list (:func:`write_checksums`). A
process killed in between leaves the mark, and :func:`verify_checksums` refuses the mixed folder
instead of pairing a new file with an old one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from amber2.utils.fingerprint import hash_file
from amber2.utils.io import atomic_write_json, read_json

__all__ = ["CHECKSUMS_FORMAT", "IncompleteError", "file_checksums", "mark_incomplete", "update_checksum",
           "verify_checksums", "write_checksums"]

CHECKSUMS_FORMAT = "amber2.checksums"


def file_checksums(folder: str | os.PathLike[str], names: Iterable[str]) -> dict[str, str]:
    """SHA-256 hex digest of each named file of ``folder``."""
    base = Path(folder)
    return {name: hash_file(base / name) for name in names}


class IncompleteError(ValueError):
    """A folder written as one unit was left half-written (its writer was interrupted)."""


def mark_incomplete(folder: str | os.PathLike[str], listing: str) -> Path:
    """Mark ``folder`` as being rewritten: its checksum list says ``complete: false`` until sealed."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return atomic_write_json(Path(folder) / listing, {"format": CHECKSUMS_FORMAT, "complete": False, "files": {}})


def write_checksums(folder: str | os.PathLike[str], names: Iterable[str], listing: str,
                    **extra: Any) -> Path:
    """Hash the named files of ``folder`` and write the list to ``folder/listing`` (atomically, last).

    Args:
        folder: The folder.
        names: File names inside it.
        listing: Name of the checksum file, e.g. ``checksums.json``.
        **extra: Further JSON-ready fields stored beside ``files``.

    Returns:
        The checksum file's path.
    """
    return atomic_write_json(Path(folder) / listing, {"format": CHECKSUMS_FORMAT, "complete": True, **extra,
                                                      "files": file_checksums(folder, names)})


def update_checksum(folder: str | os.PathLike[str], listing: str, name: str) -> bool:
    """Record the new SHA-256 of ``name`` after amber2 rewrote it in a sealed folder.

    Returns:
        True when the folder has a complete listing naming ``name`` (now updated); False otherwise
        (nothing to update: no listing, an incomplete one, or a file it does not list).
    """
    path = Path(folder) / listing
    if not path.is_file():
        return False
    try:
        data = read_json(path)
    except (ValueError, UnicodeDecodeError):
        return False
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or data.get("complete") is not True or name not in files:
        return False
    files[name] = hash_file(Path(folder) / name)
    atomic_write_json(path, data)
    return True


def verify_checksums(folder: str | os.PathLike[str], listing: str, *,
                     error: type[Exception] = ValueError) -> dict[str, Any] | None:
    """Check every file listed in ``folder/listing`` against its recorded SHA-256.

    Args:
        folder: The folder.
        listing: Name of the checksum file.
        error: Exception type raised on a mismatch.

    Returns:
        The listing's content, or None when the folder has no checksum file.

    Raises:
        IncompleteError: The folder is marked incomplete (its writer was interrupted).
        error: The listing is unreadable, or a listed file is missing or its bytes differ (the
            message names the file).
    """
    base = Path(folder)
    path = base / listing
    if not path.exists():
        return None
    try:
        data = read_json(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"{path}: checksum list is not valid JSON ({exc})") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or data.get("format") != CHECKSUMS_FORMAT:
        raise error(f"{path}: not an amber2 checksum list")
    if data.get("complete") is False:
        raise IncompleteError(f"{base} is incomplete: the process writing it was interrupted ({listing} says "
                              "so); write it again")
    for name, digest in files.items():
        f = base / str(name)
        if Path(str(name)).is_absolute() or ".." in Path(str(name)).parts:
            raise error(f"{path}: lists {name!r}, which is outside {base}")
        if not f.is_file():
            raise error(f"{f} is missing (listed in {listing}; was the folder copied whole?)")
        if hash_file(f) != digest:
            raise error(f"{f} is corrupt or was changed after it was written: its SHA-256 does not match "
                        f"{listing} (re-create or re-copy it)")
    return data
