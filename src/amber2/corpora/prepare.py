"""Front door :func:`read_corpus` (any reader by name), the corpus kinds and their defaults.

:func:`amber2.workflow.prepare.prepare_corpus` (``amber2 prepare``) reads a corpus with it and applies
the defaults of its kind (:data:`CORPUS_DEFAULTS`):

============  =====================  =================================================
corpus        label policy           folds
============  =====================  =================================================
iemocap       ``iemocap-4class``     leave one session out (``group``)
msp-podcast   ``msp-podcast-8class`` the paper's 5 equal folds balanced for ambiguity and class
crema-d       ``crema-d-voice``      EMO-SUPERB actor folds
manifest      ``eq1``                5 balanced folds, speakers disjoint when every item has one
============  =====================  =================================================

The policies are named here, not imported: label policies are a layer above the corpora.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amber2.corpora.table import CorpusTable

__all__ = ["CORPUS_DEFAULTS", "CORPUS_KINDS", "CorpusDefaults", "corpus_kind", "read_corpus"]

CORPUS_KINDS: tuple[str, ...] = ("iemocap", "msp-podcast", "crema-d", "manifest")
_ALIASES = {"iemocap": "iemocap", "msp-podcast": "msp-podcast", "msp": "msp-podcast",
            "msppodcast": "msp-podcast", "msp_podcast": "msp-podcast", "crema-d": "crema-d",
            "cremad": "crema-d", "crema_d": "crema-d", "crema": "crema-d", "manifest": "manifest"}


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
