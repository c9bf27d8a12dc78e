"""amber2.corpora: corpus readers, the corpus table, folds and the ``amber2 prepare`` summary.

    >>> from amber2.corpora import read_corpus, make_folds
    >>> table = read_corpus("iemocap", "/data/IEMOCAP_full_release")        # doctest: +SKIP

``amber2 prepare`` itself (read, apply a label policy, make folds, write) is
:func:`amber2.workflow.prepare.prepare_corpus`, a layer above label policies.

Readers: :func:`read_iemocap`, :func:`read_msp_podcast`, :func:`read_crema_d`, :func:`read_manifest`.
See ``docs/corpora.md`` for the layouts, the manifest schema, the presets and the folds.
"""

from __future__ import annotations

from amber2.corpora.audio_files import AudioProbe, ensure_audio_file, probe_audio, probe_audio_files
from amber2.corpora.crema_d import CremaDLayoutError, read_crema_d
from amber2.corpora.folds import (
    CREMA_D_EMO_SUPERB_FOLDS,
    EMO_SUPERB_VALIDATION_FOLDS,
    FOLD_SCHEMES,
    IEMOCAP_EMO_SUPERB_SESSIONS,
    FoldError,
    balanced_folds,
    crema_d_emo_superb_folds,
    emo_superb_validation_ids,
    fold_report,
    iemocap_emo_superb_folds,
    leave_one_group_out,
    make_folds,
    official_split,
    speaker_folds,
    validation_ids,
)
from amber2.corpora.iemocap import IemocapLayoutError, read_iemocap
from amber2.corpora.manifest import ManifestError, read_manifest
from amber2.corpora.msp_podcast import MspLayoutError, read_msp_podcast
from amber2.corpora.prepare import CORPUS_DEFAULTS, CORPUS_KINDS, read_corpus
from amber2.corpora.summary import CorpusSummary, summarize
from amber2.corpora.table import CorpusBuilder, CorpusTable, CorpusTableError, ReadIssue

__all__ = [
    "CORPUS_DEFAULTS",
    "CORPUS_KINDS",
    "CREMA_D_EMO_SUPERB_FOLDS",
    "EMO_SUPERB_VALIDATION_FOLDS",
    "FOLD_SCHEMES",
    "IEMOCAP_EMO_SUPERB_SESSIONS",
    "AudioProbe",
    "CorpusBuilder",
    "CorpusSummary",
    "CorpusTable",
    "CorpusTableError",
    "CremaDLayoutError",
    "FoldError",
    "IemocapLayoutError",
    "ManifestError",
    "MspLayoutError",
    "ReadIssue",
    "balanced_folds",
    "crema_d_emo_superb_folds",
    "emo_superb_validation_ids",
    "ensure_audio_file",
    "fold_report",
    "iemocap_emo_superb_folds",
    "leave_one_group_out",
    "make_folds",
    "official_split",
    "probe_audio",
    "probe_audio_files",
    "read_corpus",
    "read_crema_d",
    "read_iemocap",
    "read_manifest",
    "read_msp_podcast",
    "speaker_folds",
    "summarize",
    "validation_ids",
]
