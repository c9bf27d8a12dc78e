"""Detect Git LFS pointer files that stand where audio should be.

A clone of a repository that stores audio with Git LFS (CREMA-D, for one) holds small text files
like::

    version https://git-lfs.github.com/spec/v1
    oid sha256:c992e624...
    size 74786

until ``git lfs pull`` fetches the real content. Feeding such a file to an audio decoder gives a
confusing error; amber2 recognises it and says what to do instead.
"""

from __future__ import annotations

import os

__all__ = ["LFS_HINT", "LfsPointerError", "is_lfs_pointer", "lfs_pointer_message"]

_LFS_MAGIC = b"version https://git-lfs.github.com/spec/"
LFS_HINT = "run `git lfs install && git lfs pull` in the corpus repository to fetch the real audio"


class LfsPointerError(ValueError):
    """Raised when a Git LFS pointer file is found instead of the audio it points to."""


def is_lfs_pointer(path: str | os.PathLike[str]) -> bool:
    """Return True if ``path`` is a Git LFS pointer file (small text starting with the LFS spec line)."""
    try:
        if os.path.getsize(path) > 1024:
            return False
        with open(path, "rb") as fh:
            head = fh.read(len(_LFS_MAGIC))
    except OSError:
        return False
    return head == _LFS_MAGIC


def lfs_pointer_message(path: str | os.PathLike[str], item_id: str | None = None) -> str:
    """A one-line explanation for a pointer file, naming the item and the fix."""
    who = f"item {item_id!r}: " if item_id else ""
    size = ""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("size "):
                    size = f" (the real file is {line.split()[1]} bytes)"
    except OSError:
        pass
    return f"{who}{os.fspath(path)} is a Git LFS pointer, not audio{size}; {LFS_HINT}"
