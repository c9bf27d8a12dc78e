"""The embedding cache: content-addressed, sharded, written atomically, safe to kill and to share.

Layout (``CACHE`` is the folder given to :func:`amber2.encoders.extract`)::

    CACHE/
      extract.json                    last run: spec per modality (fingerprints), table ids in order
      extract_report[.shard-i-of-n].json
      file_hashes.json                memo: audio path, size, mtime -> SHA-256 of the bytes
      <modality>/<fingerprint[:16]>/  one folder per encoder fingerprint (audio, text, user names)
        encoder.json                  the encoder's resolved spec, full fingerprint, dim
        shards/<writer>-<seq>.safetensors   float32 (rows, dim) "embeddings" + the rows' keys
        index/<writer>.json           key -> [shard, row] for the shards this writer finished
        items/<writer>.json           utterance id -> key, and the failures / skips / notes of the run

* **Keys.** A row is keyed by the item's *content*: the SHA-256 of the audio file's bytes, of the
  transcript, or (user features) the id. The folder is keyed by the encoder's fingerprint. Two
  utterances with the same audio share one row; changing the encoder never mixes embeddings.
* **Atomic shards.** A shard is written to a hidden temporary name and renamed when complete; the
  writer's index is then rewritten atomically. A temporary file is never read. A shard whose header
  or size does not check out (truncated by a crash of the disk, say), or whose data bytes no longer
  match the SHA-256 stored in its header (``sha256`` metadata: bit rot, a bad copy), is ignored with a
  warning naming it and its rows are recomputed by the next extraction. A shard written just before
  a kill, whose index update was lost, is found by scanning and used.
* **Writers.** Every process (rank) writes its own shards, index and items files under a unique
  writer id, so several processes, GPUs or machines can fill one cache at once with no locking;
  caches filled apart are joined with :func:`merge_caches`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amber2.utils.io import atomic_path, atomic_write_json, read_json
from amber2.utils.logging import get_logger

__all__ = [
    "CACHE_VERSION",
    "EncoderStore",
    "ShardWriter",
    "list_stores",
    "merge_caches",
    "new_writer_id",
]

log = get_logger(__name__)

CACHE_VERSION = 1
_FP_CHARS = 16
_TMP_MAX_AGE_S = 3600.0


def new_writer_id(rank: int = 0, world: int = 1) -> str:
    """A unique, time-sortable writer id, e.g. ``20260101T120000-r0of1-3fa2c1``."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-r{rank}of{world}-{uuid.uuid4().hex[:6]}"


def _read_shard_header(path: Path) -> dict[str, Any] | None:
    """Parse and check a safetensors shard's header; None if the file is incomplete or not ours.

    A file is accepted when its 8-byte header length, JSON header, tensor offsets and total size agree,
    its metadata lists exactly one key per row of ``embeddings``, and the data bytes hash to the
    ``sha256`` its metadata records (shards written before data checksums have none and are accepted
    on the header checks alone).
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                return None
            n = int.from_bytes(raw, "little")
            if n <= 0 or 8 + n > size:
                return None
            header = json.loads(fh.read(n))
        meta = header.get("__metadata__") or {}
        emb = header["embeddings"]
        end = max(int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__")
        if 8 + n + end != size or emb.get("dtype") != "F32" or len(emb["shape"]) != 2:
            return None
        keys = json.loads(meta["keys"])
        if len(keys) != int(emb["shape"][0]):
            return None
        if "sha256" in meta:
            with open(path, "rb") as fh:
                fh.seek(8 + n)
                if _data_digest(fh.read(end)) != meta["sha256"]:
                    return None
        return {"keys": keys, "rows": int(emb["shape"][0]), "dim": int(emb["shape"][1]), "meta": meta}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _data_digest(data: bytes | memoryview) -> str:
    """SHA-256 of a shard's tensor data bytes (what its ``sha256`` metadata records)."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class ItemRecord:
    """What one writer recorded about one utterance id."""

    key: str | None
    written: float
    reason: str | None = None
    status: str = "ok"  # ok | failed | skipped


@dataclass
class EncoderStore:
    """The embeddings of one encoder: ``CACHE/<modality>/<fingerprint[:16]>/``.

    Attributes:
        cache_dir: The cache root.
        modality: Modality name.
        fingerprint: The encoder's full fingerprint.
    """

    cache_dir: Path
    modality: str
    fingerprint: str
    _entries: dict[str, tuple[str, int]] | None = field(default=None, repr=False)
    _bad_shards: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.cache_dir = Path(self.cache_dir)

    @property
    def dir(self) -> Path:
        """Folder of this encoder's embeddings."""
        return self.cache_dir / self.modality / self.fingerprint[:_FP_CHARS]

    @classmethod
    def from_dir(cls, folder: Path) -> EncoderStore:
        """Open an existing store folder (reads its ``encoder.json``)."""
        info = read_json(folder / "encoder.json")
        return cls(folder.parent.parent, str(info["modality"]), str(info["fingerprint"]))

    # ------------------------------------------------------------------ metadata
    def info(self) -> dict[str, Any]:
        """The content of ``encoder.json`` (empty dict if the store was never written)."""
        p = self.dir / "encoder.json"
        return dict(read_json(p)) if p.is_file() else {}

    def ensure(self, spec: dict[str, Any], dim: int, request: dict[str, Any] | None = None) -> None:
        """Create the folder and ``encoder.json``; refuse a different encoder under the same name."""
        p = self.dir / "encoder.json"
        if p.is_file():
            info = read_json(p)
            if info.get("fingerprint") != self.fingerprint:
                raise RuntimeError(f"{self.dir} holds another encoder ({info.get('fingerprint')}); remove it")
            return
        atomic_write_json(p, {
            "version": CACHE_VERSION, "modality": self.modality, "fingerprint": self.fingerprint,
            "dim": int(dim), "spec": spec, "request": request or {},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })

    # ------------------------------------------------------------------ reading
    def entries(self, refresh: bool = False) -> dict[str, tuple[str, int]]:
        """Map every cached key to ``(shard file name, row)``, from the indexes and a scan of the shards."""
        if self._entries is not None and not refresh:
            return self._entries
        shard_dir = self.dir / "shards"
        entries: dict[str, tuple[str, int]] = {}
        checked: dict[str, dict[str, Any] | None] = {}
        bad: set[str] = set()
        on_disk = {p.name for p in shard_dir.glob("*.safetensors")} if shard_dir.is_dir() else set()

        def header(name: str) -> dict[str, Any] | None:
            if name not in checked:
                checked[name] = _read_shard_header(shard_dir / name) if name in on_disk else None
                if checked[name] is None and name in on_disk:
                    bad.add(name)
            return checked[name]

        for idx in sorted((self.dir / "index").glob("*.json")) if (self.dir / "index").is_dir() else []:
            try:
                data = read_json(idx)
                items = data["entries"].items()
            except (OSError, ValueError, KeyError, AttributeError):
                log.warning("ignoring unreadable cache index %s", idx)
                continue
            for key, (name, row) in items:
                h = header(name)
                if h is not None and 0 <= int(row) < h["rows"] and h["keys"][int(row)] == key:
                    entries[key] = (name, int(row))
        for name in sorted(on_disk):  # shards whose index update was lost (kill between the two renames)
            if name in checked:
                continue
            h = header(name)
            if h is None:
                continue
            for row, key in enumerate(h["keys"]):
                entries.setdefault(key, (name, row))
        for name in sorted(bad - self._bad_shards):
            log.warning("ignoring corrupt or incomplete cache shard %s (its rows will be recomputed)",
                        shard_dir / name)
        self._bad_shards |= bad
        self._entries = entries
        return entries

    def missing(self, keys: list[str]) -> list[str]:
        """The keys (order kept, duplicates dropped) that are not in the cache."""
        have = self.entries()
        seen: set[str] = set()
        out = []
        for k in keys:
            if k not in have and k not in seen:
                seen.add(k)
                out.append(k)
        return out

    def read(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Vectors of the cached ``keys`` (keys not in the cache are left out)."""
        from safetensors.numpy import load_file

        have = self.entries()
        by_shard: dict[str, list[tuple[str, int]]] = {}
        for k in dict.fromkeys(keys):
            if k in have:
                name, row = have[k]
                by_shard.setdefault(name, []).append((k, row))
        out: dict[str, np.ndarray] = {}
        for name, rows in by_shard.items():
            try:
                arr = load_file(str(self.dir / "shards" / name))["embeddings"]
            except Exception as exc:  # vanished or damaged between the scan and now
                log.warning("cannot read cache shard %s: %s", name, exc)
                continue
            for k, r in rows:
                out[k] = np.asarray(arr[r], dtype=np.float32)
        return out

    # ------------------------------------------------------------------ items
    def write_items(self, writer: str, ids: dict[str, str], failed: dict[str, str],
                    skipped: dict[str, str], notes: dict[str, str]) -> None:
        """Record (atomically) which key each id has and why the others have none."""
        atomic_write_json(self.dir / "items" / f"{writer}.json", {
            "version": CACHE_VERSION, "writer": writer, "written": time.time(), "ids": ids,
            "failed": failed, "skipped": skipped, "notes": notes,
        }, indent=0)

    def item_records(self) -> dict[str, ItemRecord]:
        """For each id ever recorded, the latest writer's record."""
        out: dict[str, ItemRecord] = {}
        folder = self.dir / "items"
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        records = []
        for f in files:
            try:
                records.append(read_json(f))
            except (OSError, ValueError):
                log.warning("ignoring unreadable cache items file %s", f)
        for data in sorted(records, key=lambda d: float(d.get("written", 0))):
            w = float(data.get("written", 0))
            for i, k in data.get("ids", {}).items():
                out[i] = ItemRecord(k, w)
            for i, r in data.get("failed", {}).items():
                out[i] = ItemRecord(None, w, r, "failed")
            for i, r in data.get("skipped", {}).items():
                out[i] = ItemRecord(None, w, r, "skipped")
        return out

    # ------------------------------------------------------------------ writing
    def writer(self, writer_id: str, *, shard_size: int = 256, flush_seconds: float = 120.0) -> ShardWriter:
        """A :class:`ShardWriter` adding rows to this store under ``writer_id``."""
        self._clean_stale_tmp()
        return ShardWriter(self, writer_id, shard_size=shard_size, flush_seconds=flush_seconds)

    def _clean_stale_tmp(self) -> None:
        """Remove temporary shard files left by killed writers (older than an hour)."""
        folder = self.dir / "shards"
        if not folder.is_dir():
            return
        now = time.time()
        for p in folder.glob(".*.tmp"):
            try:
                if now - p.stat().st_mtime > _TMP_MAX_AGE_S:
                    p.unlink()
            except OSError:
                pass


class ShardWriter:
    """Buffers rows and writes them as atomic shards, updating the writer's index after each shard.

    Args:
        store: Target store.
        writer_id: Unique id of this writer (see :func:`new_writer_id`).
        shard_size: Rows per shard: at most this many rows are lost if the process is killed.
        flush_seconds: Also write a shard when the oldest buffered row is this old.
    """

    def __init__(self, store: EncoderStore, writer_id: str, *, shard_size: int = 256, flush_seconds: float = 120.0):
        self.store = store
        self.writer_id = writer_id
        self.shard_size = max(1, int(shard_size))
        self.flush_seconds = float(flush_seconds)
        self._keys: list[str] = []
        self._rows: list[np.ndarray] = []
        self._since: float | None = None
        self._seq = 0
        self._index: dict[str, Any] = {"version": CACHE_VERSION, "writer": writer_id,
                                       "fingerprint": store.fingerprint, "shards": {}, "entries": {}}
        self.rows_written = 0

    def add(self, key: str, vector: np.ndarray) -> None:
        """Buffer one row (a float32 vector); flushes when the shard is full or old."""
        if key in self._index["entries"] or key in self._keys:
            return
        self._keys.append(key)
        self._rows.append(np.asarray(vector, dtype=np.float32).reshape(-1))
        if self._since is None:
            self._since = time.monotonic()
        if len(self._keys) >= self.shard_size or time.monotonic() - self._since >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one shard (temp file + rename), then the index (atomically)."""
        if not self._keys:
            return
        from safetensors.numpy import save_file

        name = f"{self.writer_id}-{self._seq:05d}.safetensors"
        arr = np.ascontiguousarray(np.stack(self._rows).astype(np.float32))
        meta = {"keys": json.dumps(self._keys), "fingerprint": self.store.fingerprint,
                "modality": self.store.modality, "writer": self.writer_id,
                "sha256": _data_digest(memoryview(arr).cast("B"))}
        with atomic_path(self.store.dir / "shards" / name, suffix=".safetensors") as tmp:
            save_file({"embeddings": arr}, str(tmp), metadata=meta)
        self._index["shards"][name] = len(self._keys)
        for row, key in enumerate(self._keys):
            self._index["entries"][key] = [name, row]
        atomic_write_json(self.store.dir / "index" / f"{self.writer_id}.json", self._index, indent=0)
        if self.store._entries is not None:
            for row, key in enumerate(self._keys):
                self.store._entries[key] = (name, row)
        self.rows_written += len(self._keys)
        self._seq += 1
        self._keys, self._rows, self._since = [], [], None


def list_stores(cache_dir: str | os.PathLike[str], modality: str | None = None) -> list[EncoderStore]:
    """Every encoder store in a cache (optionally of one modality)."""
    root = Path(cache_dir)
    out = []
    for enc in sorted(root.glob("*/*/encoder.json")):
        try:
            store = EncoderStore.from_dir(enc.parent)
        except (OSError, ValueError, KeyError):
            continue
        if modality is None or store.modality == modality:
            out.append(store)
    return out


def merge_caches(sources: list[str | os.PathLike[str]], dest: str | os.PathLike[str]) -> dict[str, int]:
    """Copy the shards, indexes and item records of other caches into ``dest``.

    Use it to join caches filled on machines without shared storage (``--shard i/n`` on each). Files
    are copied atomically and never overwritten (writer ids are unique), so merging twice is harmless.

    Args:
        sources: Cache folders to merge from.
        dest: Cache folder to merge into (created if needed).

    Returns:
        Counts: ``{"shards": ..., "files": ...}`` copied.
    """
    dest = Path(dest)
    counts = {"shards": 0, "files": 0}
    for src in map(Path, sources):
        if not src.is_dir():
            raise FileNotFoundError(f"cache to merge {src} does not exist")
        for enc in sorted(src.glob("*/*/encoder.json")):
            rel = enc.parent.relative_to(src)
            for f in sorted(enc.parent.rglob("*")):
                if not f.is_file() or f.name.startswith("."):
                    continue
                target = dest / rel / f.relative_to(enc.parent)
                if target.exists():
                    continue
                with atomic_path(target) as tmp:
                    shutil.copyfile(f, tmp)
                counts["shards" if f.suffix == ".safetensors" else "files"] += 1
        for f in sorted(src.glob("extract*.json")):
            target = dest / f.name
            if not target.exists():
                with atomic_path(target) as tmp:
                    shutil.copyfile(f, tmp)
                counts["files"] += 1
    return counts
