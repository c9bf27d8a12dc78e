"""LabelPolicy construction, validation, serialisation; presets and the registry."""

from __future__ import annotations

import json

import numpy as np
import pydantic
import pytest
import yaml
from _labels_tables import table_from

from amber2.labels import (
    LabelPolicy,
    LabelPolicyError,
    UnknownPolicyError,
    get_policy,
    list_policies,
    load_policy,
    register_policy,
)
from amber2.labels.presets import _REGISTRY

REQUIRED_PRESETS = {
    "eq1", "iemocap-4class", "iemocap-emo-superb", "iemocap-slt2022", "iemocap-aer-llm", "iemocap-ertk",
    "msp-podcast-8class", "msp-podcast-8class-all-inclusive", "msp-podcast-4class",
    "crema-d-voice", "crema-d-face", "crema-d-audiovisual", "crema-d-emo-superb",
}


@pytest.mark.parametrize("name", sorted(REQUIRED_PRESETS))
def test_every_preset_round_trips_through_json_and_yaml(name, tmp_path):
    p = get_policy(name)
    assert LabelPolicy.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert LabelPolicy.from_json(p.to_json()) == p
    for suffix in (".json", ".yaml"):
        path = p.save(tmp_path / f"{name}{suffix}")
        back = load_policy(path)
        assert back == p and back.fingerprint() == p.fingerprint() and hash(back) == hash(p)
    assert yaml.safe_load((tmp_path / f"{name}.yaml").read_text())["name"] == name


def test_list_and_aliases():
    assert set(list_policies()) >= REQUIRED_PRESETS
    assert get_policy("default") == LabelPolicy() == get_policy("eq1")


def test_preset_contents():
    p4 = get_policy("iemocap-4class")
    assert p4.classes == ("neutral", "happy", "angry", "sad") and p4.merge_map == {"excited": "happy"}
    assert p4.rater_kinds == ("external",) and p4.selection == "consensus"
    assert set(p4.consensus_codes) == {"neu", "hap", "exc", "ang", "sad"}
    es = get_policy("iemocap-emo-superb")
    assert es.classes == ("frustrated", "angry", "sad", "disgust", "excited", "fear", "neutral", "surprise", "happy")
    assert es.smoothing == 0.05 and set(es.rater_kinds) == {"external", "self"} and es.out_of_set == "drop"
    slt = get_policy("iemocap-slt2022")
    assert slt.out_of_set == "keep" and "other" in slt.classes and slt.merge_map == {"excited": "happy"}
    aer = get_policy("iemocap-aer-llm")
    assert aer.decimals == 2 and "excited" not in aer.merge_map and "excited" not in aer.classes
    assert get_policy("iemocap-ertk").multi_label == "first"
    msp8 = get_policy("msp-podcast-8class")
    assert msp8.classes == ("angry", "sad", "disgust", "contempt", "fear", "neutral", "surprise", "happy")
    assert not msp8.include_secondary and get_policy("msp-podcast-8class-all-inclusive").include_secondary
    assert get_policy("msp-podcast-4class").classes == ("neutral", "happy", "angry", "sad")
    for mode in ("voice", "face", "audiovisual"):
        p = get_policy(f"crema-d-{mode}")
        assert p.rater_kinds == (mode,)
        assert p.classes == ("angry", "disgust", "fear", "happy", "neutral", "sad")


def test_crema_d_presets_pick_their_rating_mode():
    t = table_from({"1001_DFA_ANG_XX": [
        ("v1", "voice", ["angry"]), ("v2", "voice", ["neutral"]),
        ("f1", "face", ["angry"]), ("a1", "audiovisual", ["disgust"]), ("a2", "audiovisual", ["disgust"]),
    ]}, corpus="crema-d")
    assert get_policy("crema-d-voice").apply(t).counts.tolist() == [[1, 0, 0, 0, 1, 0]]
    assert get_policy("crema-d-face").apply(t).counts.tolist() == [[1, 0, 0, 0, 0, 0]]
    assert get_policy("crema-d-audiovisual").apply(t).Y.tolist() == [[0, 1, 0, 0, 0, 0]]


def test_crema_d_emo_superb_preset_on_real_votes(tmp_path):
    """1001_IEO_HAP_HI, voice mode (tabulatedVotes.csv): A 2, H 6, N 2 of 10 responses."""
    import shutil
    from pathlib import Path

    from amber2.corpora.crema_d import read_crema_d

    crema = Path(__file__).parents[1] / "data" / "crema-d"
    shutil.copy(crema / "tabulatedVotes_1001_clips1-40.csv", tmp_path / "tabulatedVotes.csv")
    table = read_crema_d(tmp_path, check_audio=False)
    p = get_policy("crema-d-emo-superb")
    assert p.classes == ("angry", "sad", "disgust", "fear", "neutral", "happy") and p.rater_kinds == ("voice",)
    ls = p.apply(table)
    assert len(ls) == 40
    # y = (.2, 0, 0, 0, .2, .6); smoothed with eps = 0.05 over 6 classes: 0.95 y + 0.01 (1 - y)
    assert ls.Y[ls.ids.index("1001_IEO_HAP_HI")] == pytest.approx([0.198, 0.01, 0.01, 0.01, 0.198, 0.574])
    assert ls.Y.sum(axis=1) == pytest.approx(np.ones(40))


def test_msp_presets():
    t = table_from(
        {"MSP-PODCAST_0001_0139": [
            ("WORKER00000001", "external", ["other"], ["concerned", "confused"]),
            ("WORKER00000018", "external", ["neutral"], ["neutral"]),
            ("WORKER00000044", "external", ["surprise"], ["neutral", "surprise"]),
            ("WORKER00000050", "external", ["angry"], ["annoyed"]),
        ]},
        corpus="msp-podcast", consensus={"MSP-PODCAST_0001_0139": "N"},
    )
    y8 = dict(zip(get_policy("msp-podcast-8class").apply(t).classes,
                  get_policy("msp-podcast-8class").apply(t).Y[0], strict=True))
    assert (y8["neutral"], y8["surprise"], y8["angry"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    all8 = get_policy("msp-podcast-8class-all-inclusive").apply(t)
    assert all8.n_votes.tolist() == [4]  # neutral, surprise, neutral (worker 44), angry
    four = get_policy("msp-podcast-4class").apply(t)
    assert four.Y.tolist() == [[0.5, 0.0, 0.5, 0.0]]


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(UnknownPolicyError) as err:
        get_policy("iemocap-4clas")
    msg = str(err.value)
    assert "unknown label policy 'iemocap-4clas'" in msg and "Did you mean 'iemocap-4class'" in msg
    for name in REQUIRED_PRESETS:
        assert name in msg
    assert isinstance(err.value, KeyError) and isinstance(err.value, LabelPolicyError)
    with pytest.raises(UnknownPolicyError, match="no label policy file"):
        load_policy("missing/policy.yaml")
    with pytest.raises(UnknownPolicyError, match="Known policies"):
        load_policy("nonsense")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": ("neutral", "happy"), "merge": {"excited": "joy"}},
         r"merge target 'joy' \(from 'excited'\) is not in classes \['neutral', 'happy'\]"),
        ({"classes": ("neutral", "happy"), "out_of_set": "keep"},
         r"out_of_set='keep'.*'other' is not in classes"),
        ({"classes": ("neutral", "happy", "excited"), "merge": {"excited": "happy"}},
         "'excited' is merged into 'happy' but is also listed as a class"),
        ({"merge": {"excited": "happy", "happy": "joy"}}, "merge chains are not allowed"),
        ({"merge": {"happy": "happy"}}, "onto itself"),
        ({"classes": ("neutral",)}, "at least 2"),
        ({"classes": ("neutral", "neutral")}, "more than once"),
        ({"classes": "neutral"}, "must be a list of names"),
        ({"classes": ("neutral", " happy")}, "surrounding blanks"),
        ({"multi_label": "half"}, r"multi_label must be one of \['full', 'split', 'first'\]"),
        ({"out_of_set": "other"}, "out_of_set must be one of"),
        ({"duplicates": "twice"}, "duplicates must be one of"),
        ({"selection": "vote"}, "selection must be one of"),
        ({"selection": "consensus"}, "needs consensus_codes"),
        ({"consensus_codes": ("neu",)}, "only used with selection='consensus'"),
        ({"smoothing": 1.0}, r"smoothing must be in \[0, 1\)"),
        ({"smoothing": -0.1}, "smoothing must be in"),
        ({"smoothing": float("nan")}, "finite number"),
        ({"decimals": -1}, "decimals must be None or an integer"),
        ({"decimals": 2.5}, "decimals must be None or an integer"),
        ({"min_votes": -1}, "min_votes must be >= 0"),
        ({"min_raters": 1.5}, "min_raters must be an integer"),
        ({"rater_kinds": ()}, "rater_kinds is empty"),
        ({"include_secondary": "yes"}, "include_secondary must be true or false"),
        ({"name": "my policy"}, "name 'my policy' is invalid"),
        ({"name": ""}, "is invalid"),
        ({"version": ""}, "version must be a non-empty string"),
    ],
)
def test_invalid_policies_are_refused_with_clear_errors(kwargs, message):
    with pytest.raises(LabelPolicyError, match=message):
        LabelPolicy(**{"name": "bad", **kwargs})


def test_normalisation_and_equality():
    a = LabelPolicy(name="x", version=2, classes=["happy", "sad"], merge={"excited": "happy", "joy": "happy"},
                    rater_kinds=["external", "external"], smoothing=0, min_votes=1)
    assert a.version == "2" and a.classes == ("happy", "sad") and a.rater_kinds == ("external",)
    assert a.merge == (("excited", "happy"), ("joy", "happy")) and isinstance(a.smoothing, float)
    b = LabelPolicy(name="x", version="2", classes=("happy", "sad"), merge=[("joy", "happy"), ("excited", "happy")],
                    rater_kinds=("external",), smoothing=0.0, min_votes=1.0)
    assert a == b and hash(a) == hash(b)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        a.name = "y"  # type: ignore[misc]
    replaced = a.replace(smoothing=0.1)
    assert replaced.smoothing == 0.1 and replaced.merge_map == a.merge_map
    with pytest.raises(LabelPolicyError, match="smoothing"):
        a.replace(smoothing=2.0)


def test_fingerprint_covers_the_rule_not_the_name():
    a = get_policy("iemocap-4class")
    renamed = a.replace(name="mine", version="7", description="same rule")
    assert renamed.fingerprint() == a.fingerprint()
    for change in ({"rater_kinds": ("external", "self")}, {"multi_label": "split"}, {"smoothing": 0.01},
                   {"consensus_codes": ("neu", "hap", "ang", "sad")}, {"decimals": 3}, {"duplicates": "each"}):
        assert a.replace(**change).fingerprint() != a.fingerprint(), change
    assert len(a.fingerprint()) == 64


def test_from_dict_unknown_keys_and_extends(tmp_path):
    with pytest.raises(LabelPolicyError, match=r"unknown setting\(s\) \['smooth'\].*known settings"):
        LabelPolicy.from_dict({"name": "x", "smooth": 0.1})
    with pytest.raises(LabelPolicyError, match="must be a mapping"):
        LabelPolicy.from_dict(["name", "x"])  # type: ignore[arg-type]
    with pytest.raises(LabelPolicyError, match="read it with amber2.labels.load_policy"):
        LabelPolicy.from_dict({"extends": "iemocap-4class"})
    ext = load_policy({"extends": "iemocap-4class", "rater_kinds": ["external", "self"]})
    assert ext.name == "iemocap-4class-custom" and ext.rater_kinds == ("external", "self")
    assert ext.classes == get_policy("iemocap-4class").classes
    with pytest.raises(UnknownPolicyError):
        load_policy({"extends": "nope"})
    f = tmp_path / "mine.yaml"
    f.write_text("label_policy:\n  extends: iemocap-emo-superb\n  name: emo-superb-no-smoothing\n  smoothing: 0\n")
    p = load_policy(f)
    assert p.name == "emo-superb-no-smoothing" and p.smoothing == 0.0 and len(p.classes) == 9
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "b", "classes": ["a", "b"], "merge": {"c": "d"}}')
    with pytest.raises(LabelPolicyError, match=r"bad\.json: label policy 'b': merge target 'd'"):
        load_policy(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(LabelPolicyError, match="cannot parse label policy file"):
        load_policy(broken)


def test_register_policy():
    mine = LabelPolicy(name="test-register-mine", classes=("happy", "sad"))
    try:
        assert register_policy(mine) is mine
        assert get_policy("test-register-mine") is mine and "test-register-mine" in list_policies()
        register_policy(LabelPolicy(name="test-register-mine", classes=("happy", "sad")))  # equal: no-op
        other = LabelPolicy(name="test-register-mine", classes=("happy", "angry"))
        with pytest.raises(LabelPolicyError, match="already registered"):
            register_policy(other)
        register_policy(other, replace=True)
        assert get_policy("test-register-mine") == other
        with pytest.raises(LabelPolicyError, match="reserved alias"):
            register_policy(LabelPolicy(name="default"))
        with pytest.raises(LabelPolicyError, match="expects a LabelPolicy"):
            register_policy({"name": "x"})  # type: ignore[arg-type]
    finally:
        _REGISTRY.pop("test-register-mine", None)


def test_inferred_classes_follow_the_corpus_vocabulary():
    from amber2.corpora.vocab import CANONICAL_LABELS
    from amber2.labels import order_classes

    assert order_classes(set(CANONICAL_LABELS) | {"zzz", "aaa"}) == [*CANONICAL_LABELS, "aaa", "zzz"]
