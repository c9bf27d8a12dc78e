"""Fixtures of the annotate tests: a small prepared corpus with audio, and the fake OpenAI server."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fake_openai import FakeState, serve_in_thread  # noqa: E402

SECRET = "sk-test-SECRET-0123456789abcdef"


def write_corpus(folder: Path, n: int = 6, *, seconds: float = 0.5, sr: int = 16000) -> Path:
    """A prepared corpus: ``n`` items with WAV files, transcripts (item 1 has none), 3 human votes each."""
    import soundfile as sf

    from amber2.corpora.table import CorpusBuilder

    folder.mkdir(parents=True, exist_ok=True)
    audio = folder / "audio"
    audio.mkdir(exist_ok=True)
    b = CorpusBuilder("toy", folder, "tests")
    labels = ["angry", "sad", "happy", "neutral"]
    rng = np.random.default_rng(0)
    for i in range(n):
        t = np.arange(int(seconds * sr)) / sr
        x = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.01 * rng.standard_normal(t.size)
        path = audio / f"u{i}.wav"
        sf.write(path, x.astype(np.float32), sr, subtype="PCM_16")
        b.add_item(f"u{i}", speaker=f"s{i % 2}", audio_path=path, duration=seconds,
                   transcript=None if i == 1 else f"sentence number {i}", audio_status="ok")
        for r in range(3):
            b.add_vote(f"u{i}", rater=f"h{r}", labels=[labels[(i + r) % 4]])
    b.build().write(folder / "corpus.parquet")
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def fake_server():
    with serve_in_thread(FakeState()) as server:
        yield server


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AMBER2_TEST_KEY", SECRET)
    return "AMBER2_TEST_KEY"
