"""Audio loading: decoding, downmix, resampling, and one clear error per kind of bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_models import synth_clip, write_wav

from amber2.encoders.audio import (
    AudioError,
    check_audio_file,
    load_audio,
    resample,
    split_long,
    zero_mean_unit_var,
)
from amber2.encoders.base import plan_batches


def test_load_audio_reads_int16_wav_as_float(tmp_path):
    x = synth_clip(0.5, seed=1)
    p = write_wav(tmp_path / "a.wav", x)
    y = load_audio(p, 16000)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1 / 32768 + 1e-7)  # 16-bit quantisation only


def test_stereo_is_averaged_to_mono(tmp_path):
    left, right = synth_clip(0.3, seed=1), synth_clip(0.3, seed=2)
    p = write_wav(tmp_path / "s.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    np.testing.assert_allclose(load_audio(p, 16000), (left + right) / 2, atol=1e-6)


def test_resampling_matches_the_same_tone_sampled_at_the_target_rate(tmp_path):
    t8 = np.arange(8000) / 8000
    t16 = np.arange(16000) / 16000
    p = write_wav(tmp_path / "t.wav", (0.5 * np.sin(2 * np.pi * 440 * t8)).astype(np.float32), 8000, "FLOAT")
    y = load_audio(p, 16000)
    assert y.size == 16000
    ref = 0.5 * np.sin(2 * np.pi * 440 * t16)
    # away from the edges the polyphase filter reproduces the band-limited tone
    assert np.max(np.abs(y[200:-200] - ref[200:-200])) < 5e-3


def test_resample_identity_and_bad_rates():
    x = np.arange(10, dtype=np.float32)
    assert resample(x, 16000, 16000) is not None
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)
    with pytest.raises(ValueError, match="positive"):
        resample(x, 0, 16000)


def test_max_seconds_caps_a_long_clip(tmp_path):
    p = write_wav(tmp_path / "long.wav", synth_clip(2.0))
    assert load_audio(p, 16000, max_seconds=0.5).size == 8000


def _put(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "reason", "words"),
    [
        (lambda d: None, "no_path", "no audio path"),
        (lambda d: d / "nope.wav", "missing", "not found"),
        (lambda d: _put(d / "e.wav", b""), "empty_file", "0 bytes"),
        (lambda d: _put(d / "c.wav", b"RIFF\x00\x00garbage" * 20), "unreadable", "cannot decode"),
        (lambda d: _put(d / "p.wav", b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 74786\n"),
         "lfs_pointer", "git lfs pull"),
        (lambda d: write_wav(d / "z.wav", np.zeros((0,), np.float32)), "zero_length", "zero-length"),
        (lambda d: write_wav(d / "q.wav", np.zeros(16000, np.float32)), "silent", "all-silent"),
        (lambda d: write_wav(d / "n.wav", np.where(np.arange(800) == 5, np.nan, 0.1).astype(np.float32),
                             subtype="FLOAT"), "non_finite", "NaN"),
    ],
)
def test_each_bad_input_has_its_own_clear_error(tmp_path, make, reason, words):
    path = make(tmp_path)
    with pytest.raises(AudioError) as info:
        load_audio(path, 16000, item_id="utt7")
    assert info.value.reason == reason
    assert words in str(info.value)
    assert "'utt7'" in str(info.value)


def test_a_truncated_wav_is_reported_not_crashing(tmp_path):
    p = write_wav(tmp_path / "t.wav", synth_clip(0.5))
    data = p.read_bytes()
    p.write_bytes(data[:30])  # header cut in the middle
    with pytest.raises(AudioError) as info:
        load_audio(p, 16000, item_id="x")
    assert info.value.reason in ("unreadable", "zero_length")


def test_check_audio_file_accepts_a_good_file(tmp_path):
    p = write_wav(tmp_path / "g.wav", synth_clip(0.2))
    assert check_audio_file(str(p)) == p


def test_zero_mean_unit_var_matches_the_hugging_face_feature_extractor():
    from transformers import Wav2Vec2FeatureExtractor

    x = synth_clip(0.7, seed=3) + 0.05
    fe = Wav2Vec2FeatureExtractor(do_normalize=True, sampling_rate=16000)
    ref = np.asarray(fe(x, sampling_rate=16000)["input_values"][0])
    np.testing.assert_allclose(zero_mean_unit_var(x), ref, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3000))
def test_split_long_covers_the_clip_with_bounded_chunks(n, m):
    chunks = split_long(n, m)
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(b - a <= m for a, b in chunks)
    assert all(c[1] == d[0] for c, d in itertools.pairwise(chunks))
    assert len(chunks) == max(1, -(-n // m))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 5000), min_size=0, max_size=40), st.integers(1000, 20000), st.integers(1, 9),
       st.sampled_from([0.0, 0.1, 1.0]))
def test_plan_batches_respects_the_budget_and_uses_every_item_once(lengths, budget, bs, pad):
    batches = plan_batches(lengths, max_batch_samples=budget, batch_size=bs, max_padding=pad)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= bs
        longest = max(lengths[i] for i in b)
        assert len(b) == 1 or len(b) * longest <= budget
        assert all(lengths[i] >= (1 - pad) * longest for i in b)


def test_plan_batches_fills_batches_of_similar_lengths():
    lengths = [100, 95, 91, 50, 49, 10]
    assert plan_batches(lengths, max_batch_samples=10_000, batch_size=8) == [[0, 1, 2], [3, 4], [5]]
    assert plan_batches(lengths, max_batch_samples=10_000, batch_size=8, max_padding=1.0) == [[0, 1, 2, 3, 4, 5]]


def test_soundfile_roundtrip_sanity(tmp_path):
    # guards the fixtures themselves: write_wav gives what soundfile reads
    p = write_wav(tmp_path / "x.wav", synth_clip(0.1))
    assert sf.info(str(p)).samplerate == 16000
