"""Text encoders: attention-mask mean pooling, batching, truncation, and the packaged MiniLM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amber2.encoders import build_encoders
from amber2.encoders.hf_text import HFTextEncoder, packaged_minilm_dir

TEXTS = ["i am so happy today", "why", "", "tell me more about it , how was your day ?",
         "the weather was bad and i feel sad"]


def plain_loop(folder, texts, layer="last"):
    """Plain Hugging Face usage, one text at a time (no padding, so the mask is all ones)."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for t in texts:
            enc = tok(t, return_tensors="pt")
            res = model(**enc, output_hidden_states=True)
            h = res.last_hidden_state if layer == "last" else res.hidden_states[layer]
            out.append(h[0].mean(0).numpy())
    return np.stack(out)


def test_batched_mask_weighted_mean_equals_the_plain_loop(tiny_models):
    enc = HFTextEncoder(str(tiny_models["bert"]), device="cpu", dtype="float32", batch_size=4, max_padding=1.0)
    got = enc.encode(TEXTS)
    assert got.shape == (len(TEXTS), 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, plain_loop(tiny_models["bert"], TEXTS), atol=1e-5)
    assert enc.normalize is False  # a plain BERT folder: no sentence-transformers Normalize module


def test_layer_index(tiny_models):
    enc = HFTextEncoder(str(tiny_models["bert"]), device="cpu", dtype="float32", layer=1, max_padding=1.0)
    np.testing.assert_allclose(enc.encode(TEXTS), plain_loop(tiny_models["bert"], TEXTS, layer=1), atol=1e-5)


def test_long_text_is_truncated_with_a_note(tiny_models):
    enc = HFTextEncoder(str(tiny_models["bert"]), device="cpu", dtype="float32")
    assert enc.max_length == 64  # the tiny model's position embeddings
    long = " ".join(["happy"] * 100)
    emb, notes = enc.encode_with_notes(["okay", long])
    assert notes[0] is None
    assert notes[1] == "truncated from 102 to 64 tokens (the model's limit)"
    assert np.isfinite(emb).all()


def test_normalize_option_gives_unit_vectors(tiny_models):
    enc = HFTextEncoder(str(tiny_models["bert"]), device="cpu", normalize=True)
    np.testing.assert_allclose(np.linalg.norm(enc.encode(TEXTS[:2]), axis=1), 1.0, atol=1e-6)
    assert enc.fingerprint != HFTextEncoder(str(tiny_models["bert"]), device="cpu").fingerprint


@pytest.fixture(scope="module")
def minilm():
    return build_encoders({"text": "minilm"}, device="cpu")["text"]


def test_offline_minilm_matches_sentence_transformers(minilm):
    SentenceTransformer = pytest.importorskip("sentence_transformers").SentenceTransformer

    ref = SentenceTransformer(str(packaged_minilm_dir()), device="cpu").encode(
        ["I can't believe you did that!", "Fine.", "What a lovely day it is today"], convert_to_numpy=True)
    got = minilm.encode(["I can't believe you did that!", "Fine.", "What a lovely day it is today"])
    assert got.shape == (3, 384)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    spec = minilm.spec
    assert spec["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert spec["normalize"] is True and spec["max_length"] == 256 and "weights" in spec


def test_a_hub_id_found_in_the_local_hugging_face_cache_loads_offline(tmp_path, tiny_models, monkeypatch):
    import shutil

    import huggingface_hub.constants as hc

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--fake-org--tiny-bert"
    shutil.copytree(tiny_models["bert"], repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    enc = HFTextEncoder("fake-org/tiny-bert", device="cpu", dtype="float32")
    assert enc.spec["model"] == "fake-org/tiny-bert" and enc.spec["revision"] == sha
    np.testing.assert_allclose(enc.encode(TEXTS[:2]), plain_loop(tiny_models["bert"], TEXTS[:2]), atol=1e-5)
