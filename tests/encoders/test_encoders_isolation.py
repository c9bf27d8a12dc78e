"""The batch-then-one-by-one fallback (encoders.base.encode_isolating_failures) and the encoder interface."""

from __future__ import annotations

import numpy as np
import pytest

from amber2.encoders.base import AudioEncoder, Encoder, TextEncoder, encode_isolating_failures


def _encode(calls: list[int]):
    def encode(xs: list[float]) -> np.ndarray:
        calls.append(len(xs))
        if any(x < 0 for x in xs):
            raise ValueError(f"negative input in a batch of {len(xs)}")
        return np.array([[x, 2 * x] for x in xs])
    return encode


def test_one_call_when_the_batch_succeeds():
    calls: list[int] = []
    out = encode_isolating_failures(_encode(calls), [1.0, 2.0, 3.0])
    assert calls == [3]
    np.testing.assert_array_equal(np.stack(out), [[1, 2], [2, 4], [3, 6]])


def test_a_bad_input_fails_alone():
    calls: list[int] = []
    out = encode_isolating_failures(_encode(calls), [1.0, -1.0, 3.0])
    assert calls == [3, 1, 1, 1]
    assert isinstance(out[1], ValueError) and "batch of 1" in str(out[1])
    np.testing.assert_array_equal(out[0], [1, 2])
    np.testing.assert_array_equal(out[2], [3, 6])


def test_pairs_stay_with_their_input():
    texts = ["a", "bb", "ccc"]
    out = encode_isolating_failures(lambda ts: list(zip([len(t) for t in ts], [t.upper() for t in ts])), texts)
    assert out == [(1, "A"), (2, "BB"), (3, "CCC")]


class _Audio(AudioEncoder):
    kind = "toy"

    @property
    def spec(self):
        return {"kind": "toy"}

    @property
    def dim(self):
        return 1

    def encode(self, waveforms, sample_rate):
        return np.array([[w.size / sample_rate] for w in waveforms], dtype=np.float32)


def test_the_interface_declares_what_callers_read():
    enc = _Audio()
    # extraction and prediction read these without getattr defaults
    assert (enc.sample_rate, enc.min_samples, enc.batch_size, enc.max_batch_seconds) == (16000, 1, 8, 16.0)
    assert (enc.max_seconds, enc.long_audio, enc.device, enc.thread_safe) == (None, "chunk", "cpu", False)
    assert TextEncoder.batch_size == 32 and Encoder.thread_safe is False
    np.testing.assert_array_equal(enc.encode_prepared([np.zeros(8000, np.float32)]), [[0.5]])


def test_opensmile_says_it_is_thread_safe():
    from amber2.encoders.opensmile_encoder import OpenSmileEncoder

    assert OpenSmileEncoder.thread_safe is True


@pytest.mark.parametrize("name", ["sample_rate", "min_samples", "batch_size", "max_batch_seconds", "max_seconds",
                                  "long_audio", "encode_prepared"])
def test_audio_attributes_on_the_base_class(name):
    assert hasattr(AudioEncoder, name)
