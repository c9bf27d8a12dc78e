"""Front doors: :func:`read_corpus` (any reader by name) and :func:`prepare_corpus` (``amber2 prepare``).

``prepare_corpus`` reads a corpus, writes ``corpus.parquet``, applies a label policy, makes the
corpus's default folds, and writes the summary a researcher checks before training::

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
pairs a new ``corpus.parquet`` with an old ``summary.json`` or ``folds.csv``.

Defaults per corpus (:data:`CORPUS_DEFAULTS`):

============  =====================  =================================================
corpus        label policy           folds
============  =====================  =================================================
iemocap       ``iemocap-4class``     leave one session out (``group``)
msp-podcast   ``msp-podcast-8class`` the paper's 5 equal folds balanced for ambiguity and class
crema-d       ``crema-d-voice``      EMO-SUPERB actor folds
manifest      ``eq1``                5 balanced folds, speakers disjoint when every item has one
============  =====================  =================================================
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from amber2.corpora.table import PREPARED, PREPARED_POLICY, CorpusTable
from amber2.utils.integrity import mark_incomplete, write_checksums
from amber2.utils.io import atomic_write_json, atomic_write_text
from amber2.utils.logging import get_logger

if TYPE_CHECKING:
    from amber2.corpora.summary import CorpusSummary
    from amber2.labels import LabelPolicy, LabelSet

__all__ = [
    "CORPUS_DEFAULTS", "CORPUS_KINDS", "CorpusDefaults", "PrepareError", "PrepareResult", "corpus_kind",
    "prepare_corpus", "read_corpus",
]

log = get_logger(__name__)

CORPUS_KINDS: tuple[str, ...] = ("iemocap", "msp-podcast", "crema-d", "manifest")
_ALIASES = {"iemocap": "iemocap", "msp-podcast": "msp-podcast", "msp": "msp-podcast",
            "msppodcast": "msp-podcast", "msp_podcast": "msp-podcast", "crema-d": "crema-d",
            "cremad": "crema-d", "crema_d": "crema-d", "crema": "crema-d", "manifest": "manifest"}


class PrepareError(RuntimeError):
    """``prepare_corpus`` could not finish (the message says what was written and what failed)."""


@dataclass(frozen=True)
class CorpusDefaults:
    """Default label policy and fold scheme of a corpus kind."""

    policy: str
    folds: str
    speakers_disjoint: bool = False
    alternatives: tuple[str, ...] = ()


#: Defaults per corpus kind; ``alternatives`` are the other presets that fit the corpus.
CORPUS_DEFAULTS: dict[str, CorpusDefaults] = {
    "iemocap": CorpusDefaults("iemocap-4class", "leave-one-group-out",
                              alternatives=("iemocap-emo-superb", "iemocap-slt2022", "iemocap-aer-llm",
                                            "iemocap-ertk")),
    "msp-podcast": CorpusDefaults("msp-podcast-8class", "balanced",
                                  alternatives=("msp-podcast-8class-all-inclusive", "msp-podcast-4class")),
    "crema-d": CorpusDefaults("crema-d-voice", "crema-d-emo-superb",
                              alternatives=("crema-d-face", "crema-d-audiovisual")),
    "manifest": CorpusDefaults("eq1", "balanced", speakers_disjoint=True),
}


def corpus_kind(kind: str) -> str:
    """Canonical corpus kind (``iemocap``, ``msp-podcast``, ``crema-d``, ``manifest``).

    Raises:
        ValueError: Unknown kind.
    """
    key = str(kind).strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown corpus kind {kind!r}; use one of {', '.join(CORPUS_KINDS)}")
    return _ALIASES[key]


def _reader(kind: str) -> Callable[..., CorpusTable]:
    if kind == "iemocap":
        from amber2.corpora.iemocap import read_iemocap

        return read_iemocap
    if kind == "msp-podcast":
        from amber2.corpora.msp_podcast import read_msp_podcast

        return read_msp_podcast
    if kind == "crema-d":
        from amber2.corpora.crema_d import read_crema_d

        return read_crema_d
    from amber2.corpora.manifest import read_manifest

    return read_manifest


def read_corpus(kind: str, root: str | os.PathLike[str], **options: Any) -> CorpusTable:
    """Read a corpus with the reader of ``kind``.

    Args:
        kind: ``iemocap`` | ``msp-podcast`` | ``crema-d`` | ``manifest`` (aliases: ``msp``, ``cremad``).
        root: The release folder (a manifest file for ``manifest``).
        **options: Reader options: ``check_audio``, ``workers``, ``progress`` for all;
            ``sessions`` (IEMOCAP); ``votes`` (``auto``/``detailed``/``raw``) and ``read_transcripts``
            (MSP-Podcast); ``modes`` and ``audio_dir`` (CREMA-D); ``name`` (manifest).

    Returns:
        The corpus table.

    Raises:
        ValueError: Unknown kind, or an option the reader does not take.
    """
    import inspect

    k = corpus_kind(kind)
    fn = _reader(k)
    accepted = set(inspect.signature(fn).parameters) - {"root", "path"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"the {k} reader takes no option(s) {unknown}; it takes {sorted(accepted)}")
    return fn(root, **options)


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
        kind: Corpus kind (see :func:`read_corpus`).
        root: Release folder (or manifest file).
        out: Output folder (created).
        policy: Label policy: a preset name, a JSON/YAML policy file, a
            :class:`~amber2.labels.LabelPolicy`, ``"none"`` for no targets, or None for the corpus's
            default (:data:`CORPUS_DEFAULTS`).
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
        **reader_options: Passed to the reader (see :func:`read_corpus`).

    Returns:
        A :class:`PrepareResult`.

    Raises:
        ValueError: Unknown kind or reader option.
        PrepareError: The label policy cannot be applied (``corpus.parquet`` is written first, so
            the read is not lost).
    """
    from amber2.corpora.folds import FoldError, make_folds, official_split
    from amber2.corpora.summary import summarize

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
    from amber2.labels import load_policy

    return load_policy(spec)


def _csv(series: pd.Series, column: str) -> str:
    from amber2.utils.csvsafe import escape_frame

    frame = pd.DataFrame({"id": series.index.astype(str), column: series.to_numpy()})
    return escape_frame(frame).to_csv(index=False, lineterminator="\n")
