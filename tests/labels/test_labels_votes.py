"""The choice of votes: human (default), synthetic, combined (first N synthetic votes, optional weight)."""

from __future__ import annotations

import numpy as np
import pytest

from amber2.corpora.raters import synthetic_rater_id
from amber2.corpora.table import CorpusBuilder
from amber2.labels import LabelPolicy, LabelPolicyError, get_policy, load_policy, synthetic_sources

C4 = ("neutral", "happy", "angry", "sad")
BASE = LabelPolicy(name="four", classes=C4, rater_kinds=("external",))


def _table(*, second_source: bool = False, bad_rater: bool = False):
    b = CorpusBuilder("toy", None, "tests")
    for uid in ("u1", "u2", "u3"):
        b.add_item(uid)
    for rater, label in (("h1", "angry"), ("h2", "angry"), ("h3", "sad")):
        b.add_vote("u1", rater=rater, kind="external", labels=[label])
    b.add_vote("u1", rater="s1", kind="self", labels=["happy"])
    # synthetic annotators of u1, added out of index order: 0 sad, 1 sad, 2 angry, 3 happy, 4 neutral
    for index, label in ((3, "happy"), (0, "sad"), (4, "neutral"), (2, "angry"), (1, "sad")):
        b.add_vote("u1", rater=synthetic_rater_id("openai", "qwen2-audio", index), kind="synthetic",
                   labels=[label], note=f"The emotion is {label}.")
    b.add_vote("u2", rater="h1", kind="external", labels=["neutral"])
    # u3: annotator 0's reply was unparseable (a vote row without a label), annotator 1 said happy
    b.add_vote("u3", rater="h1", kind="external", labels=["happy"])
    b.add_vote("u3", rater=synthetic_rater_id("openai", "qwen2-audio", 0), kind="synthetic", labels=[],
               note="I cannot tell.")
    b.add_vote("u3", rater=synthetic_rater_id("openai", "qwen2-audio", 1), kind="synthetic", labels=["happy"])
    if second_source:
        b.add_vote("u1", rater=synthetic_rater_id("bundle", "runs/demo:model", 0), kind="synthetic",
                   labels=["neutral"])
    if bad_rater:
        b.add_vote("u2", rater="syn:broken", kind="synthetic", labels=["sad"])
    return b.build()


def _row(ls, uid):
    return ls.Y[ls.ids.index(uid)].tolist()


def test_human_votes_are_the_default_and_ignore_synthetic_ones():
    t = _table()
    ls = BASE.apply(t)
    assert BASE.votes == "human"
    assert _row(ls, "u1") == pytest.approx([0, 0, 2 / 3, 1 / 3])
    assert ls.n_votes[ls.ids.index("u1")] == 3
    eq1 = get_policy("eq1").apply(t)  # every human kind: the self-rating counts, no synthetic vote does
    assert eq1.classes == ("neutral", "happy", "angry", "sad")
    assert eq1.counts[eq1.ids.index("u1")].tolist() == [0, 1, 2, 1]


def test_synthetic_votes_all_and_first_n():
    t = _table()
    ls = BASE.with_votes("synthetic").apply(t)
    # annotators 0..4: sad, sad, angry, happy, neutral
    assert _row(ls, "u1") == pytest.approx([1 / 5, 1 / 5, 1 / 5, 2 / 5])
    assert ls.dropped["no_votes"] == ["u2"]
    assert _row(ls, "u3") == [0, 1, 0, 0]
    two = BASE.with_votes("synthetic", n=2).apply(t)  # the 2 smallest indices: 0 and 1 -> sad, sad
    assert _row(two, "u1") == [0, 0, 0, 1]
    assert two.n_raters[two.ids.index("u1")] == 2
    # u3 with N = 1: annotator 0 holds the slot and gave no valid label -> no valid vote
    one = BASE.with_votes("synthetic", n=1).apply(t)
    assert one.dropped["no_valid_votes"] == ["u3"]


def test_combined_appends_the_first_n_synthetic_votes():
    t = _table()
    ls = BASE.with_votes("combined", n=3).apply(t)  # human angry, angry, sad + synthetic sad, sad, angry
    assert _row(ls, "u1") == pytest.approx([0, 0, 0.5, 0.5])
    assert ls.n_votes[ls.ids.index("u1")] == 6 and ls.n_raters[ls.ids.index("u1")] == 6
    assert _row(ls, "u2") == [1, 0, 0, 0]  # no synthetic vote: the human votes alone
    every = BASE.with_votes("combined").apply(t)  # all 5: angry 2+1, sad 1+2, happy 1, neutral 1
    assert _row(every, "u1") == pytest.approx(np.array([1, 1, 3, 3]) / 8)


def test_combined_with_a_weight_per_synthetic_vote():
    t = _table()
    ls = BASE.with_votes("combined", n=2, weight=0.25).apply(t)
    # angry 2, sad 1 + 2 x 0.25 sad -> N = 3.5
    assert _row(ls, "u1") == pytest.approx([0, 0, 2 / 3.5, 1.5 / 3.5])
    assert ls.n_votes[ls.ids.index("u1")] == pytest.approx(3.5)
    heavy = BASE.with_votes("combined", n=4, weight=2.0).apply(t)
    # angry 2 + 2, sad 1 + 2 x 2, happy 2 -> N = 11
    assert _row(heavy, "u1") == pytest.approx(np.array([0, 2, 4, 5]) / 11)


def test_synthetic_source_is_chosen_or_the_error_names_them():
    t = _table(second_source=True)
    assert synthetic_sources(t) == {"bundle:runs/demo:model": 1, "openai:qwen2-audio": 7}
    with pytest.raises(LabelPolicyError, match=r"2 sources \(bundle:runs/demo:model, openai:qwen2-audio\)"):
        BASE.with_votes("synthetic").apply(t)
    ls = BASE.with_votes("synthetic", source="bundle:runs/demo:model").apply(t)
    assert ls.ids == ["u1"] and _row(ls, "u1") == [1, 0, 0, 0]
    with pytest.raises(LabelPolicyError, match="'openai:gpt' has no votes.*its sources: bundle"):
        BASE.with_votes("synthetic", source="openai:gpt").apply(t)
    with pytest.raises(LabelPolicyError, match="item 'u2': synthetic vote with rater 'syn:broken'"):
        BASE.with_votes("combined").apply(_table(bad_rater=True))
    no_syn = CorpusBuilder("plain", None, "tests")
    no_syn.add_item("a")
    no_syn.add_vote("a", rater="h", labels=["sad"])
    with pytest.raises(LabelPolicyError, match="holds no synthetic votes"):
        BASE.with_votes("combined").apply(no_syn.build())


def test_vote_settings_are_validated_and_round_trip(tmp_path):
    p = get_policy("iemocap-4class").with_votes("combined", n=10, weight=0.5, source="openai:qwen2-audio")
    assert p.name == "iemocap-4class+combined" and p.synthetic_n == 10 and p.classes == C4
    assert load_policy(p.save(tmp_path / "p.yaml")) == p
    assert LabelPolicy.from_json(p.to_json()) == p
    assert p.fingerprint() != get_policy("iemocap-4class").fingerprint()
    assert p.with_votes("human").fingerprint() == get_policy("iemocap-4class").fingerprint()
    over = load_policy({"extends": "crema-d-voice", "votes": "combined", "synthetic_n": 5})
    assert over.votes == "combined" and over.rater_kinds == ("voice",)
    for kwargs, message in [
        ({"votes": "both"}, r"votes must be one of \['human', 'synthetic', 'combined'\]"),
        ({"synthetic_n": 3}, "synthetic_n only apply with votes='synthetic' or 'combined'"),
        ({"votes": "combined", "synthetic_n": 0}, r"synthetic_n must be None or an integer in \[1, 100000\]"),
        ({"votes": "combined", "synthetic_n": 10**9}, "synthetic_n must be"),
        ({"votes": "combined", "synthetic_weight": 0}, "synthetic_weight must be in"),
        ({"votes": "synthetic", "synthetic_weight": 2}, "only applies with votes='combined'"),
        ({"votes": "combined", "synthetic_source": "qwen"}, "'<backend>:<model>'"),
        ({"rater_kinds": ("external", "synthetic")}, "not a human kind"),
    ]:
        with pytest.raises(LabelPolicyError, match=message):
            LabelPolicy(name="bad", **kwargs)


def test_training_config_carries_policy_overrides():
    from amber2.training.config import load_config

    cfg = load_config(None, ["data.policy=crema-d-voice", "data.policy_overrides.votes=combined",
                             "data.policy_overrides.synthetic_n=10"])
    assert cfg.data.policy_overrides == {"votes": "combined", "synthetic_n": 10}
    assert load_policy(cfg.data.policy).replace(**cfg.data.policy_overrides).synthetic_n == 10
