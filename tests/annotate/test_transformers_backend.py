"""The transformers backend with a tiny random-weight Qwen2-Audio built here (no hub)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from amber2.annotate import annotate_corpus, load_preset, schedule

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]


def make_tiny_qwen2_audio(folder: Path) -> Path:
    """A 1-layer Qwen2-Audio with random weights and a 300-token byte-level BPE tokenizer, saved locally."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["anger happiness sadness neutral emotion transcript audio voice tone"] * 10, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128, sampling_rate=16000),
                        tokenizer=fast).save_pretrained(folder)
    cfg = Qwen2AudioConfig(
        audio_config={"d_model": 16, "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 32,
                      "num_mel_bins": 128, "max_source_positions": 1500},
        text_config={"model_type": "qwen2", "vocab_size": len(fast), "hidden_size": 16, "intermediate_size": 32,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
                     "max_position_embeddings": 1024},
        audio_token_index=fast.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(0)
    model = Qwen2AudioForConditionalGeneration(cfg)
    model.generation_config.eos_token_id = fast.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_alm(tmp_path_factory) -> Path:
    return make_tiny_qwen2_audio(tmp_path_factory.mktemp("alm") / "tiny-qwen2-audio")


def test_transformers_backend_batches_per_annotator(corpus, tiny_alm, tmp_path):
    from amber2.annotate.backends.transformers import TransformersBackend

    backend = TransformersBackend(tiny_alm, device="cpu", batch_size=4, max_new_tokens=3, seed=0)
    seen = []
    generate = backend.net.generate

    def spy(**kw):
        seen.append((kw["input_features"].shape[0], kw["temperature"]))
        return generate(**kw)

    backend.net.generate = spy
    rep = annotate_corpus(corpus, backend, n=2)
    temps = [a.temperature for a in schedule(2, load_preset())]
    # 6 items x 2 annotators in batches of <= 4 items of one annotator: 4 generate calls
    assert sorted(seen) == sorted([(4, temps[0]), (2, temps[0]), (4, temps[1]), (2, temps[1])])
    assert rep.stats.failed == 0 and rep.stats.calls == 4 and sum(rep.parse.values()) == 12
    lines = [json.loads(s) for s in Path(rep.paths["replies"]).read_text().splitlines()]
    assert len(lines) == 12 and all(isinstance(ln["reply"], str) for ln in lines)
    # the same seed gives the same replies with an empty cache; the cache answers a re-run
    b2 = TransformersBackend(tiny_alm, device="cpu", batch_size=4, max_new_tokens=3, seed=0)
    rep2 = annotate_corpus(corpus, b2, n=2, cache_dir=tmp_path / "fresh")
    lines2 = [json.loads(s) for s in Path(rep2.paths["replies"]).read_text().splitlines()]
    assert [ln["reply"] for ln in lines] == [ln["reply"] for ln in lines2] and rep2.stats.calls == 4
    assert annotate_corpus(corpus, b2, n=2).stats.calls == 0


def test_transformers_backend_caps_long_audio(corpus, tiny_alm):
    from amber2.annotate.backends.transformers import TransformersBackend

    backend = TransformersBackend(tiny_alm, device="cpu", batch_size=8, max_new_tokens=2, max_audio_seconds=0.25)
    rep = annotate_corpus(corpus, backend, n=1)
    assert len(rep.notes) == 6 and all("capped" in v for v in rep.notes.values())
    assert np.isclose(float(rep.notes["u0"].split(" to ")[1].split(" s")[0]), 0.2, atol=0.06)
