"""The synthetic voice: prosody moves in the literature's directions; openSMILE sees the emotion."""

from __future__ import annotations

import numpy as np
import pytest

from amber2.demo.lexicon import CLASSES, syllabify
from amber2.demo.voice import (
    EMOTION_PROSODY,
    PROSODY_DIMS,
    draw_speakers,
    prosody_prototypes,
    synthesize,
)

FS = 16000
TEXT = "Well, I think we can talk about the new schedule tomorrow morning."


def _f0_autocorr(y: np.ndarray, fs: int = FS) -> float:
    """Median f0 (Hz) over voiced 40 ms frames: the lag of the normalised autocorrelation peak, 60-450 Hz."""
    frame, hop = int(0.04 * fs), int(0.01 * fs)
    lo, hi = int(fs / 450), int(fs / 60)
    energies = np.array([np.sum(y[i:i + frame] ** 2) for i in range(0, y.size - frame, hop)])
    thr = 0.1 * np.quantile(energies, 0.9)
    f0s = []
    for k, i in enumerate(range(0, y.size - frame, hop)):
        if energies[k] < thr:
            continue
        x = y[i:i + frame] - y[i:i + frame].mean()
        ac = np.correlate(x, x, mode="full")[frame - 1:]
        if ac[0] <= 0:
            continue
        ac = ac / ac[0]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:
            f0s.append(fs / lag)
    return float(np.median(f0s))


def _active_rms_db(y: np.ndarray) -> float:
    frame = int(0.02 * FS)
    e = np.array([np.mean(y[i:i + frame] ** 2) for i in range(0, y.size - frame, frame)])
    e = e[e > 0.01 * e.max()]
    return float(10 * np.log10(e.mean()))


def _hf_share_db(y: np.ndarray) -> float:
    """Energy above 2 kHz relative to 0-1 kHz (dB): higher = flatter spectrum, tenser voice."""
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / FS)
    return float(10 * np.log10(spec[(f > 2000) & (f < 5000)].sum() / spec[(f > 50) & (f < 1000)].sum()))


@pytest.fixture(scope="module")
def renditions():
    """The same sentence by one female and one male speaker in each emotion at full intensity."""
    speakers = draw_speakers(np.random.default_rng(4), 2)
    P = prosody_prototypes()
    syl = syllabify(TEXT)
    return {
        (s.sex, c): synthesize(s, P[k], syl, np.random.default_rng(10), FS)
        for s in speakers for k, c in enumerate(CLASSES)
    }


def test_prototypes_point_in_the_reported_directions():
    """Anger/happiness: higher f0, range, loudness, rate; sadness: lower and slower (Juslin & Laukka 2003)."""
    d = {c: dict(zip(PROSODY_DIMS, EMOTION_PROSODY[c])) for c in CLASSES}
    for c in ("happy", "angry"):
        for dim in ("f0_level", "f0_range", "loudness", "rate"):
            assert d[c][dim] > 0 > d["sad"][dim], (c, dim)
    assert d["angry"]["loudness"] > d["happy"]["loudness"] and d["angry"]["tension"] > d["happy"]["tension"]
    assert d["sad"]["pause"] > 0 > d["angry"]["pause"] and d["happy"]["contour"] > 0 > d["angry"]["contour"]
    assert not any(d["neutral"].values())


def test_waveforms_are_clean(renditions):
    for key, y in renditions.items():
        assert y.dtype == np.float64 and np.all(np.isfinite(y)), key
        assert np.abs(y).max() <= 1.0 and np.sqrt(np.mean(y ** 2)) > 1e-3, key


@pytest.mark.parametrize("sex", ["female", "male"])
def test_prosody_directions_measured_on_the_audio(renditions, sex):
    f0 = {c: _f0_autocorr(renditions[sex, c]) for c in CLASSES}
    level = {c: _active_rms_db(renditions[sex, c]) for c in CLASSES}
    dur = {c: renditions[sex, c].size / FS for c in CLASSES}
    hf = {c: _hf_share_db(renditions[sex, c]) for c in CLASSES}
    # f0: angry, happy > neutral > sad, by roughly the prototypes' semitones
    assert min(f0["angry"], f0["happy"]) > f0["neutral"] > f0["sad"], f0
    assert 12 * np.log2(f0["happy"] / f0["neutral"]) == pytest.approx(4.0, abs=2.0)
    assert 12 * np.log2(f0["neutral"] / f0["sad"]) == pytest.approx(2.5, abs=1.5)
    # loudness: angry > happy > neutral > sad
    assert level["angry"] > level["happy"] > level["neutral"] > level["sad"], level
    assert level["angry"] - level["sad"] > 10
    # rate: sad slowest (longest), angry fastest
    assert dur["sad"] > dur["neutral"] > dur["angry"], dur
    # voice quality: angry has the flattest spectrum, sad the steepest
    assert hf["angry"] > hf["neutral"] > hf["sad"], hf
    # the neutral f0 is the speaker's own
    spk = {s.sex: s for s in draw_speakers(np.random.default_rng(4), 2)}[sex]
    assert f0["neutral"] == pytest.approx(spk.f0_hz, rel=0.12)


def test_synthesize_rejects_bad_input():
    spk = draw_speakers(np.random.default_rng(0), 1)[0]
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="prosodic cue"):
        synthesize(spk, np.zeros(3), syllabify("hello"), rng)
    with pytest.raises(ValueError, match="prosodic cue"):
        synthesize(spk, np.full(7, np.nan), syllabify("hello"), rng)
    with pytest.raises(ValueError, match="no syllables"):
        synthesize(spk, np.zeros(7), [], rng)
    with pytest.raises(ValueError, match="sample_rate"):
        synthesize(spk, np.zeros(7), syllabify("hello"), rng, 8000)


@pytest.mark.slow  # ~4 s: openSMILE on synthesised speech
def test_egemaps_sees_the_voice_emotion():
    """openSMILE eGeMAPS functionals on the synthetic voice: finite, and a logistic regression trained on
    some speakers names the voice's class of unseen speakers well above chance."""
    opensmile = pytest.importorskip("opensmile")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    speakers = draw_speakers(np.random.default_rng(1), 4)
    P = prosody_prototypes()
    sentences = ["I am okay about the report.", "We talked about the trip this morning.",
                 "The train leaves at half past seven."]
    rng = np.random.default_rng(2)
    X, y, g = [], [], []
    for s in speakers:
        for k in range(len(CLASSES)):
            for j, text in enumerate(sentences):
                cue = 0.8 * P[k] + rng.normal(0.0, 0.4, size=P.shape[1])
                wav = synthesize(s, cue, syllabify(text), np.random.default_rng([k, j]), FS)
                feats = smile.process_signal(wav.astype(np.float32), FS).to_numpy()[0]
                X.append(feats)
                y.append(k)
                g.append(s.id)
    X, y, g = np.array(X), np.array(y), np.array(g)
    assert X.shape == (48, 88) and np.all(np.isfinite(X))
    # per-speaker standardisation, as is usual in speech emotion recognition
    for s in np.unique(g):
        m = g == s
        X[m] = (X[m] - X[m].mean(0)) / (X[m].std(0) + 1e-8)
    correct = 0
    for s in np.unique(g):  # leave one speaker out
        test = g == s
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        clf.fit(X[~test], y[~test])
        correct += int((clf.predict(X[test]) == y[test]).sum())
    assert correct / len(y) > 0.7  # chance is 0.25 (about 0.95 measured)
