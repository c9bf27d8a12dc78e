"""The annotator schedule (pinned), the preset checks, prompts and reply parsing."""

from __future__ import annotations

import numpy as np
import pytest

from amber2.annotate import DEFAULT_CLASSES, ReplyParser, build_prompt, load_preset, schedule, temperature


def test_schedule_pinned_first_values():
    p = load_preset()
    got = [a.temperature for a in schedule(10, p)]
    # Hand computation for i = 0: RandomState(0) draws 0.5488135039273248, 0.7151893663724195, so
    # T_0 = 0.1 + 0.2 * 0.5488135 + (-0.05 + 0.1 * 0.7151894) = 0.2312816.
    assert got[0] == pytest.approx(0.1 + 0.2 * 0.5488135039273248 - 0.05 + 0.1 * 0.7151893663724195, abs=1e-15)
    pinned = [0.23128163742270688, 0.40543685028473064, 0.5397916036111898, 0.8309743627767255,
              0.9337341200879826, 0.18147186483568556, 0.461770010817318, 0.5432535370988029,
              0.9215399468404565, 0.9004986838314448]
    np.testing.assert_allclose(got, pinned, rtol=0, atol=1e-12)
    assert [a.focus_index for a in schedule(10, p)] == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    assert temperature(3, p) == got[3]  # the same annotator on every call


def test_schedule_clip_and_bounds():
    p = load_preset()
    ts = [a.temperature for a in schedule(1000, p)]
    assert min(ts) >= 0.1 and max(ts) <= 1.0
    assert min(ts) == 0.1  # band 0 minus jitter reaches below 0.1 for some i: clipped
    with pytest.raises(ValueError, match="1..1000"):
        schedule(0, p)
    with pytest.raises(ValueError, match="1..1000"):
        schedule(1001, p)


def test_preset_validation(tmp_path):
    import yaml

    base = load_preset().model_dump(mode="json")
    bad = dict(base, user_with_transcript="no transcript placeholder {classes}")
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="transcript"):
        load_preset(f)
    f.write_text(yaml.safe_dump(dict(base, temperature_bands=[[0.5, 0.2]])))
    with pytest.raises(ValueError, match="temperature band"):
        load_preset(f)
    f.write_text(yaml.safe_dump(dict(base, colour="blue")))
    with pytest.raises(ValueError, match="colour"):
        load_preset(f)
    f.write_text(yaml.safe_dump(dict(base, name="mine", focus=["Listen."])))
    p = load_preset(f)
    assert p.name == "mine" and schedule(3, p)[2].focus == "Listen."
    with pytest.raises(FileNotFoundError, match="no annotator preset"):
        load_preset(tmp_path / "nope.yaml")


def test_prompt_with_and_without_transcript():
    p = load_preset()
    a = schedule(2, p)[1]
    with_t = build_prompt(p, list(DEFAULT_CLASSES), a.focus, "I can't believe it")
    assert '"I can\'t believe it"' in with_t.user and a.focus in with_t.user
    assert "neutral, happiness, anger, sadness" in with_t.user and "name of that emotion only" in with_t.user
    without = build_prompt(p, list(DEFAULT_CLASSES), a.focus, "   ")
    assert "rely on the audio alone" in without.user and "Transcript" not in without.user
    assert with_t.system == without.system and "expert in emotion" in with_t.system


@pytest.mark.parametrize("reply,label,how", [
    ("anger", "angry", "exact"), ("Angry.", "angry", "exact"), ("  SADNESS\n", "sad", "exact"),
    ("furious", "angry", "synonym"), ("The emotion is happiness.", "happy", "substring"),
    ("unhappy", "sad", "synonym"), ("I'd say unhappy-ish", "sad", "substring"),
    ("not angry, just sad", None, "ambiguous"), ("", None, "empty"), ("...", None, "empty"),
    ("banana", None, "unparseable"), ("happyness", None, "unparseable"),
])
def test_parse(reply, label, how):
    parsed = ReplyParser(DEFAULT_CLASSES, load_preset())(reply)
    assert (parsed.label, parsed.how) == (label, how)


def test_parse_synonym_that_is_a_class_stays_with_its_class():
    # 'excited' is a class here: its word is not read as 'happy' even if a preset listed it as a synonym
    p = load_preset()
    p2 = p.model_copy(update={"synonyms": {**p.synonyms, "happy": ("joy", "excited")}})
    parser = ReplyParser(["happy", "excited", "sad"], p2)
    assert parser("excited").label == "excited" and parser("joy").label == "happy"
