"""Content fingerprints (SHA-256) for data, arrays, files and configurations.

Fingerprints make results traceable (each run records the fingerprint of the data it saw) and key
the embedding cache (an item's audio bytes + the encoder's settings).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["hash_array", "hash_arrays", "hash_file", "hash_json", "hash_strings", "short"]

_CHUNK = 1 << 20


def hash_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def hash_array(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and C-contiguous bytes."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def hash_arrays(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over several named arrays (order-independent in the names)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(hash_array(arrays[name]).encode())
    return h.hexdigest()


def hash_strings(strings: Iterable[str]) -> str:
    """SHA-256 of a sequence of strings (order matters)."""
    h = hashlib.sha256()
    for s in strings:
        b = s.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def hash_json(obj: Any) -> str:
    """SHA-256 of a JSON-serialisable object in canonical form (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def short(digest: str, n: int = 12) -> str:
    """The first ``n`` hex characters of a digest, for names and logs."""
    return digest[:n]
