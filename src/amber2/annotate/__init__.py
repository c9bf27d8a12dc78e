"""Synthetic annotators: audio-language models (or any backend) as extra raters of a corpus.

    >>> from amber2.annotate import annotate_corpus, RunSettings                    # doctest: +SKIP
    >>> from amber2.annotate.backends.openai import OpenAIBackend                   # doctest: +SKIP
    >>> backend = OpenAIBackend("Qwen/Qwen2-Audio-7B-Instruct", "http://localhost:8000/v1")  # doctest: +SKIP
    >>> report = annotate_corpus("prepared/iemocap", backend, n=20,
    ...                          settings=RunSettings(max_in_flight=64))           # doctest: +SKIP

The pieces: :mod:`~amber2.annotate.prompts` (presets, prompts), :mod:`~amber2.annotate.schedule`
(annotator i's focus and temperature), :mod:`~amber2.annotate.parse` (reply -> class),
:mod:`~amber2.annotate.cache` (content-keyed replies), :mod:`~amber2.annotate.runner` (bounded, retried,
rate-limited calls), :mod:`~amber2.annotate.store` (votes in the corpus table),
:mod:`~amber2.annotate.corpus` (the whole stage). See ``docs/annotators.md``.
"""

from __future__ import annotations

from amber2.annotate.backends.base import Backend, BackendError, Item, Reply, Request
from amber2.annotate.cache import ReplyCache, reply_key
from amber2.annotate.corpus import (
    DEFAULT_CLASSES,
    AnnotateReport,
    annotate_corpus,
    annotate_corpus_async,
    build_requests,
    source_slug,
)
from amber2.annotate.parse import ParsedReply, ReplyParser
from amber2.annotate.prompts import AnnotatorPreset, Prompt, build_prompt, load_preset
from amber2.annotate.runner import Outcome, RunSettings, RunStats, run_requests
from amber2.annotate.schedule import Annotator, annotator, schedule, temperature

__all__ = [
    "DEFAULT_CLASSES",
    "AnnotateReport",
    "Annotator",
    "AnnotatorPreset",
    "Backend",
    "BackendError",
    "Item",
    "Outcome",
    "ParsedReply",
    "Prompt",
    "Reply",
    "ReplyCache",
    "ReplyParser",
    "Request",
    "RunSettings",
    "RunStats",
    "annotate_corpus",
    "annotate_corpus_async",
    "annotator",
    "build_prompt",
    "build_requests",
    "load_preset",
    "reply_key",
    "run_requests",
    "schedule",
    "source_slug",
    "temperature",
]
