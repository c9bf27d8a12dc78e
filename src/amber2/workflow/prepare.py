"""``amber2 prepare`` as a function: read a corpus, write its table, targets summary and folds.

:func:`prepare_corpus` reads a corpus (:func:`amber2.corpora.prepare.read_corpus`), writes
``corpus.parquet``, applies a label policy, makes the corpus's default folds, and writes the summary a
researcher checks before training::

    DIR/corpus.parquet   the corpus table (every vote; CorpusTable.read)
    DIR/summary.json     counts: items per class, raters per item, entropy histogram, dropped by
                         reason, audio status, missing transcripts, LFS pointers, duplicate ids, issues
    DIR/summary.md       the same for people
    DIR/folds.csv        id,fold (test fold 0..k-1, -1 = in no fold) for the chosen scheme
    DIR/split.csv        id,split (MSP-Podcast official partitions, when the release gives them)
    DIR/policy.json      the label policy itself, so a corpus prepared with a custom policy (the demo's
                         ``demo-4class``) trains without knowing its name
    DIR/prepared.json    SHA-256 of each file above, written last

Each file is written atomically, and the folder as one unit: ``prepared.json`` is first rewritten as
"incomplete" (and the previous run's files that this run may not rewrite are removed), and only when
every file is written does it list their checksums. Reading the folder
(:meth:`~amber2.corpora.table.CorpusTable.read`) verifies them, so a prepare killed mid-write never
pairs a new ``corpus.parquet`` with an old ``summary.json`` or ``folds.csv``. The defaults per corpus
kind are :data:`amber2.corpora.prepare.CORPUS_DEFAULTS`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from amber2.corpora.folds import FoldError, make_folds, official_split
from amber2.corpora.prepare import CORPUS_DEFAULTS, corpus_kind, read_corpus
from amber2.corpora.summary import CorpusSummary, summarize
from amber2.corpora.table import PREPARED, PREPARED_POLICY, CorpusTable
from amber2.labels import LabelPolicy, LabelSet, load_policy
from amber2.utils.csvsafe import escape_frame
from amber2.utils.integrity import mark_incomplete, write_checksums
from amber2.utils.io import atomic_write_json, atomic_write_text
from amber2.utils.logging import get_logger

__all__ = ["PrepareError", "PrepareResult", "prepare_corpus"]

log = get_logger(__name__)


class PrepareError(RuntimeError):
    """``prepare_corpus`` could not finish (the message says what was written and what failed)."""


@dataclass
class PrepareResult:
    """What :func:`prepare_corpus` made.

    Attributes:
        out: The output folder.
        table: The corpus table.
        labels: The targets under the policy (None if no policy was applied).
        folds: The fold assignment (None if folds could not be made; see ``summary.folds``).
        split: Official partition per item (MSP-Podcast) or None.
        summary: The summary.
        paths: Name -> path of each file written.
    """

    out: Path
    table: CorpusTable
    labels: LabelSet | None
    folds: pd.Series | None
    split: pd.Series | None
    summary: CorpusSummary
    paths: dict[str, Path] = field(default_factory=dict)


def prepare_corpus(
    kind: str,
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    policy: str | os.PathLike[str] | LabelPolicy | None = None,
    check_audio: bool = True,
    folds: str | None = None,
    k: int = 5,
    seed: int = 0,
    speakers_disjoint: bool | None = None,
    n_bins: int = 5,
    workers: int | None = None,
    progress: bool = False,
    **reader_options: Any,
) -> PrepareResult:
    """Read a corpus and write its table, targets summary and folds into ``out``.

    Args:
        kind: Corpus kind (see :func:`~amber2.corpora.prepare.read_corpus`).
        root: Release folder (or manifest file).
        out: Output folder (created).
        policy: Label policy: a preset name, a JSON/YAML policy file, a
            :class:`~amber2.labels.LabelPolicy`, ``"none"`` for no targets, or None for the corpus's
            default (:data:`~amber2.corpora.prepare.CORPUS_DEFAULTS`).
        check_audio: Check each audio file (status, LFS pointer, duration); False is fast.
        folds: Fold scheme (:func:`amber2.corpora.folds.make_folds`), ``"none"``, or None for the
            corpus's default.
        k: Folds for ``balanced`` / ``speaker-k``.
        seed: Fold seed.
        speakers_disjoint: ``balanced`` folds with whole speakers (None = the corpus's default; for a
            manifest: when every item has a speaker).
        n_bins: Entropy bins of the ``balanced`` scheme.
        workers: Threads for the audio check.
        progress: Show progress bars.
        **reader_options: Passed to the reader (see :func:`~amber2.corpora.prepare.read_corpus`).

    Returns:
        A :class:`PrepareResult`.

    Raises:
        ValueError: Unknown kind or reader option.
        PrepareError: The label policy cannot be applied (``corpus.parquet`` is written first, so
            the read is not lost).
    """
    kk = corpus_kind(kind)
    defaults = CORPUS_DEFAULTS[kk]
    outdir = Path(out).expanduser()
    table = read_corpus(kk, root, check_audio=check_audio, workers=workers, progress=progress, **reader_options)
    mark_incomplete(outdir, PREPARED)
    for stale in ("folds.csv", "split.csv", PREPARED_POLICY):
        (outdir / stale).unlink(missing_ok=True)
    paths: dict[str, Path] = {"corpus": table.write(outdir / "corpus.parquet")}

    labels = None
    pol = _policy(defaults.policy if policy is None else policy)
    if pol is not None:
        try:
            labels = pol.apply(table)
        except Exception as exc:
            raise PrepareError(f"label policy {pol.name!r} cannot be applied to this {kk} table: {exc} "
                               f"({paths['corpus']} was written; rerun with another --policy)") from exc

    scheme = defaults.folds if folds is None else folds
    fold_series: pd.Series | None = None
    fold_error: str | None = None
    if str(scheme).lower() != "none":
        disjoint = speakers_disjoint
        if disjoint is None:
            disjoint = defaults.speakers_disjoint and bool(table.items["speaker"].notna().all()) and len(table) > 0
        try:
            fold_series = make_folds(table, scheme, k=k, seed=seed, labels=labels,
                                     speakers_disjoint=disjoint, n_bins=n_bins)
        except FoldError as exc:
            fold_error = str(exc)
            log.warning("no folds written: %s", exc)
    split = None
    if "split" in table.items.columns and table.items["split"].notna().any():
        split = official_split(table)

    summary = summarize(table, labels, fold_series, fold_error=fold_error)
    summary.extra["prepare"] = {
        "kind": kk, "root": os.fspath(Path(root).expanduser().resolve()), "check_audio": check_audio,
        "policy": None if pol is None else pol.name, "folds": None if fold_series is None else fold_series.name,
        "k": k, "seed": seed, "reader_options": {k2: str(v) for k2, v in reader_options.items()},
        "table_fingerprint": table.fingerprint(),
        "label_fingerprint": None if labels is None else labels.fingerprint(),
    }
    if fold_series is not None:
        paths["folds"] = atomic_write_text(outdir / "folds.csv", _csv(fold_series, "fold"))
    if split is not None:
        paths["split"] = atomic_write_text(outdir / "split.csv", _csv(split, "split"))
    paths["summary_json"] = atomic_write_json(outdir / "summary.json", summary.to_dict())
    paths["summary_md"] = atomic_write_text(outdir / "summary.md", summary.to_markdown() + "\n")
    if pol is not None:
        paths["policy"] = pol.save(outdir / PREPARED_POLICY)
    paths["prepared"] = write_checksums(outdir, [p.name for p in paths.values()], PREPARED)
    log.info("prepared %s: %d items -> %s", kk, len(table), outdir)
    return PrepareResult(outdir, table, labels, fold_series, split, summary, paths)


def _policy(spec: Any) -> LabelPolicy | None:
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("none", "")):
        return None
    return load_policy(spec)


def _csv(series: pd.Series, column: str) -> str:
    frame = pd.DataFrame({"id": series.index.astype(str), column: series.to_numpy()})
    return escape_frame(frame).to_csv(index=False, lineterminator="\n")
