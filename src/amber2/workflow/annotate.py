"""``amber2 annotate`` as a job on a prepared corpus: the votes, then a summary that says so.

:func:`amber2.annotate.annotate_corpus` stores synthetic votes in ``DIR/corpus.parquet`` (and keeps
``DIR/prepared.json``'s checksum of it current). A folder written by ``amber2 prepare`` also holds
``summary.json`` / ``summary.md``, counted from the table before the votes were added;
:func:`annotate_prepared` runs the annotation and then :func:`refresh_prepared_summary`, which counts
the summary again from the new table (votes per kind now include ``synthetic``; targets under the
prepared ``policy.json``), keeps what annotation cannot change (the folds, the prepare settings),
records the synthetic sources under ``synthetic_votes`` and updates the checksums of both files, so
``CorpusTable.read(DIR)`` still verifies.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from amber2.annotate import AnnotateReport, annotate_corpus_async
from amber2.annotate.backends.base import Backend
from amber2.corpora.summary import summarize
from amber2.corpora.table import PREPARED, PREPARED_POLICY, CorpusTable
from amber2.labels import load_policy, synthetic_sources
from amber2.utils.aio import blocking
from amber2.utils.integrity import update_checksum
from amber2.utils.io import atomic_write_json, atomic_write_text, read_json
from amber2.utils.logging import get_logger

__all__ = ["annotate_prepared", "annotate_prepared_async", "refresh_prepared_summary"]

log = get_logger(__name__)

#: Summary files of a prepared folder that annotation makes stale.
SUMMARY_FILES = ("summary.json", "summary.md")


def _folder(corpus: str | os.PathLike[str]) -> Path:
    folder = Path(corpus)
    return folder.parent if folder.suffix == ".parquet" else folder


def refresh_prepared_summary(corpus: str | os.PathLike[str]) -> Path | None:
    """Count ``DIR/summary.json`` and ``summary.md`` again from the table as it is now.

    Args:
        corpus: A folder written by ``amber2 prepare`` (or its ``corpus.parquet``).

    Returns:
        The path of ``summary.json``, or None when the folder has none (nothing to refresh).

    Raises:
        CorpusTableError: The folder does not verify against ``prepared.json``.
    """
    folder = _folder(corpus)
    path = folder / "summary.json"
    if not path.is_file():
        return None
    old: dict[str, Any] = read_json(path)
    table = CorpusTable.read(folder)  # verifies prepared.json first
    policy = load_policy(folder / PREPARED_POLICY) if (folder / PREPARED_POLICY).is_file() else None
    labels = policy.apply(table) if policy is not None else None
    summary = summarize(table, labels)
    summary.folds = old.get("folds")  # annotation adds votes, never items: the folds stay as prepared
    fresh = set(summary.to_dict())
    summary.extra.update({k: v for k, v in old.items() if k not in fresh})
    prepare = summary.extra.get("prepare")
    if isinstance(prepare, dict):
        prepare["table_fingerprint"] = table.fingerprint()
        prepare["label_fingerprint"] = None if labels is None else labels.fingerprint()
    runs = table.info.get("synthetic_sources", {})
    summary.extra["synthetic_votes"] = {
        src: {"votes": n, **(runs.get(src) or {})} for src, n in synthetic_sources(table).items()
    }
    atomic_write_json(path, summary.to_dict())
    atomic_write_text(folder / "summary.md", summary.to_markdown() + "\n")
    for name in SUMMARY_FILES:
        update_checksum(folder, PREPARED, name)
    log.info("summary of %s refreshed (%d synthetic source(s))", folder, len(summary.extra["synthetic_votes"]))
    return path


async def annotate_prepared_async(corpus: str | os.PathLike[str], backend: Backend,
                                  **options: Any) -> AnnotateReport:
    """Annotate a prepared corpus and refresh its summary, inside a running event loop (Jupyter): ``await`` it.

    Args:
        corpus: The prepared folder (or its ``corpus.parquet``).
        backend: The backend that answers.
        **options: Passed to :func:`amber2.annotate.annotate_corpus_async` (``n``, ``classes``, ``preset``,
            ``settings``, ``cache_dir``, ``ids``, ``dry_run``).

    Returns:
        The :class:`~amber2.annotate.AnnotateReport`; ``paths["summary"]`` when the summary was refreshed.
    """
    report = await annotate_corpus_async(corpus, backend, **options)
    return _after(corpus, report)


annotate_prepared = blocking(annotate_prepared_async, name="annotate_prepared", doc="""Annotate a prepared corpus
and refresh its summary (what ``amber2 annotate`` runs).

The blocking form of :func:`annotate_prepared_async` (same arguments and result); inside a running event
loop, ``await annotate_prepared_async(...)``.
""")


def _after(corpus: str | os.PathLike[str], report: AnnotateReport) -> AnnotateReport:
    if not report.dry_run:
        summary = refresh_prepared_summary(corpus)
        if summary is not None:
            report.paths["summary"] = str(summary)
    return report
