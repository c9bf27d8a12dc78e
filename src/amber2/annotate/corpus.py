"""Annotate a prepared corpus: ``amber2 annotate``'s Python API.

:func:`annotate_corpus` (or, inside a running event loop, ``await`` :func:`annotate_corpus_async`)
reads ``DIR/corpus.parquet``, asks ``n`` synthetic annotators of a backend for one
vote on every item, and writes

    DIR/corpus.parquet                      the votes, as raters of kind ``synthetic``
                                            (``syn:<backend>:<model>:<index>``, note = raw reply)
    DIR/annotations/<source>.jsonl          every request: item, annotator, temperature, raw reply, the
                                            class it was read as (or why none), cached or not
    DIR/annotations/<source>.report.json    settings (no secret), counts, per-item failures and notes
    DIR/annotations/cache/replies.sqlite    the reply cache (see :mod:`amber2.annotate.cache`)

each atomically. Human votes are never touched; the source's earlier votes are replaced, not duplicated
(:mod:`amber2.annotate.store`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amber2.annotate.backends.base import Backend, Item, Request
from amber2.annotate.cache import ReplyCache, reply_key
from amber2.annotate.parse import ReplyParser
from amber2.annotate.prompts import AnnotatorPreset, build_prompt, load_preset
from amber2.annotate.runner import Outcome, RunSettings, RunStats, pending_requests, run_requests
from amber2.annotate.schedule import schedule
from amber2.annotate.store import StoreCounts, SyntheticVote, merge_synthetic_votes
from amber2.corpora.table import CorpusTable
from amber2.utils.aio import blocking
from amber2.utils.fingerprint import hash_file
from amber2.utils.io import atomic_write_json, atomic_write_text
from amber2.utils.logging import get_logger

__all__ = ["DEFAULT_CLASSES", "AnnotateReport", "annotate_corpus", "annotate_corpus_async", "build_requests",
           "source_slug"]

log = get_logger(__name__)

#: Classes asked for when none are given: the 4-class setting.
DEFAULT_CLASSES: tuple[str, ...] = ("neutral", "happy", "angry", "sad")
_BAD_AUDIO = {"missing": "missing_audio", "lfs_pointer": "missing_audio", "empty": "missing_audio",
              "unreadable": "unreadable_audio"}


def source_slug(backend: str, model: str) -> str:
    """A file-name-safe name of a source (``openai_Qwen_Qwen2-Audio-7B-Instruct``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{backend}_{model}").strip("_") or "source"


@dataclass
class AnnotateReport:
    """What :func:`annotate_corpus` did (or, with ``dry_run``, would do)."""

    corpus: str
    backend: str
    model: str
    identity: dict[str, Any]
    preset: str
    classes: list[str]
    n: int
    items: int
    requests: int
    calls_needed: int
    dry_run: bool
    uncached: int = 0
    stats: RunStats | None = None
    votes: int = 0
    parse: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    store: StoreCounts | None = None
    paths: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON)."""
        d = dict(self.__dict__)
        d["stats"] = None if self.stats is None else self.stats.to_dict()
        d["store"] = None if self.store is None else dict(self.store.__dict__)
        return d

    @property
    def failed_items(self) -> int:
        """Items with at least one request that gave no reply."""
        return len(self.failures)


def _hash_audio(items: Sequence[Any]) -> dict[str, str | Exception]:
    def one(row: Any) -> tuple[str, str | Exception]:
        try:
            return row.id, hash_file(row.audio_path)
        except OSError as exc:
            return row.id, exc

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        return dict(pool.map(one, items))


def _items(table: CorpusTable, backend: Backend, ids: Sequence[str] | None
           ) -> tuple[list[Item], dict[str, list[dict[str, Any]]]]:
    """The items to annotate and the items that cannot be (with their reason)."""
    frame = table.items if ids is None else table.subset(ids).items
    failures: dict[str, list[dict[str, Any]]] = {}
    rows = list(frame[["id", "audio_path", "transcript", "audio_status"]].itertuples(index=False))
    usable = []
    for row in rows:
        transcript = row.transcript if isinstance(row.transcript, str) and row.transcript.strip() else None
        if backend.uses_audio:
            reason = _BAD_AUDIO.get(str(row.audio_status))
            if reason or not isinstance(row.audio_path, str):
                failures[row.id] = [{"annotator": None, "reason": reason or "missing_audio",
                                     "error": f"item {row.id!r}: audio status {row.audio_status!r}, path "
                                              f"{row.audio_path!r}"}]
                continue
        elif transcript is None:
            failures[row.id] = [{"annotator": None, "reason": "no_transcript",
                                 "error": f"item {row.id!r}: no transcript for a text-only backend"}]
            continue
        usable.append((row, transcript))
    hashes = _hash_audio([r for r, _ in usable]) if backend.uses_audio else {}
    out: list[Item] = []
    for row, transcript in usable:
        digest = hashes.get(row.id)
        if isinstance(digest, Exception):
            failures[row.id] = [{"annotator": None, "reason": "missing_audio",
                                 "error": f"item {row.id!r}: cannot read {row.audio_path}: {digest}"}]
            continue
        out.append(Item(id=str(row.id), audio_path=row.audio_path if backend.uses_audio else None,
                        transcript=transcript, audio_sha256=digest))
    return out, failures


def build_requests(items: Sequence[Item], backend: Backend, preset: AnnotatorPreset, classes: Sequence[str],
                   n: int) -> list[Request]:
    """The requests of ``n`` annotators on every item (item-major), each with its cache key."""
    annotators = schedule(n, preset)
    identity = backend.identity()
    out: list[Request] = []
    for item in items:
        for ann in annotators:
            prompt = build_prompt(preset, list(classes), ann.focus, item.transcript)
            key = reply_key(backend=backend.name, identity=identity, system=prompt.system, user=prompt.user,
                            temperature=ann.temperature, index=ann.index, audio_sha256=item.audio_sha256,
                            transcript=item.transcript)
            out.append(Request(item=item, annotator=ann, prompt=prompt, key=key))
    return out


def _check_classes(classes: Sequence[str]) -> list[str]:
    out = [str(c).strip().lower() for c in classes]
    if len(out) < 2 or any(not c for c in out) or len(set(out)) != len(out):
        raise ValueError(f"annotation classes must be at least two distinct non-empty names, got {list(classes)}")
    return out


async def _run(backend: Backend, requests: list[Request], cache: ReplyCache,
               settings: RunSettings) -> tuple[list[Outcome], RunStats]:
    try:
        return await run_requests(backend, requests, cache, settings)
    finally:
        await backend.aclose()


async def annotate_corpus_async(
    corpus: str | os.PathLike[str],
    backend: Backend,
    *,
    n: int = 20,
    classes: Sequence[str] = DEFAULT_CLASSES,
    preset: str | os.PathLike[str] | AnnotatorPreset | None = None,
    settings: RunSettings | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    ids: Sequence[str] | None = None,
    dry_run: bool = False,
) -> AnnotateReport:
    """Ask ``n`` synthetic annotators for one vote on every item of a prepared corpus and store the votes.

    The coroutine behind :func:`annotate_corpus`, for callers already inside an event loop (Jupyter,
    an async service): ``report = await annotate_corpus_async(corpus, backend, n=20)``. The table,
    audio hashes and files are read and written synchronously (short next to the model calls).

    Args:
        corpus: Folder holding ``corpus.parquet`` (from ``amber2 prepare``).
        backend: The backend that answers (``amber2.annotate.backends`` or
            :class:`amber2.inference.annotator.BundleBackend`).
        n: Annotators per item (1-1000); annotator ``i`` is :func:`amber2.annotate.schedule.annotator`.
        classes: Canonical class names offered to the annotators.
        preset: Annotator preset (name, YAML file or object; default: the shipped ``default``).
        settings: Concurrency, rate limit, budget, retries, progress.
        cache_dir: Reply cache folder (default ``DIR/annotations/cache``).
        ids: Annotate only these items.
        dry_run: Count the calls needed (requests not in the cache, capped by ``max_calls``) and stop.

    Returns:
        The :class:`AnnotateReport` (also written as ``annotations/<source>.report.json``).

    Raises:
        FileNotFoundError: No corpus table in ``corpus``.
        ValueError: Bad ``n``, classes or preset.
    """
    folder = Path(corpus)
    if folder.suffix == ".parquet":
        folder = folder.parent
    table = CorpusTable.read(folder)
    preset_obj = load_preset(preset)
    classes = _check_classes(classes)
    settings = settings or RunSettings()
    items, failures = _items(table, backend, ids)
    requests = build_requests(items, backend, preset_obj, classes, n)
    cache = ReplyCache(cache_dir if cache_dir is not None else folder / "annotations" / "cache")
    report = AnnotateReport(
        corpus=str(folder), backend=backend.name, model=backend.model, identity=backend.identity(),
        preset=f"{preset_obj.name} v{preset_obj.version}", classes=classes, n=int(n), items=len(items) + len(failures),
        requests=len(requests), calls_needed=0, dry_run=dry_run, failures=failures,
    )
    try:
        pending = report.uncached = len(pending_requests(requests, cache))
        report.calls_needed = pending if settings.max_calls is None else min(pending, settings.max_calls)
        if dry_run:
            return report
        log.info("annotate %s: %d items x %d annotators = %d requests, %d not cached", folder, len(items), n,
                 len(requests), pending)
        outcomes, stats = await _run(backend, requests, cache, settings)
    finally:
        cache.close()
    report.stats = stats
    parser = ReplyParser(classes, preset_obj)
    votes: list[SyntheticVote] = []
    answered: list[tuple[str, int]] = []
    lines: list[str] = []
    for o in outcomes:
        r = o.request
        parsed = parser(o.text) if o.text is not None else None
        if o.text is not None:
            answered.append((r.item.id, r.annotator.index))
            report.parse[parsed.how] = report.parse.get(parsed.how, 0) + 1  # type: ignore[union-attr]
            if parsed is not None and parsed.label is not None:
                votes.append(SyntheticVote(r.item.id, r.annotator.index, parsed.label, o.text))
        else:
            report.failures.setdefault(r.item.id, []).append(
                {"annotator": r.annotator.index, "reason": o.reason, "error": o.error})
        if o.note:
            report.notes[r.item.id] = o.note
        lines.append(json.dumps({
            "id": r.item.id, "annotator": r.annotator.index, "temperature": r.annotator.temperature,
            "focus": r.annotator.focus_index, "reply": o.text, "label": None if parsed is None else parsed.label,
            "parse": None if parsed is None else parsed.how, "cached": o.cached, "reason": o.reason,
            "error": o.error, "note": o.note,
        }, ensure_ascii=False))
    report.votes = len(votes)
    new_table, counts = merge_synthetic_votes(table, backend.name, backend.model, votes, answered)
    new_table.info.setdefault("synthetic_sources", {})
    new_table.info["synthetic_sources"][f"{backend.name}:{backend.model}"] = {
        "n": int(n), "preset": report.preset, "classes": classes, "identity": report.identity,
        "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    report.store = counts
    slug = source_slug(backend.name, backend.model)
    ann = folder / "annotations"
    text = "\n".join(lines) + ("\n" if lines else "")
    report.paths = {"corpus": str(new_table.write(folder / "corpus.parquet")),
                    "replies": str(atomic_write_text(ann / f"{slug}.jsonl", text)), "cache": str(cache.path)}
    report.paths["report"] = str(ann / f"{slug}.report.json")
    atomic_write_json(ann / f"{slug}.report.json", report.to_dict())
    log.info("annotate: %d votes from %d requests (%d cached, %d calls); %d item(s) with failures", len(votes),
             len(requests), stats.cached, stats.calls, report.failed_items)
    return report


annotate_corpus = blocking(annotate_corpus_async, name="annotate_corpus", doc="""Ask ``n`` synthetic annotators
for one vote on every item of a prepared corpus and store the votes.

The blocking form of :func:`annotate_corpus_async` (same arguments, same result): it runs the requests in
an event loop of its own, so it cannot be called from inside a running loop (a Jupyter cell): there,
``await annotate_corpus_async(...)``.

Raises:
    RuntimeError: Called from a running event loop.
    FileNotFoundError: No corpus table in ``corpus``.
    ValueError: Bad ``n``, classes or preset.
""")
