"""Speech SSL encoders: batched extraction equals per-clip extraction (GroupNorm and LayerNorm variants)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from tiny_models import AUDIO_KINDS, make_tiny_audio_model, synth_clip

from amber2.encoders import build_encoder, build_encoders
from amber2.encoders.audio import AudioError
from amber2.encoders.base import plan_batches
from amber2.encoders.hf_audio import HFAudioEncoder

#: Batched vs per-clip tolerance (float32): observed <= 4e-6 on these models.
TOL = 1e-5
LENGTHS = (0.5, 1.31, 0.9, 2.0, 0.03, 1.3)  # 0.03 s = 480 samples: just above the 400-sample field


def clips(sr: int = 16000) -> list[np.ndarray]:
    return [synth_clip(s, sr, seed=i) for i, s in enumerate(LENGTHS)]


def hf_reference(folder, waves, layer="last"):
    """Plain Hugging Face usage, one clip at a time: feature extractor, model, mean over frames."""
    from transformers import AutoFeatureExtractor, AutoModel

    fe = AutoFeatureExtractor.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for w in waves:
            x = fe(w, sampling_rate=16000, return_tensors="pt")["input_values"]
            res = model(x, output_hidden_states=True)
            if layer == "last":
                h = res.last_hidden_state[0]
            elif layer == "mean":
                h = torch.stack(res.hidden_states).mean(0)[0]
            else:
                h = res.hidden_states[layer][0]
            out.append(h.mean(0).numpy())
    return np.stack(out)


def naive_padded_batch(folder, waves):
    """What a padded batch gives without the guards (to show the test can fail)."""
    from transformers import AutoFeatureExtractor, AutoModel

    fe = AutoFeatureExtractor.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    enc = fe(waves, sampling_rate=16000, padding=True, return_attention_mask=True, return_tensors="pt")
    with torch.no_grad():
        h = model(enc["input_values"], attention_mask=enc["attention_mask"]).last_hidden_state
    frames = model._get_feat_extract_output_lengths(enc["attention_mask"].sum(1))
    return np.stack([h[i, : frames[i]].mean(0).numpy() for i in range(len(waves))])


@pytest.mark.parametrize("variant", ["w2v_group", "w2v_layer"])
def test_batched_equals_alone_and_plain_hugging_face(tiny_models, variant):
    folder = tiny_models[variant]
    batched = HFAudioEncoder(str(folder), device="cpu", dtype="float32", batch_size=8, max_batch_seconds=60,
                             max_padding=1.0)
    alone = HFAudioEncoder(str(folder), device="cpu", dtype="float32", batch_size=1)
    waves = clips()
    assert plan_batches([w.size for w in waves], max_batch_samples=60 * 16000, batch_size=8, max_padding=1.0) == [
        [3, 1, 5, 2, 0, 4]]  # one batch mixing every length
    a, b = batched.encode(waves, 16000), alone.encode(waves, 16000)
    ref = hf_reference(folder, waves)
    assert a.shape == (len(waves), 32) and a.dtype == np.float32
    assert np.abs(b - ref).max() < TOL
    assert np.abs(a - ref).max() < TOL


def test_the_groupnorm_model_really_needs_the_guard(tiny_models):
    folder = tiny_models["w2v_group"]
    waves = clips()
    gap = np.abs(naive_padded_batch(folder, waves) - hf_reference(folder, waves)).max()
    assert gap > 100 * TOL  # a plain padded batch changes the embeddings of the shorter clips


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("kind", [k for k in AUDIO_KINDS if k != "wav2vec2"])
def test_other_ssl_families_load_pool_and_batch_exactly(tmp_path, kind):
    norm = "layer" if kind == "data2vec-audio" else "group"
    folder = make_tiny_audio_model(tmp_path / kind, kind, norm)
    enc = HFAudioEncoder(str(folder), device="cpu", dtype="float32", max_padding=1.0)
    assert enc.exact_batching and enc.spec["model_type"] == kind
    waves = clips()[:4]
    np.testing.assert_allclose(enc.encode(waves, 16000), hf_reference(folder, waves), atol=TOL)


def test_a_model_with_an_adapter_falls_back_to_equal_length_batches(tmp_path):
    import transformers as tf
    from tiny_models import tiny_audio_config

    config = tiny_audio_config("wav2vec2", "group")
    config.add_adapter, config.adapter_stride, config.num_adapter_layers = True, 2, 1
    torch.manual_seed(0)
    tf.AutoModel.from_config(config).save_pretrained(tmp_path)
    tf.Wav2Vec2FeatureExtractor().save_pretrained(tmp_path)
    enc = HFAudioEncoder(str(tmp_path), device="cpu", dtype="float32", max_padding=1.0)
    assert not enc.exact_batching
    waves = clips()[:4]
    np.testing.assert_allclose(enc.encode(waves, 16000), hf_reference(tmp_path, waves), atol=TOL)


@pytest.mark.parametrize("layer", [0, 1, -1, "mean"])
def test_layer_choice(tiny_models, layer):
    folder = tiny_models["w2v_group"]
    enc = HFAudioEncoder(str(folder), device="cpu", dtype="float32", layer=layer, max_padding=1.0)
    waves = clips()[:3]
    ref = hf_reference(folder, waves, layer=layer if layer != -1 else 2)
    np.testing.assert_allclose(enc.encode(waves, 16000), ref, atol=TOL)


def test_layer_out_of_range_is_refused(tiny_models):
    with pytest.raises(Exception, match="out of range"):
        HFAudioEncoder(str(tiny_models["w2v_group"]), device="cpu", layer=7)


def test_long_clip_is_chunked_into_a_frame_weighted_mean(tiny_models):
    folder = tiny_models["w2v_layer"]
    x = synth_clip(2.5, seed=9)
    enc = HFAudioEncoder(str(folder), device="cpu", dtype="float32", max_seconds=1.0)
    got = enc.encode([x], 16000)[0]
    # independent: normalise the whole clip, cut 3 nearly equal chunks, weight chunk means by frames
    from amber2.encoders.audio import zero_mean_unit_var

    z = zero_mean_unit_var(x)
    edges = np.linspace(0, z.size, 4).round().astype(int)
    plain = HFAudioEncoder(str(folder), device="cpu", dtype="float32", max_seconds=None, do_normalize=False)
    parts = [z[a:b] for a, b in itertools.pairwise(edges.tolist())]
    means = plain.encode(parts, 16000)
    frames = np.array([plain.model._get_feat_extract_output_lengths(p.size) for p in parts], dtype=float)
    np.testing.assert_allclose(got, (means * frames[:, None]).sum(0) / frames.sum(), atol=TOL)
    trunc = HFAudioEncoder(str(folder), device="cpu", dtype="float32", max_seconds=1.0, long_audio="truncate")
    assert trunc.spec["long_audio"] == "truncate" and trunc.fingerprint != enc.fingerprint
    whole = HFAudioEncoder(str(folder), device="cpu", dtype="float32", max_seconds=None)
    np.testing.assert_allclose(trunc.encode([x], 16000), whole.encode([x[:16000]], 16000), atol=TOL)


def test_input_at_another_rate_is_resampled(tiny_models):
    enc = HFAudioEncoder(str(tiny_models["w2v_group"]), device="cpu", dtype="float32")
    x = synth_clip(0.8, 8000, seed=2)
    from amber2.encoders.audio import resample

    np.testing.assert_allclose(enc.encode([x], 8000), enc.encode([resample(x, 8000, 16000)], 16000), atol=1e-6)


def test_too_short_clip_raises_a_clear_error(tiny_models):
    enc = HFAudioEncoder(str(tiny_models["w2v_group"]), device="cpu")
    assert enc.min_samples == 400
    with pytest.raises(AudioError, match="receptive field"):
        enc.encode([np.ones(100, np.float32)], 16000)


def test_fingerprint_tracks_model_layer_and_dtype_and_spec_rebuilds(tiny_models):
    g = HFAudioEncoder(str(tiny_models["w2v_group"]), device="cpu", dtype="float32")
    same = build_encoder(g.spec, device="cpu")
    assert same.fingerprint == g.fingerprint
    assert HFAudioEncoder(str(tiny_models["w2v_group"]), device="cpu", layer=1).fingerprint != g.fingerprint
    assert HFAudioEncoder(str(tiny_models["w2v_layer"]), device="cpu").fingerprint != g.fingerprint
    assert HFAudioEncoder(str(tiny_models["w2v_group"]), device="cpu", dtype="bfloat16").fingerprint != g.fingerprint
    spec = g.spec
    assert spec["kind"] == "hf-audio" and spec["layer"] == "last" and spec["sample_rate"] == 16000
    assert spec["dtype"] == "float32" and len(spec["weights"]) == 64


def test_bf16_autocast_path_runs_and_stays_close(tiny_models):
    waves = clips()[:3]
    f32 = HFAudioEncoder(str(tiny_models["w2v_group"]), device="cpu", dtype="float32").encode(waves, 16000)
    bf = HFAudioEncoder(str(tiny_models["w2v_group"]), device="cpu", dtype="bfloat16").encode(waves, 16000)
    assert bf.dtype == np.float32 and np.isfinite(bf).all()
    assert np.abs(bf - f32).max() < 0.1


def test_unknown_hub_id_offline_gives_an_actionable_error():
    with pytest.raises(Exception, match="local Hugging Face cache"):
        build_encoders({"audio": "no-such-org/no-such-model"})
