"""Extraction: every item of a corpus table through every encoder, into the embedding cache.

:func:`extract` is resumable and shardable:

* items whose content key is already in the cache for the encoder's fingerprint are skipped, so a
  rerun with the same settings does no work and a killed run resumes where it stopped (at most one
  unwritten shard per modality is recomputed; on Ctrl-C or an exception the buffered rows are
  written before the error propagates);
* ``shard=(i, n)`` (or the ``RANK`` / ``WORLD_SIZE`` variables torchrun sets) makes this process take
  the items at table positions ``p`` with ``p % n == i``; all ranks can write to one cache folder;
* audio is decoded (and openSMILE computed) in data-loader worker processes while the model runs in
  the main process on length-bucketed batches (see :mod:`amber2.encoders.hf_audio` for why batching
  gives each clip its alone embedding);
* every bad item gets a reason in the report and the rest carries on.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amber2.encoders.audio import (
    DEFAULT_SILENCE_THRESHOLD,
    AudioError,
    audio_duration,
    check_audio_file,
    load_audio,
)
from amber2.encoders.base import (
    AudioEncoder,
    Encoder,
    EncoderError,
    TextEncoder,
    encode_isolating_failures,
    plan_batches,
)
from amber2.encoders.cache import CACHE_VERSION, EncoderStore, new_writer_id
from amber2.encoders.presets import build_encoder, resolve_spec
from amber2.utils.fingerprint import hash_file, hash_strings
from amber2.utils.io import atomic_write_json, read_json
from amber2.utils.logging import get_logger
from amber2.utils.progress import progress_bar

__all__ = [
    "EMPTY_TRANSCRIPT_POLICIES",
    "ExtractReport",
    "ModalityReport",
    "extract",
    "parse_shard",
    "read_table",
]

log = get_logger(__name__)

EMPTY_TRANSCRIPT_POLICIES = ("fail", "skip", "embed")


# ---------------------------------------------------------------------- reports
@dataclass
class ModalityReport:
    """What one modality's extraction did on this rank.

    Attributes:
        modality: Modality name.
        encoder: The encoder's resolved spec.
        fingerprint: The encoder's fingerprint (the cache folder is its first 16 characters).
        dim: Embedding length.
        total: Items of this rank.
        done: Items embedded in this run.
        cached: Items already in the cache (no work).
        failed: ``{id: reason}`` for items that could not be embedded.
        skipped: ``{id: reason}`` for items left out by a policy (empty transcript with ``skip``).
        notes: ``{id: note}`` for items embedded with a caveat (text truncated to the model's limit).
        seconds: Wall time of this modality.
        audio_seconds: Seconds of audio embedded in this run (audio encoders).
        done_ids: The ids behind ``done`` (not saved; lets :class:`ExtractReport` count items, not
            item x modality pairs).
        cached_ids: The ids behind ``cached`` (not saved).
    """

    modality: str
    encoder: dict[str, Any]
    fingerprint: str
    dim: int
    total: int = 0
    done: int = 0
    cached: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    audio_seconds: float = 0.0
    done_ids: set[str] = field(default_factory=set, repr=False, compare=False)
    cached_ids: set[str] = field(default_factory=set, repr=False, compare=False)


@dataclass
class ExtractReport:
    """The outcome of :func:`extract` on one rank.

    Attributes:
        cache_dir: The cache folder.
        shard: ``(i, n)``: this process's rank and the number of ranks.
        device: Torch device used by the model encoders.
        writer: This run's writer id (names its shards, indexes and item records).
        modalities: Per-modality reports.
        timings: Seconds spent: ``load_encoders``, one entry per modality, ``total``.
        path: Where the report was saved (JSON), if it was.
    """

    cache_dir: str
    shard: tuple[int, int]
    device: str
    writer: str
    modalities: dict[str, ModalityReport] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    path: str | None = None

    @property
    def done(self) -> int:
        """Items embedded in this run in at least one modality (each item counts once, like ``failed``)."""
        return len(set().union(*(m.done_ids for m in self.modalities.values())))

    @property
    def embeddings_done(self) -> int:
        """Embeddings computed in this run, summed over modalities (an item with audio and text counts twice)."""
        return sum(m.done for m in self.modalities.values())

    @property
    def cached(self) -> int:
        """Items found in the cache in at least one modality (each item counts once)."""
        return len(set().union(*(m.cached_ids for m in self.modalities.values())))

    @property
    def embeddings_cached(self) -> int:
        """Embeddings found in the cache, summed over modalities."""
        return sum(m.cached for m in self.modalities.values())

    @property
    def failed(self) -> dict[str, str]:
        """``{id: "modality: reason; ..."}`` for every item that failed in some modality."""
        return _merge_reasons({m: r.failed for m, r in self.modalities.items()})

    @property
    def skipped(self) -> dict[str, str]:
        """``{id: "modality: reason"}`` for items skipped by a policy."""
        return _merge_reasons({m: r.skipped for m, r in self.modalities.items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON)."""
        d = asdict(self)
        d["shard"] = list(self.shard)
        for m in d["modalities"].values():
            m.pop("done_ids", None)
            m.pop("cached_ids", None)
        d["summary"] = {"done": self.done, "cached": self.cached, "embeddings_done": self.embeddings_done,
                        "embeddings_cached": self.embeddings_cached, "failed": len(self.failed),
                        "skipped": len(self.skipped)}
        return d

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report as JSON (atomically)."""
        self.path = str(path)
        atomic_write_json(path, self.to_dict())
        return Path(path)


def _merge_reasons(per: dict[str, dict[str, str]]) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for m, reasons in per.items():
        for i, r in reasons.items():
            out.setdefault(i, []).append(f"{m}: {r}")
    return {i: "; ".join(v) for i, v in out.items()}


# ---------------------------------------------------------------------- inputs
def read_table(table: Any) -> tuple[Any, Path | None]:
    """A :class:`~amber2.corpora.table.CorpusTable` from a table, a corpus folder or a manifest.

    Returns:
        ``(table, folder)`` where folder is where it was read from (None for an in-memory table).
    """
    from amber2.corpora.manifest import read_manifest
    from amber2.corpora.table import CorpusTable, CorpusTableError

    if isinstance(table, CorpusTable):
        return table, None
    p = Path(table).expanduser()
    folder = p if p.is_dir() else p.parent
    if (p.is_dir() and (p / "corpus.parquet").is_file()) or p.name == "corpus.parquet":
        return CorpusTable.read(p), folder
    if p.is_file() and p.suffix.lower() == ".parquet":
        try:
            return CorpusTable.read(p), folder
        except CorpusTableError:
            pass  # a manifest in Parquet form
    try:
        return read_manifest(p), folder
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no corpus table (corpus.parquet) or manifest at {p}; run `amber2 prepare` first"
        ) from None


def parse_shard(shard: Any = None) -> tuple[int, int]:
    """``(rank, world)`` from ``(i, n)``, ``"i/n"``, or torchrun's ``RANK`` / ``WORLD_SIZE``, else (0, 1).

    Raises:
        ValueError: malformed or out of range (needs ``0 <= i < n``).
    """
    if shard is None:
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        rank = int(os.environ.get("RANK", "0") or 0)
        return (rank, world) if world > 1 else (0, 1)
    if isinstance(shard, str):
        try:
            a, b = shard.split("/")
            i, n = int(a), int(b)
        except ValueError:
            raise ValueError(f"shard must look like 'i/n' (e.g. 0/4), got {shard!r}") from None
    else:
        i, n = (int(x) for x in shard)
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard {i}/{n}: need 0 <= i < n")
    return i, n


class _FileHashMemo:
    """SHA-256 of audio files, memoised in ``CACHE/file_hashes.json`` on (path, size, mtime)."""

    def __init__(self, cache_dir: Path):
        self.path = cache_dir / "file_hashes.json"
        self.data: dict[str, list[Any]] = {}
        if self.path.is_file():
            try:
                self.data = dict(read_json(self.path))
            except (OSError, ValueError):
                self.data = {}
        self.dirty = False

    def hash(self, p: Path) -> str:
        st = p.stat()
        k = str(p.resolve())
        v = self.data.get(k)
        if v and v[0] == st.st_size and v[1] == st.st_mtime_ns:
            return str(v[2])
        h = hash_file(p)
        self.data[k] = [st.st_size, st.st_mtime_ns, h]
        self.dirty = True
        return h

    def save(self) -> None:
        if self.dirty:
            try:
                atomic_write_json(self.path, self.data, indent=0)
            except OSError as exc:  # a memo only
                log.debug("could not save %s: %s", self.path, exc)
            self.dirty = False


# ---------------------------------------------------------------------- audio loading in workers
_WORKER_ENCODERS: dict[str, AudioEncoder] = {}


class _AudioDataset:
    """Decodes (and for per-clip CPU encoders, embeds) one clip per index; never raises."""

    def __init__(self, ids: list[str], paths: list[str], sample_rate: int, min_samples: int,
                 silence_threshold: float, cap_seconds: float | None, worker_spec: dict[str, Any] | None):
        self.ids, self.paths = ids, paths
        self.sample_rate, self.min_samples = sample_rate, min_samples
        self.silence_threshold, self.cap_seconds = silence_threshold, cap_seconds
        self.worker_spec = worker_spec

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, k: int) -> tuple[int, np.ndarray | None, np.ndarray | None, str | None, float]:
        item = self.ids[k]
        try:
            x = load_audio(self.paths[k], self.sample_rate, item_id=item, max_seconds=self.cap_seconds,
                           silence_threshold=self.silence_threshold)
            seconds = x.size / self.sample_rate
            if x.size < self.min_samples:
                raise AudioError(
                    f"item {item!r}: {self.paths[k]}: too short ({x.size} samples, {seconds:.3f} s); the encoder "
                    f"needs at least {self.min_samples} samples", "too_short")
            if self.worker_spec is None:
                return k, x, None, None, seconds
            enc = _WORKER_ENCODERS.get(repr(self.worker_spec))
            if enc is None:
                built = build_encoder(self.worker_spec, modality="audio")
                assert isinstance(built, AudioEncoder)
                enc = _WORKER_ENCODERS[repr(self.worker_spec)] = built
            return k, None, enc.encode(([x]), self.sample_rate)[0], None, seconds
        except AudioError as exc:
            return k, None, None, str(exc), 0.0
        except Exception as exc:  # anything else still names the item and carries on
            return k, None, None, f"item {item!r}: {type(exc).__name__}: {exc}", 0.0


def _collate(batch: list[Any]) -> list[Any]:
    return batch


def _default_workers(per_clip_cpu: bool, on_gpu: bool) -> int:
    n = os.cpu_count() or 1
    if per_clip_cpu:
        return min(8, n) if n > 1 else 0
    if on_gpu:
        return max(1, min(8, n - 1))
    return 0 if n <= 4 else 2


# ---------------------------------------------------------------------- the stages
def _audio_stage(enc: AudioEncoder, store: EncoderStore, rows: list[dict[str, Any]], rep: ModalityReport,
                 writer_id: str, memo: _FileHashMemo, *, num_workers: int | None, silence_threshold: float,
                 shard_size: int, prog: Any, stop_after: int | None = None) -> None:
    keys: dict[str, str] = {}
    for r in rows:
        try:
            p = check_audio_file(r["audio_path"], r["id"])
            keys[r["id"]] = memo.hash(p)
        except AudioError as exc:
            rep.failed[r["id"]] = str(exc)
        except OSError as exc:
            rep.failed[r["id"]] = f"item {r['id']!r}: cannot read {r['audio_path']}: {exc}"
    memo.save()
    have = set(store.entries())
    todo = _pending(rows, keys, have)
    store.write_items(writer_id, keys, rep.failed, rep.skipped, rep.notes)
    todo_keys = list(todo)
    sr = enc.sample_rate
    durations = []
    for k in todo_keys:
        d = todo[k].get("duration")
        if d is None or not isinstance(d, (int, float)) or not math.isfinite(d) or d <= 0:
            d = audio_duration(todo[k]["audio_path"])
        durations.append(float(d))
    lengths = [max(1, int(d * sr)) for d in durations]
    per_clip = bool(enc.encode_in_workers)
    if per_clip:
        order = np.argsort(-np.asarray(lengths), kind="stable").tolist()
        batches = [order[i:i + 16] for i in range(0, len(order), 16)]
    else:
        budget = int(enc.max_batch_seconds * sr)
        batches = plan_batches(lengths, max_batch_samples=budget, batch_size=int(enc.batch_size))
    on_gpu = str(enc.device).startswith("cuda")
    nw = _default_workers(per_clip, on_gpu) if num_workers is None else max(0, int(num_workers))
    cap = None
    if enc.long_audio == "truncate" and enc.max_seconds:
        cap = float(enc.max_seconds)
    ds = _AudioDataset([todo[k]["id"] for k in todo_keys], [todo[k]["audio_path"] for k in todo_keys], sr,
                       enc.min_samples, silence_threshold, cap, enc.spec if per_clip else None)
    task = prog.add_task(f"{rep.modality} ({_short_name(enc)})", total=len(todo_keys))
    computed: dict[str, str | None] = {}  # key -> None (ok) or failure reason
    writer = store.writer(writer_id, shard_size=shard_size)
    n_batches = 0
    try:
        if todo_keys:
            import torch

            loader = torch.utils.data.DataLoader(
                ds, batch_sampler=batches, num_workers=nw, collate_fn=_collate,
                prefetch_factor=4 if nw > 0 else None, pin_memory=False,
            )
            for batch in loader:
                good: list[tuple[int, np.ndarray]] = []
                for k, wave, vec, err, seconds in batch:
                    key = todo_keys[k]
                    if err is not None:
                        computed[key] = err
                    elif vec is not None:
                        _store_vector(writer, computed, key, vec, todo[key]["id"])
                        rep.audio_seconds += seconds
                    else:
                        assert wave is not None
                        good.append((k, wave))
                if good:
                    _encode_audio_batch(enc, good, todo_keys, todo, writer, computed, rep)
                prog.advance(task, len(batch))
                n_batches += 1
                _test_stop(n_batches, stop_after)
    finally:
        _close_stage(writer, store, writer_id, rows, keys, have, computed, todo, rep)


def _encode_audio_batch(enc: AudioEncoder, good: list[tuple[int, np.ndarray]], todo_keys: list[str],
                        todo: dict[str, dict[str, Any]], writer: Any, computed: dict[str, str | None],
                        rep: ModalityReport) -> None:
    results = encode_isolating_failures(enc.encode_prepared, [w for _, w in good])
    for (k, w), v in zip(good, results):
        key = todo_keys[k]
        item = todo[key]["id"]
        if isinstance(v, Exception):
            computed[key] = f"item {item!r}: the audio encoder failed: {type(v).__name__}: {v}"
        elif _store_vector(writer, computed, key, v, item):
            rep.audio_seconds += w.size / enc.sample_rate


def _store_vector(writer: Any, computed: dict[str, str | None], key: str, v: np.ndarray, item: str) -> bool:
    v = np.asarray(v, dtype=np.float32)
    if not np.isfinite(v).all():
        computed[key] = f"item {item!r}: the encoder produced NaN or infinite values"
        return False
    writer.add(key, v)
    computed[key] = None
    return True


def _pending(rows: list[dict[str, Any]], keys: dict[str, str], have: set[str]) -> dict[str, dict[str, Any]]:
    """The first row of every content key that the cache does not hold yet (``{key: row}``)."""
    todo: dict[str, dict[str, Any]] = {}
    for r in rows:
        k = keys.get(r["id"])
        if k is not None and k not in have and k not in todo:
            todo[k] = r
    return todo


def _test_stop(n_batches: int, stop_after: int | None) -> None:
    """Test hook: simulate a kill after ``stop_after`` batches."""
    if stop_after is not None and n_batches >= stop_after:
        raise KeyboardInterrupt(f"stopped after {n_batches} batches (test hook)")


def _close_stage(writer: Any, store: Any, writer_id: str, rows: list[dict[str, Any]], keys: dict[str, str],
                 have: set[str], computed: dict[str, str | None], todo: dict[str, dict[str, Any]],
                 rep: ModalityReport) -> None:
    """End a stage, also when interrupted: flush the shard, count, and record the items file."""
    writer.flush()
    _finish_counts(rows, keys, have, computed, todo, rep)
    store.write_items(writer_id, keys, rep.failed, rep.skipped, rep.notes)


def _finish_counts(rows: list[dict[str, Any]], keys: dict[str, str], have: set[str],
                   computed: dict[str, str | None], todo: dict[str, dict[str, Any]], rep: ModalityReport) -> None:
    rep.done = rep.cached = 0
    rep.done_ids, rep.cached_ids = set(), set()
    for r in rows:
        i = r["id"]
        k = keys.get(i)
        if k is None:
            continue
        if k in have:
            rep.cached += 1
            rep.cached_ids.add(str(i))
        elif k in computed:
            if computed[k] is None:
                rep.done += 1
                rep.done_ids.add(str(i))
            else:
                first = todo[k]["id"]
                reason = str(computed[k])
                rep.failed[i] = reason if first == i else f"same content as item {first!r}, which failed: {reason}"
        # else: not reached before an interruption


def _text_stage(enc: TextEncoder, store: EncoderStore, rows: list[dict[str, Any]], rep: ModalityReport,
                writer_id: str, *, empty_transcript: str, shard_size: int, prog: Any,
                stop_after: int | None = None) -> None:
    import pandas as pd

    keys: dict[str, str] = {}
    texts: dict[str, str] = {}
    for r in rows:
        t = r.get("transcript")
        missing = t is None or (not isinstance(t, str) and pd.isna(t))
        if missing or not str(t).strip():
            what = "no transcript" if missing else "empty transcript"
            if empty_transcript == "fail":
                rep.failed[r["id"]] = f"item {r['id']!r}: {what} (set empty_transcript='skip' or 'embed')"
                continue
            if empty_transcript == "skip":
                rep.skipped[r["id"]] = f"item {r['id']!r}: {what}; skipped"
                continue
            t = ""
            rep.notes[r["id"]] = f"{what}; embedded the empty string"
        k = hash_strings([str(t)])
        keys[r["id"]] = k
        texts[k] = str(t)
    have = set(store.entries())
    todo = _pending(rows, keys, have)
    store.write_items(writer_id, keys, rep.failed, rep.skipped, rep.notes)
    todo_keys = sorted(todo, key=lambda k: -len(texts[k]))
    task = prog.add_task(f"{rep.modality} ({_short_name(enc)})", total=len(todo_keys))
    step = max(1, int(enc.batch_size) * 4)
    computed: dict[str, str | None] = {}
    writer = store.writer(writer_id, shard_size=shard_size)
    n_batches = 0
    try:
        for s in range(0, len(todo_keys), step):
            chunk = todo_keys[s:s + step]
            results = encode_isolating_failures(lambda ts: list(zip(*enc.encode_with_notes(ts))),
                                                [texts[k] for k in chunk])
            for k, r in zip(chunk, results):
                item = todo[k]["id"]
                if isinstance(r, Exception):
                    computed[k] = f"item {item!r}: the text encoder failed: {type(r).__name__}: {r}"
                    continue
                v, note = r
                if _store_vector(writer, computed, k, v, item) and note:
                    for r in rows:
                        if keys.get(r["id"]) == k:
                            rep.notes[r["id"]] = note
            prog.advance(task, len(chunk))
            n_batches += 1
            _test_stop(n_batches, stop_after)
    finally:
        _close_stage(writer, store, writer_id, rows, keys, have, computed, todo, rep)


def _precomputed_stage(enc: Any, store: EncoderStore, rows: list[dict[str, Any]], rep: ModalityReport,
                       writer_id: str, *, shard_size: int, prog: Any) -> None:
    ids = [r["id"] for r in rows]
    keys = {i: f"id:{i}" for i in ids}
    have = set(store.entries())
    need = [i for i in ids if keys[i] not in have]
    task = prog.add_task(f"{rep.modality} (precomputed)", total=len(need))
    vectors, failed = enc.lookup(need)
    writer = store.writer(writer_id, shard_size=max(shard_size, 4096))
    for i in need:
        if i in vectors:
            writer.add(keys[i], vectors[i])
    writer.flush()
    prog.advance(task, len(need))
    for i in failed:
        keys.pop(i, None)
    rep.failed.update(failed)
    rep.cached_ids = {str(i) for i in ids if f"id:{i}" in have}
    rep.cached = len(rep.cached_ids)
    rep.done = len(vectors)
    rep.done_ids = {str(i) for i in vectors}
    store.write_items(writer_id, keys, rep.failed, rep.skipped, rep.notes)


def _short_name(enc: Encoder) -> str:
    s = enc.spec
    name = s.get("model") or s.get("feature_set") or s.get("name") or enc.kind
    return Path(str(name)).name if os.sep in str(name) else str(name)


# ---------------------------------------------------------------------- the entry point
def extract(
    table: Any,
    *,
    preset: str | dict[str, Any] | None = "offline",
    audio_encoder: Any = ...,
    text_encoder: Any = ...,
    features: dict[str, str | os.PathLike[str]] | None = None,
    audio_layer: int | str | None = None,
    text_layer: int | str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    max_batch_seconds: float | None = None,
    num_workers: int | None = None,
    shard: tuple[int, int] | str | None = None,
    device: str | None = None,
    empty_transcript: str = "fail",
    silence_threshold: float = DEFAULT_SILENCE_THRESHOLD,
    shard_size: int = 256,
    encoders: dict[str, Encoder] | None = None,
    progress: bool = False,
    save_report: bool = True,
    _stop_after_batches: int | None = None,
) -> ExtractReport:
    """Embed every item of a corpus with every encoder of a preset/spec, into the cache.

    Args:
        table: A :class:`~amber2.corpora.table.CorpusTable`, a folder holding ``corpus.parquet``, or a
            manifest file.
        preset: ``"offline"`` (default: openSMILE eGeMAPSv02 + MiniLM, no network), ``"paper"``
            (wav2vec2-base + bert-base-uncased) or a spec dict (see :mod:`amber2.encoders.presets`).
        audio_encoder: Replace the preset's audio encoder (``egemaps``, ``compare``, a hub id or
            folder, a spec dict, or None to leave audio out).
        text_encoder: Replace the preset's text encoder (``minilm``, a hub id or folder, a dict, None).
        features: Precomputed features as extra modalities, ``{name: path}``.
        audio_layer: Audio layer override (``last``, ``mean`` or a hidden-state index).
        text_layer: Text layer override.
        cache_dir: The cache folder (default: ``<corpus folder>/embeddings`` when ``table`` is a path).
        batch_size: Most items per forward pass (default: 8 clips / 32 texts on CPU, 64 / 256 on GPU).
        max_batch_seconds: Padded audio per forward pass (default 16 s on CPU, 320 s on GPU).
        num_workers: Audio decoding processes (default: by machine; 0 decodes in this process).
        shard: ``(i, n)`` or ``"i/n"``: take the items at positions ``p % n == i`` (default: torchrun's
            ``RANK``/``WORLD_SIZE``, else everything).
        device: Torch device (default ``cuda:<LOCAL_RANK>`` when a GPU exists, else ``cpu``).
        empty_transcript: A missing or empty transcript ``fail``s the item (default), ``skip``s it, or
            ``embed``s the empty string.
        silence_threshold: Peak amplitude under which a clip is rejected as silent.
        shard_size: Rows per cache shard (the most work a hard kill can lose per modality).
        encoders: Prebuilt encoders ``{modality: Encoder}`` (used instead of building the spec).
        progress: Show progress bars with ETA.
        save_report: Save the report as ``CACHE/extract_report[.shard-i-of-n].json``.

    Returns:
        The :class:`ExtractReport` (items done, cached, failed with reasons, timings per modality).

    Raises:
        EncoderError: an encoder cannot be built (e.g. the model is not available offline).
        ValueError: bad ``empty_transcript`` or ``shard``.
    """
    t0 = time.perf_counter()
    if empty_transcript not in EMPTY_TRANSCRIPT_POLICIES:
        raise ValueError(f"empty_transcript must be one of {EMPTY_TRANSCRIPT_POLICIES}, got {empty_transcript!r}")
    corpus, folder = read_table(table)
    if cache_dir is None:
        if folder is None:
            raise ValueError("cache_dir is required when the table is given in memory")
        cache_dir = folder / "embeddings"
    cache = Path(cache_dir).expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    rank, world = parse_shard(shard)
    writer_id = new_writer_id(rank, world)

    if encoders is None:
        spec = resolve_spec(preset, audio_encoder=audio_encoder, text_encoder=text_encoder, features=features,
                            audio_layer=audio_layer, text_layer=text_layer)
        runtime = {"batch_size": batch_size, "max_batch_seconds": max_batch_seconds}
        encoders = {m: build_encoder(s, modality=m, device=device, **runtime) for m, s in spec.items()}
        requests = {m: (s if isinstance(s, dict) else {}) for m, s in spec.items()}
    else:
        requests = {m: {} for m in encoders}
    if not encoders:
        raise EncoderError("no encoder to run: the spec has no modality")
    t_load = time.perf_counter() - t0
    dev = next((str(e.device) for e in encoders.values() if hasattr(e, "device")), "cpu")

    items = corpus.items
    cols = [c for c in ("id", "audio_path", "transcript", "duration") if c in items.columns]
    records = items[cols].to_dict("records")
    rows = [r for p, r in enumerate(records) if p % world == rank]
    for r in rows:
        r["id"] = str(r["id"])

    report = ExtractReport(cache_dir=str(cache), shard=(rank, world), device=dev, writer=writer_id)
    report.timings["load_encoders"] = round(t_load, 3)
    stores: dict[str, EncoderStore] = {}
    for m, enc in encoders.items():
        store = EncoderStore(cache, m, enc.fingerprint)
        store.ensure(enc.spec, enc.dim, requests.get(m))
        stores[m] = store
        report.modalities[m] = ModalityReport(m, enc.spec, enc.fingerprint, enc.dim, total=len(rows))
    atomic_write_json(cache / "extract.json", {
        "version": CACHE_VERSION, "corpus": corpus.corpus, "n_items": len(corpus),
        "ids": [str(i) for i in items["id"]],
        "spec": {m: {"fingerprint": e.fingerprint, "dim": e.dim, "spec": e.spec, "request": requests.get(m, {})}
                 for m, e in encoders.items()},
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    memo = _FileHashMemo(cache)
    order = sorted(encoders, key=lambda m: {"precomputed": 0, "hf-text": 1}.get(encoders[m].kind, 2))
    try:
        with progress_bar(progress) as prog:
            for m in order:
                enc, rep, ts = encoders[m], report.modalities[m], time.perf_counter()
                try:
                    if enc.kind == "precomputed":
                        _precomputed_stage(enc, stores[m], rows, rep, writer_id, shard_size=shard_size, prog=prog)
                    elif isinstance(enc, TextEncoder):
                        _text_stage(enc, stores[m], rows, rep, writer_id, empty_transcript=empty_transcript,
                                    shard_size=shard_size, prog=prog, stop_after=_stop_after_batches)
                    elif isinstance(enc, AudioEncoder):
                        _audio_stage(enc, stores[m], rows, rep, writer_id, memo, num_workers=num_workers,
                                     silence_threshold=silence_threshold, shard_size=shard_size, prog=prog,
                                     stop_after=_stop_after_batches)
                    else:
                        raise EncoderError(f"modality {m!r}: unsupported encoder {type(enc).__name__}")
                finally:
                    rep.seconds = round(time.perf_counter() - ts, 3)
                    report.timings[m] = rep.seconds
                log.info("%s: %d embedded, %d cached, %d failed, %d skipped (%.1f s)", m, rep.done, rep.cached,
                         len(rep.failed), len(rep.skipped), rep.seconds)
    finally:
        report.timings["total"] = round(time.perf_counter() - t0, 3)
        if save_report:
            name = "extract_report.json" if world == 1 else f"extract_report.shard-{rank}-of-{world}.json"
            report.save(cache / name)
    return report
