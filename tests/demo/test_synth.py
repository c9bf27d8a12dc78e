"""The simulated corpus: config, plan (classes, conflicts, raters), files on disk, determinism, resume."""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from amber2.demo.lexicon import (
    CLASSES,
    EMOTION_WORDS,
    EXTRA_CLAUSES,
    MIXED_WORDS,
    compose_transcript,
    syllabify,
)
from amber2.demo.synth import (
    CONFLICT_TYPES,
    CorpusConflictError,
    SimulationConfig,
    SimulationError,
    generate_corpus,
    plan_corpus,
)

TINY = SimulationConfig(n_speakers=2, utterances_per_speaker=3, n_raters=6, raters_per_item=(3, 4),
                        true_draws=8, seed=7)
ITEM_COLS = ["id", "audio", "transcript", "speaker", "group", "duration", "gender", "conflict", "intensity",
             "voice_emotion", "voice_intensity", "text_emotion", "text_intensity",
             *[f"p_true:{c}" for c in CLASSES]]


def _entropy(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)


@pytest.fixture(scope="module")
def big_plan():
    # 1,800 items, no audio: enough for the statistical checks, well under a second or two
    return plan_corpus(SimulationConfig(n_speakers=60, utterances_per_speaker=30, true_draws=24, seed=3))


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim") / "corpus"
    return generate_corpus(root, TINY)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------- config

@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"class_priors": (0.5, 0.5, 0.5, 0.0)}, "sum to 1"),
        ({"class_priors": (0.5, 0.5)}, "class_priors"),
        ({"class_priors": (1.0, 0.0, 0.0, 0.0), "conflict_share": 0.0, "voice_uninformative_share": 0.0,
          "text_uninformative_share": 0.0}, "no emotional class"),
        ({"conflict_share": 0.5, "voice_uninformative_share": 0.3}, "exceeds the share of emotional items"),
        ({"raters_per_item": (3, 9), "n_raters": 8}, "n_raters=8"),
        ({"raters_per_item": (4, 3)}, "raters_per_item"),
        ({"n_speakers": 0}, "n_speakers"),
        ({"n_speakers": 2.5}, "n_speakers"),
        ({"intensity_beta": (0.0, 1.0)}, "intensity_beta"),
        ({"rater_noise": (2.0, 1.0)}, "rater_noise"),
        ({"sample_rate": 8000}, "sample_rate"),
        ({"voice_gain": float("nan")}, "voice_gain"),
        ({"conflict_share": -0.1}, "conflict_share"),
        ({"mixed_word_share": 1.5}, "mixed_word_share"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SimulationConfig(**kwargs)


def test_config_json_round_trip_and_fingerprint():
    cfg = SimulationConfig(n_speakers=3, seed=11, raters_per_item=(2, 5))
    data = json.loads(json.dumps(cfg.to_dict()))
    back = SimulationConfig.from_dict(data)
    assert back == cfg
    assert back.fingerprint() == cfg.fingerprint()
    assert SimulationConfig(n_speakers=3, seed=12, raters_per_item=(2, 5)).fingerprint() != cfg.fingerprint()
    with pytest.raises(ValueError, match="unknown SimulationConfig field"):
        SimulationConfig.from_dict({**data, "n_speaker": 3})
    assert SimulationConfig().n_items == 1200
    assert SimulationConfig().sample_rate == 16000


# ---------------------------------------------------------------------------- text

def test_transcripts_carry_the_lexicon():
    rng = np.random.default_rng(0)
    all_words = {w for c in EMOTION_WORDS.values() for ws in c.values() for w in ws}
    for emo in CLASSES:
        for t in (0.0, 0.3, 0.7, 1.0):
            tr = compose_transcript(rng, emo, t, mixed_share=0.0)
            assert tr.emotion == emo
            if emo == "neutral":
                assert tr.strength == (0.0, 0.0, 0.0, 0.0)
                assert not any(re.search(rf"\b{re.escape(w)}\b", tr.text) for w in all_words)
            else:
                k = CLASSES.index(emo)
                assert tr.strength[k] > 0 and sum(tr.strength) == tr.strength[k]
                assert any(re.search(rf"\b{re.escape(w)}\b", tr.text) for w in
                           (x for ws in EMOTION_WORDS[emo].values() for x in ws))
    # weak items may say an ambiguous word: fixed strengths on every class it suggests
    mixed = [compose_transcript(np.random.default_rng(s), "sad", 0.1, mixed_share=1.0) for s in range(30)]
    for tr in mixed:
        word = next(m for m in MIXED_WORDS if re.search(rf"\b{m[0]}\b", tr.text))
        nonzero = {CLASSES[k] for k, v in enumerate(tr.strength) if v > 0}
        assert nonzero == set(word[1]) and word[1]["sad"] == max(word[1].values())
        ratio = [tr.strength[CLASSES.index(c)] / v for c, v in word[1].items()]
        assert max(ratio) == pytest.approx(min(ratio))  # one modifier scales the whole word
    assert len({tr.text.split()[-1] for tr in mixed}) > 3
    assert compose_transcript(rng, "sad", 0.9, mixed_share=1.0).strength[0:3] == (0.0, 0.0, 0.0)
    # stronger text intensity -> stronger words, on average
    weak = np.mean([compose_transcript(rng, "angry", 0.1).strength[2] for _ in range(200)])
    strong = np.mean([compose_transcript(rng, "angry", 0.9).strength[2] for _ in range(200)])
    assert strong > weak + 2.0
    assert any(c[0] in compose_transcript(np.random.default_rng(s), "sad", 1.0).text
               for s in range(20) for c in EXTRA_CLAUSES["sad"])
    with pytest.raises(ValueError, match="unknown emotion"):
        compose_transcript(rng, "fear", 0.5)
    with pytest.raises(ValueError, match="intensity"):
        compose_transcript(rng, "sad", 1.5)
    with pytest.raises(ValueError, match="mixed_share"):
        compose_transcript(rng, "sad", 0.5, mixed_share=2.0)


def test_syllabify():
    syl = syllabify("I am glad, really. Okay!")
    assert [s.vowel for s in syl] == ["i", "a", "a", "e", "@", "o", "a"]  # re-al-ly: "y" is a schwa
    assert [s.pause_after for s in syl] == [0, 0, 1, 0, 2, 0, 2]
    assert syl[2].onset == "stop" and syl[1].onset == "none" and syllabify("she")[0].onset == "fricative"
    assert len(syllabify("make")) == 1  # silent final e
    with pytest.raises(ValueError, match="no syllable"):
        syllabify("... !")


# ---------------------------------------------------------------------------- plan

def test_plan_conflict_shares_and_channels(big_plan):
    cfg = big_plan.config
    n = cfg.n_items
    counts = Counter(it.conflict for it in big_plan.items)
    assert counts["conflict"] == round(cfg.conflict_share * n)
    assert counts["voice_uninformative"] == round(cfg.voice_uninformative_share * n)
    assert counts["text_uninformative"] == round(cfg.text_uninformative_share * n)
    assert sum(counts.values()) == n and set(counts) == set(CONFLICT_TYPES)
    for it in big_plan.items:
        assert 0.0 <= it.voice_intensity <= 1.0 and 0.0 <= it.text_intensity <= 1.0
        if it.conflict == "none":
            assert it.voice_emotion == it.text_emotion
        elif it.conflict == "conflict":
            assert it.voice_emotion != it.text_emotion
            assert "neutral" not in (it.voice_emotion, it.text_emotion)
        elif it.conflict == "voice_uninformative":
            assert it.voice_emotion == "neutral" and it.voice_intensity == 0.0 and it.text_emotion != "neutral"
        else:
            assert it.text_emotion == "neutral" and it.text_strength == (0.0, 0.0, 0.0, 0.0)
            assert it.voice_emotion != "neutral"
        if it.text_emotion != "neutral":  # the intended word class is the strongest (ties: ambiguous words)
            k = CLASSES.index(it.text_emotion)
            assert it.text_strength[k] == max(it.text_strength) > 0
    # intended classes follow the priors (voice class, or the text class where the voice is uninformative)
    intended = Counter(it.voice_emotion if it.conflict != "voice_uninformative" else it.text_emotion
                       for it in big_plan.items)
    for c, p in zip(CLASSES, cfg.class_priors):
        assert abs(intended[c] / n - p) < 0.04, (c, intended[c] / n, p)
    # speakers: every speaker has utterances_per_speaker items, ids unique
    assert len({it.id for it in big_plan.items}) == n
    assert set(Counter(it.speaker for it in big_plan.items).values()) == {cfg.utterances_per_speaker}


def test_votes_and_true_distribution(big_plan):
    cfg = big_plan.config
    Y = big_plan.soft_labels()
    P = big_plan.p_true
    assert np.allclose(Y.sum(1), 1) and np.allclose(P.sum(1), 1)
    lo, hi = cfg.raters_per_item
    for vs in big_plan.votes:
        raters = [r for r, _ in vs]
        assert lo <= len(vs) <= hi and len(set(raters)) == len(raters)
    # p_true is the expected soft label: the mean of y - p_true vanishes in every class
    assert np.abs((Y - P).mean(0)).max() < 0.015
    # and the per-item error is what 3-7 categorical draws give: E|y - p|^2 = E[(1 - sum p^2) / N]
    n_votes = np.array([len(v) for v in big_plan.votes])
    expected = np.mean((1 - (P ** 2).sum(1)) / n_votes)
    assert np.mean(((Y - P) ** 2).sum(1)) == pytest.approx(expected, rel=0.1)


def _groups(plan):
    s = np.array([it.intensity for it in plan.items])
    conf = np.array([it.conflict for it in plan.items])
    emo = np.array([it.voice_emotion != "neutral" for it in plan.items])
    return s, conf, emo


def test_ambiguity_follows_intensity_and_conflict(big_plan):
    s, conf, emo = _groups(big_plan)
    Hy = _entropy(big_plan.soft_labels())
    Hp = _entropy(big_plan.p_true)
    strong = (conf == "none") & emo & (s > 0.65)
    weak = (conf == "none") & emo & (s < 0.3)
    assert strong.sum() > 100 and weak.sum() > 60
    for H in (Hy, Hp):
        assert H[weak].mean() > H[strong].mean() + 0.15
        for t in ("conflict", "voice_uninformative", "text_uninformative"):
            assert H[conf == t].mean() > H[strong].mean() + 0.15, t
    # strong agreeing items: the raters mostly name the carried class
    truth = np.array([CLASSES.index(it.voice_emotion) for it in big_plan.items])
    P = big_plan.p_true
    assert P[strong, truth[strong]].mean() > 0.8
    assert (P[strong].argmax(1) == truth[strong]).mean() > 0.95
    # conflicts split the raters between the two channels' classes
    m = conf == "conflict"
    tv = truth[m]
    tt = np.array([CLASSES.index(it.text_emotion) for it in big_plan.items])[m]
    pv, pt = P[m, tv].mean(), P[m, tt].mean()
    assert pv > 0.2 and pt > 0.2 and pv + pt > 0.6


def test_rater_reliance_decides_uninformative_items(big_plan):
    """On a neutral voice with emotional words, voice-reliant raters say neutral more often."""
    w = big_plan.pool.voice_reliance
    heavy = w > np.quantile(w, 0.7)
    light = w < np.quantile(w, 0.3)
    share = {True: [0, 0], False: [0, 0]}
    for it, vs in zip(big_plan.items, big_plan.votes):
        if it.conflict != "voice_uninformative":
            continue
        for r, c in vs:
            if heavy[r] or light[r]:
                share[bool(heavy[r])][0] += c == 0
                share[bool(heavy[r])][1] += 1
    heavy_neutral = share[True][0] / share[True][1]
    light_neutral = share[False][0] / share[False][1]
    assert heavy_neutral > light_neutral + 0.15, (heavy_neutral, light_neutral)


def test_plan_is_deterministic_and_seeded():
    cfg = SimulationConfig(n_speakers=3, utterances_per_speaker=4, n_raters=8, true_draws=8, seed=5)
    a, b = plan_corpus(cfg), plan_corpus(cfg)
    assert a.items == b.items and a.votes == b.votes and np.array_equal(a.p_true, b.p_true)
    c = plan_corpus(SimulationConfig(n_speakers=3, utterances_per_speaker=4, n_raters=8, true_draws=8, seed=6))
    assert [it.transcript for it in a.items] != [it.transcript for it in c.items]


# ---------------------------------------------------------------------------- files

def test_files_follow_the_manifest_contract(tiny_corpus):
    root = tiny_corpus.root
    rows = _rows(tiny_corpus.manifest)
    header = list(rows[0])
    assert header[:9] == ["id", "audio", "transcript", "speaker", "group", "duration", "rater", "label",
                          "rater_kind"]
    assert set(ITEM_COLS) <= set(header)
    assert len(rows) == tiny_corpus.n_votes
    by_item: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_item.setdefault(r["id"], []).append(r)
        assert r["label"] in CLASSES and r["rater_kind"] == "external" and r["group"] == r["speaker"]
    assert len(by_item) == tiny_corpus.n_items == 6
    for item_id, rs in by_item.items():
        assert 3 <= len(rs) <= 4
        assert len({r["rater"] for r in rs}) == len(rs), item_id
        for col in ITEM_COLS:  # item columns are constant within an item
            assert len({r[col] for r in rs}) == 1, (item_id, col)
        r = rs[0]
        assert r["conflict"] in CONFLICT_TYPES
        assert sum(float(r[f"p_true:{c}"]) for c in CLASSES) == pytest.approx(1.0, abs=1e-5)
        wav = root / r["audio"]
        assert r["audio"] == f"audio/{item_id}.wav" and wav.exists()
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
        assert info.frames / 16000 == pytest.approx(float(r["duration"]), abs=1e-4)
        y, _ = sf.read(str(wav), dtype="float32")
        assert np.all(np.isfinite(y)) and np.sqrt(np.mean(y ** 2)) > 1e-3 and np.abs(y).max() < 1.0
        assert 1.0 < info.frames / 16000 < 8.0
    raters = _rows(root / "raters.csv")
    assert len(raters) == 6 and {r["rater"] for r in rows} <= {r["rater"] for r in raters}
    assert all(0.0 <= float(r["voice_reliance"]) <= 1.0 for r in raters)
    assert sum(int(r["n_votes"]) for r in raters) == len(rows)
    items = _rows(root / "items.csv")
    assert [r["id"] for r in items] == list(by_item)
    info = json.loads((root / "simulation.json").read_text())
    assert info["fingerprint"] == TINY.fingerprint() and SimulationConfig.from_dict(info["config"]) == TINY
    assert info["counts"]["items"] == 6 and info["counts"]["votes"] == len(rows)
    assert not [p for p in root.rglob("*.tmp")]
    d = json.loads(json.dumps(tiny_corpus.to_dict()))
    assert d["manifest"] == str(tiny_corpus.manifest) and d["config"]["seed"] == 7 and d["n_items"] == 6


def test_manifest_reads_with_the_manifest_reader(tiny_corpus):
    manifest = pytest.importorskip("amber2.corpora.manifest")
    table = manifest.read_manifest(tiny_corpus.root)
    assert len(table) == tiny_corpus.n_items and len(table.votes) == tiny_corpus.n_votes
    assert not [i for i in table.issues if i.reason == "inconsistent_item_column"]
    assert {"voice_emotion", "text_emotion", "conflict", "intensity"} <= set(table.items.columns)
    assert set(table.items["audio_status"]) == {"ok"}


def test_same_seed_gives_identical_bytes(tiny_corpus, tmp_path):
    other = generate_corpus(tmp_path / "again", TINY)
    for name in ("manifest.csv", "items.csv", "raters.csv", "simulation.json"):
        assert (tmp_path / "again" / name).read_bytes() == (tiny_corpus.root / name).read_bytes(), name
    wavs = sorted(p.name for p in tiny_corpus.audio_dir.iterdir())
    assert wavs == sorted(p.name for p in other.audio_dir.iterdir())
    for name in wavs:
        assert (other.audio_dir / name).read_bytes() == (tiny_corpus.audio_dir / name).read_bytes(), name
    seeded = SimulationConfig(**{**TINY.to_dict(), "seed": 8, "raters_per_item": (3, 4)})
    diff = generate_corpus(tmp_path / "seed8", seeded)
    assert diff.manifest.read_bytes() != tiny_corpus.manifest.read_bytes()
    assert (diff.audio_dir / wavs[0]).read_bytes() != (tiny_corpus.audio_dir / wavs[0]).read_bytes()


def test_rerun_resume_and_overwrite(tmp_path):
    cfg = SimulationConfig(n_speakers=1, utterances_per_speaker=3, n_raters=5, raters_per_item=(3, 3),
                           true_draws=4, seed=1)
    root = tmp_path / "c"
    first = generate_corpus(root, cfg)
    assert first.generated == 3
    wavs = sorted(first.audio_dir.iterdir())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in [*wavs, first.manifest]}
    again = generate_corpus(root, cfg)  # complete: no work
    assert again.generated == 0 and again.n_votes == first.n_votes
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before
    # an interrupted run: one WAV and the manifest missing -> only that WAV is made, same bytes
    lost = wavs[1]
    lost_bytes = lost.read_bytes()
    manifest_bytes = first.manifest.read_bytes()
    lost.unlink()
    first.manifest.unlink()
    resumed = generate_corpus(root, cfg)
    assert resumed.generated == 1
    assert lost.read_bytes() == lost_bytes and first.manifest.read_bytes() == manifest_bytes
    assert wavs[0].stat().st_mtime_ns == before[wavs[0]][0]
    # a damaged WAV (not ours to trust) is made again
    wavs[2].write_bytes(b"not a wav")
    first.manifest.unlink()
    assert generate_corpus(root, cfg).generated == 1
    assert wavs[2].read_bytes() == before[wavs[2]][1]
    # another config into the same folder: refused, unless overwrite
    other = SimulationConfig(**{**cfg.to_dict(), "seed": 2, "raters_per_item": (3, 3)})
    with pytest.raises(SimulationError, match=r"another configuration \(seed 1 -> 2; fingerprint") as info:
        generate_corpus(root, other)
    assert isinstance(info.value, CorpusConflictError) and info.value.differences == {"seed": (1, 2)}
    (root / "notes.txt").write_text("mine")
    replaced = generate_corpus(root, other, overwrite=True)
    assert replaced.generated == 3 and (root / "notes.txt").read_text() == "mine"
    assert json.loads((root / "simulation.json").read_text())["config"]["seed"] == 2


def test_refuses_a_folder_with_foreign_files(tmp_path):
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "x.wav").write_bytes(b"RIFF")
    with pytest.raises(SimulationError, match="not written by the simulator"):
        generate_corpus(tmp_path, TINY)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SimulationError, match="not a folder"):
        generate_corpus(tmp_path / "file", TINY)


def test_failed_items_are_reported_and_manifest_withheld(tmp_path, monkeypatch):
    import amber2.demo.synth as synth

    real = synth.synthesize

    def flaky(speaker, cue, syllables, rng, sample_rate):
        if speaker.id == "spk001":
            raise RuntimeError("boom")
        return real(speaker, cue, syllables, rng, sample_rate)

    monkeypatch.setattr(synth, "synthesize", flaky)
    with pytest.raises(SimulationError, match=r"3 of 6 items failed \(spk001_utt000: RuntimeError: boom"):
        generate_corpus(tmp_path / "c", TINY)
    assert not (tmp_path / "c" / "manifest.csv").exists()
    assert len(os.listdir(tmp_path / "c" / "audio")) == 3
    monkeypatch.setattr(synth, "synthesize", real)
    done = generate_corpus(tmp_path / "c", TINY)  # resumes: only the failed ones are made
    assert done.generated == 3 and done.manifest.exists()


def test_true_distribution_equals_brute_force(big_plan):
    """The factorised Monte Carlo of p_true equals softmax(rater_logits) averaged over raters and draws."""
    from amber2.demo.raters import rater_logits, true_distribution

    cfg, pool = big_plan.config, big_plan.pool
    model = cfg.evidence_model()
    cue = np.array([it.cue for it in big_plan.items[:50]])
    S = np.array([it.text_strength for it in big_plan.items[:50]])
    fast = true_distribution(np.random.default_rng(9), model, pool, cue, S, draws=16, chunk=7)
    rng = np.random.default_rng(9)
    ev, et = rng.standard_normal((16, cue.shape[1])), rng.standard_normal((16, len(CLASSES)))
    z = rater_logits(model, cue[:, None, None, :], S[:, None, None, :], pool.voice_reliance[None, :, None],
                     pool.noise[None, :, None], pool.bias[None, :, None, :], ev[None, None], et[None, None])
    e = np.exp(z - z.max(-1, keepdims=True))
    slow = (e / e.sum(-1, keepdims=True)).mean(axis=(1, 2))
    np.testing.assert_allclose(fast, slow, atol=1e-12)
