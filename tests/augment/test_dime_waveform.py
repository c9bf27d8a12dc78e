"""DiME-Aug on waveforms: hand-computed samples, provenance, embedding through the cache, named features."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from amber2.augment import CorpusAudio, DimeOptions, augment_folds, mix_waveforms
from amber2.corpora.table import CorpusTable
from amber2.encoders import build_encoder, extract, load_embeddings

SR = 16000
CLASSES = [0] * 6 + [1] * 3 + [2] * 2 + [3]


def test_mix_waveforms_by_hand():
    x1 = np.array([0.0, 1.0, -1.0, 0.5], dtype=np.float32)
    x2 = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    np.testing.assert_allclose(mix_waveforms(x1, x2, 0.25), [0.25, 0.75, -0.75])  # over the shorter length
    np.testing.assert_allclose(mix_waveforms(x2, x1, 0.0), x2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("dime_corpus")
    rng = np.random.default_rng(0)
    ids, paths = [], []
    for k, c in enumerate(CLASSES):
        t = np.arange(int(SR * rng.uniform(0.4, 0.7))) / SR
        y = 0.3 * np.sin(2 * np.pi * (120 + 40 * c + 5 * k) * t) * (1 + 0.2 * np.sin(2 * np.pi * 3 * t))
        y = (y + 0.01 * rng.normal(size=len(t))).astype(np.float32)
        p = root / "audio" / f"it{k:02d}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, y, SR, subtype="FLOAT")
        ids.append(f"it{k:02d}")
        paths.append(str(p))
    items = pd.DataFrame({"id": ids, "audio_path": paths, "transcript": [f"sentence {k}" for k in range(len(ids))],
                          "audio_status": "ok", "speaker": [f"s{k % 3}" for k in range(len(ids))]})
    votes = pd.DataFrame({"id": ids, "rater": "r1", "kind": "external", "labels": [[str(c)] for c in CLASSES]})
    CorpusTable.from_frames(items, votes, {"corpus": "toy"}).write(root / "corpus.parquet")
    extract(root, preset="offline", text_encoder=None, cache_dir=root / "embeddings", num_workers=0)
    emb = load_embeddings(root / "embeddings", ids)
    Y = np.full((len(ids), 4), 0.1)
    Y[np.arange(len(ids)), CLASSES] = 0.7
    X = {"audio": emb.features["audio"], "text": rng.normal(size=(len(ids), 3)).astype(np.float32)}
    return root, ids, X, Y


def corpus_audio(root, work):
    ca = CorpusAudio.from_paths(root, root / "embeddings", work)
    ca.encoders["text"] = {"spec": {"kind": "hf-text"}}  # a text modality recorded by the cache
    return ca


def test_waveform_clips_equal_hand_computed_samples_and_are_embedded(corpus, tmp_path):
    root, ids, X, Y = corpus
    opts = DimeOptions(enabled=True, space="waveform", ratio=0.5, seed=3)
    aug = augment_folds(X, Y, ids, {0: np.arange(len(ids))}, opts, corpus=corpus_audio(root, tmp_path / "w"))
    assert len(aug.ids) == 0 + 1 + 2  # floor(0.5 x 6) = 3 per class; classes 1-3 have 3, 2, 1
    assert not aug.failed
    enc = build_encoder("egemaps", modality="audio")
    pos = {i: k for k, i in enumerate(ids)}
    for j, row in aug.provenance.iterrows():
        clip, rate = sf.read(row["clip"], dtype="float32")
        assert rate == SR
        x1, _ = sf.read(root / "audio" / f"{row.parent1}.wav", dtype="float32")
        x2, _ = sf.read(root / "audio" / f"{row.parent2}.wav", dtype="float32")
        n = min(len(x1), len(x2))
        np.testing.assert_allclose(clip, x1[:n] + row.alpha * (x2[:n] - x1[:n]), rtol=1e-6, atol=1e-7)
        prov = json.loads((tmp_path / "w" / "clips" / f"{row.id}.json").read_text())
        assert (prov["parent1"], prov["parent2"], prov["fold"], prov["seed"]) == (row.parent1, row.parent2, 0, 3)
        assert prov["alpha"] == pytest.approx(row.alpha)
        # audio: the clip through the same encoder; text: the chosen parent's transcript, hence its vector
        np.testing.assert_allclose(aug.X["audio"][j], enc.encode([clip], SR)[0], rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(aug.X["text"][j], X["text"][pos[row.text_from]])
        assert row.text_from == (row.parent1 if row.alpha < 0.5 else row.parent2)
    store = load_embeddings(tmp_path / "w" / "embeddings", aug.ids)
    assert sorted(store.ids) == sorted(aug.ids)


def test_missing_parent_audio_is_a_per_item_failure(corpus, tmp_path):
    root, ids, X, Y = corpus
    work = tmp_path / "w"
    ca = corpus_audio(root, work)
    ca.audio["it11"] = str(tmp_path / "gone.wav")  # the only class-3 item: all its mixes fail
    aug = augment_folds(X, Y, ids, {0: np.arange(len(ids))}, DimeOptions(enabled=True, space="waveform", ratio=0.5),
                        corpus=ca)
    assert len(aug.failed) == 2 and all("it11" in r for r in aug.failed.values())
    assert len(aug.ids) == 1 and aug.summary([str(c) for c in range(4)])["folds"]["0"]["failed"] == 2


def test_named_feature_set_from_the_audio(corpus, tmp_path):
    root, ids, X, Y = corpus
    opts = dict(enabled=True, ratio=0.5, seed=1)
    by_name = augment_folds(X, Y, ids, {0: np.arange(len(ids))}, DimeOptions(features="egemaps", **opts),
                            corpus=corpus_audio(root, tmp_path / "w"))
    by_modality = augment_folds(X, Y, ids, {0: np.arange(len(ids))}, DimeOptions(features="audio", **opts))
    # the cache's audio modality is eGeMAPS too: the same neighbours, the same plan
    pd.testing.assert_frame_equal(by_name.provenance, by_modality.provenance)
