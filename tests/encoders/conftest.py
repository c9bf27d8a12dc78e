"""Shared fixtures of the encoder tests: tiny random models saved once per session, toy corpora."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_models import make_corpus, make_tiny_audio_model, make_tiny_text_model


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny wav2vec2 (GroupNorm and LayerNorm variants) and BERT folders."""
    root = tmp_path_factory.mktemp("tiny_models")
    return {
        "w2v_group": make_tiny_audio_model(root / "w2v_group", "wav2vec2", "group"),
        "w2v_layer": make_tiny_audio_model(root / "w2v_layer", "wav2vec2", "layer", seed=1),
        "bert": make_tiny_text_model(root / "bert"),
    }


@pytest.fixture(scope="session")
def tiny_spec(tiny_models: dict[str, Path]) -> dict[str, dict[str, object]]:
    """A spec with the tiny GroupNorm wav2vec2 and the tiny BERT, on CPU in float32."""
    return {
        "audio": {"kind": "hf-audio", "model": str(tiny_models["w2v_group"]), "dtype": "float32"},
        "text": {"kind": "hf-text", "model": str(tiny_models["bert"]), "dtype": "float32"},
    }


@pytest.fixture
def corpus_builder(tmp_path: Path):
    """A CorpusBuilder pre-filled with six good items (call ``.build()`` after adding more)."""
    return make_corpus(tmp_path / "audio")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
