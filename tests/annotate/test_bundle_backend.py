"""The bundle backend: votes drawn from a trained model's distribution at the annotator's temperature."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))

from inference_helpers import ToyAudioEncoder, ToyTextEncoder, make_bundle

from amber2.annotate import annotate_corpus
from amber2.corpora.raters import parse_synthetic_rater
from amber2.corpora.table import CorpusTable
from amber2.inference.annotator import BundleBackend, tempered


def test_tempered_against_hand_values():
    p = np.array([0.5, 0.3, 0.2, 0.0])
    np.testing.assert_allclose(tempered(p, 0.5), np.array([0.25, 0.09, 0.04, 0.0]) / 0.38, atol=1e-15)
    np.testing.assert_allclose(tempered(p, 1.0), p, atol=1e-15)
    assert tempered(p, 0.01)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        tempered(p, 0.0)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from amber2.inference import AmbER2

    enc = {"audio": ToyAudioEncoder(), "text": ToyTextEncoder()}
    path = make_bundle(tmp_path_factory.mktemp("b") / "tiny-model", encoders=enc, hidden=8, fusion_dim=4)
    return AmbER2.from_pretrained(path, device="cpu", encoders=enc)


def test_bundle_votes_follow_the_tempered_distribution(corpus, model, tmp_path):
    backend = BundleBackend(model, seed=1)
    assert backend.model == "tiny-model" and backend.uses_audio
    rep = annotate_corpus(corpus, backend, n=200)
    assert rep.stats.failed == 0 and rep.votes == 6 * 200 and rep.parse == {"exact": 1200}
    t = CorpusTable.read(corpus)
    syn = t.votes[t.votes["kind"] == "synthetic"]
    preds = {p.id: p for p in model.predict([str(corpus / "audio" / f"u{i}.wav") for i in range(6)],
                                           text=[None if i == 1 else f"sentence number {i}" for i in range(6)],
                                           ids=[f"u{i}" for i in range(6)])}
    from amber2.annotate import load_preset, schedule

    temps = [a.temperature for a in schedule(200, load_preset())]
    for item in ("u0", "u1"):
        v = syn[syn["id"] == item]
        idx = np.array([parse_synthetic_rater(r).index for r in v["rater"]])
        labels = np.array([lab[0] for lab in v["labels"]])
        expected = np.mean([tempered(np.array(preds[item].probs), temps[i]) for i in idx], axis=0)
        freq = np.array([(labels == c).mean() for c in model.classes])
        # 200 draws: each frequency within 4 standard errors of its expectation
        se = np.sqrt(expected * (1 - expected) / 200) + 1e-3
        assert (np.abs(freq - expected) <= 4 * se).all(), (item, freq, expected)
    # the same seed and annotators give the same votes without the cache
    again = annotate_corpus(corpus, BundleBackend(model, seed=1), n=200, cache_dir=tmp_path / "fresh")
    t2 = CorpusTable.read(corpus)
    s2 = t2.votes[t2.votes["kind"] == "synthetic"].sort_values(["id", "rater"])
    s1 = syn.sort_values(["id", "rater"])
    assert again.stats.cached == 0 and s1["labels"].tolist() == s2["labels"].tolist()
