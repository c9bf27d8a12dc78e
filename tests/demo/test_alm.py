"""The simulated ALM annotator: schedule, determinism, rater ids, and that its parameters act as documented."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from amber2.corpora.manifest import read_manifest
from amber2.corpora.raters import parse_synthetic_rater
from amber2.demo.alm import (
    ALMConfig,
    add_alm_votes,
    add_alm_votes_to_folder,
    alm_vote_probabilities,
    alm_votes,
    annotator_temperature,
    item_signals,
)
from amber2.demo.lexicon import CLASSES
from amber2.demo.synth import SimulationConfig, generate_corpus, plan_corpus

SMALL = SimulationConfig(n_speakers=4, utterances_per_speaker=10, conflict_share=0.3, seed=3)


@pytest.fixture(scope="module")
def plan():
    return plan_corpus(SMALL)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    cfg = SimulationConfig(n_speakers=2, utterances_per_speaker=4, seed=1)
    return generate_corpus(tmp_path_factory.mktemp("sim"), cfg)


def test_temperature_schedule_pinned():
    # the seed's schedule: band i mod 5, in-band offset then +-0.05 jitter from RandomState(i), clipped
    got = [round(annotator_temperature(i), 6) for i in range(10)]
    assert got == [0.231282, 0.405437, 0.539792, 0.830974, 0.933734, 0.181472, 0.46177, 0.543254, 0.92154, 0.900499]
    rs = np.random.RandomState(7)
    assert annotator_temperature(7) == pytest.approx(np.clip(rs.uniform(0.5, 0.7) + rs.uniform(-0.05, 0.05), 0.1, 1))


def test_votes_are_deterministic_and_independent_of_n(plan):
    sig = item_signals(plan)
    a = alm_votes(sig, ALMConfig(), 20)
    np.testing.assert_array_equal(a, alm_votes(sig, ALMConfig(), 20))
    np.testing.assert_array_equal(a[:, :7], alm_votes(sig, ALMConfig(), 7))  # the first N of 20 = a run with N
    np.testing.assert_array_equal(a[5:9], alm_votes(sig.subset(sig.ids[5:9]), ALMConfig(), 20))  # per item
    assert not np.array_equal(a, alm_votes(sig, ALMConfig(seed=1), 20))
    assert not np.array_equal(a, alm_votes(sig, ALMConfig(name="other"), 20))


def test_words_only_annotator_ignores_the_voice_on_conflict_items(plan):
    sig = item_signals(plan)
    cfg = ALMConfig(voice_reliance=0.0, focus_shift=0.0)
    conflict = np.array([c == "conflict" for c in sig.conflict])
    assert conflict.sum() >= 5
    p = alm_vote_probabilities(sig, cfg, 5)
    other_voice = dataclasses.replace(sig, cue=np.roll(sig.cue, 3, axis=0))
    np.testing.assert_allclose(alm_vote_probabilities(other_voice, cfg, 5), p)  # the voice plays no part
    text_cls = np.array([CLASSES.index(it.text_emotion) for it in plan.items])
    voice_cls = np.array([CLASSES.index(it.voice_emotion) for it in plan.items])
    mean_p = p[conflict].mean(axis=1)
    rows = np.flatnonzero(conflict)
    assert (mean_p[np.arange(len(rows)), text_cls[rows]] > mean_p[np.arange(len(rows)), voice_cls[rows]]).mean() > 0.8
    # and a voice-only model ignores the words
    vcfg = ALMConfig(voice_reliance=1.0, focus_shift=0.0)
    other_words = dataclasses.replace(sig, strength=np.roll(sig.strength, 3, axis=0))
    np.testing.assert_allclose(alm_vote_probabilities(other_words, vcfg, 5), alm_vote_probabilities(sig, vcfg, 5))


def test_focus_moves_reliance_and_bias_moves_votes(plan):
    cfg = ALMConfig(voice_reliance=0.5, focus_shift=0.2)
    assert [cfg.reliance(i) for i in range(6)] == pytest.approx([0.5, 0.7, 0.3, 0.7, 0.5, 0.5])
    assert ALMConfig(voice_reliance=0.95, focus_shift=0.2).reliance(1) == 1.0  # clipped
    sig = item_signals(plan)
    base = alm_vote_probabilities(sig, ALMConfig(), 5)[..., 3].mean()
    sad = alm_vote_probabilities(sig, ALMConfig(class_bias=(0.0, 0.0, 0.0, 1.5)), 5)[..., 3].mean()
    assert sad > base + 0.05


def test_annotators_of_one_model_share_its_perception(plan):
    """Without prompt noise annotators differ only by temperature and focus: with no focus shift
    every annotator's most likely class is the same (the model's errors are correlated)."""
    sig = item_signals(plan)
    p = alm_vote_probabilities(sig, ALMConfig(focus_shift=0.0, perception_noise=2.0), 10)
    assert (p.argmax(-1) == p[:, :1].argmax(-1)).all()
    # lower temperature: sharper; annotator 0 (T=0.23) against annotator 4 (T=0.93)
    ent = -(p * np.log(np.clip(p, 1e-12, 1))).sum(-1)
    assert (ent[:, 0] <= ent[:, 4] + 1e-12).all()
    # prompt noise makes annotators disagree on the mode for some items
    q = alm_vote_probabilities(sig, ALMConfig(focus_shift=0.0, prompt_noise=2.0), 10)
    assert (q.argmax(-1) != q[:, :1].argmax(-1)).any()


def test_ambiguity_noise_acts_on_ambiguous_items_only_through_h(plan):
    sig = item_signals(plan)
    crisp = dataclasses.replace(sig, p_true=np.tile([1.0, 0.0, 0.0, 0.0], (len(sig), 1)))  # h = 0 everywhere
    np.testing.assert_allclose(alm_vote_probabilities(crisp, ALMConfig(ambiguity_noise=3.0), 4),
                               alm_vote_probabilities(crisp, ALMConfig(), 4))
    flat = dataclasses.replace(sig, p_true=np.full((len(sig), 4), 0.25))  # h = 1: noise x (1 + a)
    np.testing.assert_allclose(alm_vote_probabilities(flat, ALMConfig(ambiguity_noise=1.0, perception_noise=0.5), 4),
                               alm_vote_probabilities(flat, ALMConfig(perception_noise=1.0), 4))


def test_add_votes_kind_rater_ids_and_idempotence(corpus):
    table = read_manifest(corpus.root)
    human = table.votes.copy()
    out = add_alm_votes(table, corpus, 12, ALMConfig(name="qwen-sim"))
    syn = out.votes[out.votes["kind"] == "synthetic"]
    assert len(syn) == 12 * len(table)
    for _, part in syn.groupby("id"):
        parsed = [parse_synthetic_rater(r) for r in part["rater"]]
        assert {p.backend for p in parsed} == {"simulated"} and {p.model for p in parsed} == {"qwen-sim"}
        assert sorted(p.index for p in parsed) == list(range(12))
    assert all(len(lab) == 1 and lab[0] in CLASSES and lab[0] == note for lab, note in zip(syn["labels"], syn["note"]))
    assert out.votes[out.votes["kind"] != "synthetic"].reset_index(drop=True).equals(human)  # humans untouched
    again = add_alm_votes(out, corpus, 12, ALMConfig(name="qwen-sim"))
    assert again.fingerprint() == out.fingerprint()  # replaced, not duplicated
    both = add_alm_votes(out, corpus, 3, ALMConfig(name="other"))
    assert len(both.votes) == len(out.votes) + 3 * len(table)
    assert out.info["simulated_alm"]["qwen-sim"]["n"] == 12
    # the same votes from the folder's items.csv as from the plan in memory
    via_plan = add_alm_votes(table, plan_corpus(corpus.config), 12, ALMConfig(name="qwen-sim"))
    assert via_plan.fingerprint() == out.fingerprint()
    # and from the folder given as a path (a Path's own .root attribute is not the corpus folder)
    for folder in (corpus.root, str(corpus.root)):
        assert add_alm_votes(table, folder, 12, ALMConfig(name="qwen-sim")).fingerprint() == out.fingerprint()


def test_add_votes_to_a_written_table_and_bad_inputs(corpus, tmp_path):
    table = read_manifest(corpus.root)
    path = table.write(tmp_path / "corpus.parquet")
    add_alm_votes_to_folder(tmp_path, corpus, 2)
    from amber2.corpora.table import CorpusTable

    assert (CorpusTable.read(path).votes["kind"] == "synthetic").sum() == 2 * len(table)
    with pytest.raises(ValueError, match="ALM annotators"):
        add_alm_votes(table, corpus, 0)
    with pytest.raises(ValueError, match="ALM annotators"):
        add_alm_votes(table, corpus, 10_001)
    with pytest.raises(ValueError, match="another simulation"):
        add_alm_votes(table, plan_corpus(SMALL), 2)  # another corpus with the same ids
    with pytest.raises(ValueError, match="not in the simulated corpus"):
        add_alm_votes(table, plan_corpus(SimulationConfig(n_speakers=1, utterances_per_speaker=2, seed=1)), 2)
    with pytest.raises(ValueError, match="voice_reliance"):
        ALMConfig(voice_reliance=1.5)
    with pytest.raises(ValueError, match="class_bias"):
        ALMConfig(class_bias=(0.0, 1.0))
    with pytest.raises(FileNotFoundError, match="no simulated corpus"):
        item_signals(tmp_path)
