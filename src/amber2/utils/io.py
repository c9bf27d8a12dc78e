"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename.

A reader never sees a half-written file: either the old content or the new one. Every file amber2
writes (corpus tables, embeddings shards, checkpoints, reports) goes through these helpers.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "load_npy", "load_npz",
    "read_json", "read_jsonl",
]

_PICKLE_HINT = ("holds Python objects (dtype=object), which amber2 never unpickles; save strings as a unicode "
                "array (np.array(ids, dtype=str)) and numbers as a numeric array")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    Use it with writers that want a file name (``pyarrow.parquet.write_table``, ``np.save``,
    ``safetensors.torch.save_file``). On an exception the temporary file is removed and ``path``
    is left untouched.

    Args:
        path: Final destination.
        suffix: Suffix of the temporary file (some writers look at it); defaults to ``path``'s.

    Yields:
        The temporary path to write to.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=(suffix if suffix is not None else final.suffix) + ".tmp",
        dir=final.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON (numpy scalars/arrays and paths allowed) atomically."""
    text = json.dumps(obj, indent=indent, default=_json_default, allow_nan=True, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`atomic_write_json`."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_jsonl(path: str | os.PathLike[str], *, error: type[Exception] = ValueError) -> list[dict[str, Any]]:
    """Read a JSON Lines file: one JSON object per non-empty line, keys stripped of spaces.

    Raises:
        error: A line that is not valid JSON or not an object (the message names file and line).
    """
    name = os.path.basename(os.fspath(path))
    records: list[dict[str, Any]] = []
    with open(path, encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{name}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise error(f"{name}:{lineno}: each line must be a JSON object")
            records.append({str(k).strip(): v for k, v in rec.items()})
    return records


def load_npz(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Every array of an ``.npz`` file, without pickles; an object array is named in the error.

    numpy's own error ("Object arrays cannot be loaded when allow_pickle=False") names neither the
    file nor the array, hence this wrapper.

    Raises:
        ValueError: An array holds Python objects (the message names file and array and the fix), or
            the file is not a readable ``.npz``.
    """
    import numpy as np

    out: dict[str, Any] = {}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            try:
                out[key] = z[key]
            except ValueError as exc:
                if "allow_pickle" not in str(exc):
                    raise ValueError(f"{path}: array {key!r} cannot be read: {exc}") from exc
                raise ValueError(f"{path}: array {key!r} {_PICKLE_HINT}") from None
    return out


def load_npy(path: str | os.PathLike[str]) -> Any:
    """One ``.npy`` array without pickles; an object array gets an error naming the file (see :func:`load_npz`).

    Raises:
        ValueError: The array holds Python objects, or the file is not a readable ``.npy``.
    """
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise ValueError(f"{path}: cannot be read as an .npy array: {exc}") from exc
        raise ValueError(f"{path}: the array {_PICKLE_HINT}") from None
