"""Audio and text encoders, presets, the embedding cache and extraction.

Typical use::

    from amber2.encoders import extract, load_embeddings

    report = extract("corpora/iemocap", preset="paper", cache_dir="corpora/iemocap/embeddings")
    emb = load_embeddings("corpora/iemocap/embeddings")   # EmbeddingSet(ids, features, failed, spec)
    emb.features["audio"].shape                            # (n, 768)

Encoders on new recordings (model bundles, the web service)::

    from amber2.encoders import build_encoders, load_audio

    enc = build_encoders("offline")
    a = enc["audio"].encode([load_audio("clip.wav", enc["audio"].sample_rate)], enc["audio"].sample_rate)
    t = enc["text"].encode(["I can't believe it."])
"""

from __future__ import annotations

from amber2.encoders.audio import AudioError, load_audio
from amber2.encoders.base import AudioEncoder, Encoder, EncoderError, TextEncoder
from amber2.encoders.cache import EncoderStore, merge_caches
from amber2.encoders.embeddings import EmbeddingSet, load_embeddings
from amber2.encoders.extract import ExtractReport, ModalityReport, extract, parse_shard, read_table
from amber2.encoders.presets import PRESETS, build_encoder, build_encoders, resolve_spec

__all__ = [
    "PRESETS",
    "AudioEncoder",
    "AudioError",
    "EmbeddingSet",
    "Encoder",
    "EncoderError",
    "EncoderStore",
    "ExtractReport",
    "ModalityReport",
    "TextEncoder",
    "build_encoder",
    "build_encoders",
    "extract",
    "load_audio",
    "load_embeddings",
    "merge_caches",
    "parse_shard",
    "read_table",
    "resolve_spec",
]
