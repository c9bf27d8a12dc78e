"""amber2: AmbER², dual (rater + modality) ambiguity-aware emotion recognition from speech and text.

The public API, by pipeline stage (heavy modules load on first use)::

    read_corpus, make_folds, CorpusTable            corpora -> one table of every rater's vote
    annotate_corpus, annotate_corpus_async          synthetic annotators (ALMs) -> votes in the table
    get_policy, load_policy, LabelPolicy            votes -> target distributions
    analyse_proxies                                 can the synthetic votes stand in for human ones?
    extract, load_embeddings, build_encoders        audio/text -> embeddings (cached)
    AmbER2Model, ModelConfig                        heads + gated fusion
    LabeledSet, run_protocol, fit_model, ...        training: the paper's protocol, one model
    evaluate                                        metrics over whole sets
    load, AmbER2, save_bundle, AmbER2Estimator      using a trained model
    prepare_corpus, annotate_prepared, train_from_config, run_demo
                                                    whole jobs (amber2.workflow, above every stage)
"""

from __future__ import annotations

import importlib
from typing import Any

from amber2._version import __version__

_EXPORTS: dict[str, str] = {
    # corpora and labels
    "CorpusTable": "amber2.corpora.table",
    "read_corpus": "amber2.corpora.prepare",
    "prepare_corpus": "amber2.workflow.prepare",
    "make_folds": "amber2.corpora.folds",
    "LabelPolicy": "amber2.labels",
    "LabelSet": "amber2.labels",
    "get_policy": "amber2.labels",
    "load_policy": "amber2.labels",
    "list_policies": "amber2.labels",
    "analyse_proxies": "amber2.labels.proxies",
    # synthetic annotators
    "annotate_corpus": "amber2.annotate",
    "annotate_corpus_async": "amber2.annotate",
    "annotate_prepared": "amber2.workflow.annotate",
    # encoders
    "extract": "amber2.encoders",
    "load_embeddings": "amber2.encoders",
    "build_encoders": "amber2.encoders",
    # model and training
    "AmbER2Model": "amber2.model.heads",
    "ModelConfig": "amber2.model.heads",
    "LabeledSet": "amber2.training.data",
    "TrainConfig": "amber2.training.config",
    "load_config": "amber2.training.config",
    "run_protocol": "amber2.training.protocol",
    "paired_comparison": "amber2.training.protocol",
    "fit_model": "amber2.training.fit",
    "train_from_config": "amber2.workflow.run",
    "write_run": "amber2.workflow.run",
    "load_run": "amber2.training.outputs",
    "evaluate_model": "amber2.training.evaluate",
    "save_checkpoint": "amber2.training.checkpoint",
    "load_checkpoint": "amber2.training.checkpoint",
    # metrics
    "evaluate": "amber2.metrics",
    "per_bin_metrics": "amber2.metrics",
    # inference
    "load": "amber2.inference",
    "AmbER2": "amber2.inference",
    "save_bundle": "amber2.inference",
    "AmbER2Estimator": "amber2.inference",
    "export_onnx": "amber2.inference",
    # the simulated corpus; the demo end to end (workflow)
    "generate_corpus": "amber2.demo.synth",
    "run_demo": "amber2.workflow.demo",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'amber2' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
