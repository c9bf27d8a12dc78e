"""IEMOCAP reader on a release written in the exact format of docs/corpora.md, plus the label presets."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from corpora_release_writers import IEMOCAP_CODE_COUNTS, write_iemocap, write_iemocap_full_size

from amber2.corpora import CorpusTable, read_iemocap
from amber2.corpora.iemocap import IemocapLayoutError


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_iemocap(tmp_path_factory.mktemp("iemocap"))


@pytest.fixture(scope="module")
def table(release) -> CorpusTable:
    return read_iemocap(release.parent)  # the parent of IEMOCAP_full_release/ is accepted too


def votes(table, uid):
    v = table.votes_of(uid)
    return {r.rater: r for r in v.itertuples()}


def issues(table, reason):
    return [i for i in table.issues if i.reason == reason]


def test_items_and_metadata(table):
    assert len(table) == 14
    it = table.items.set_index("id")
    assert it.loc["Ses01F_impro01_F000", "speaker"] == "Ses01F"
    assert it.loc["Ses01F_impro01_M000", "speaker"] == "Ses01M"  # gender of the last token
    assert it.loc["Ses01M_impro07_F010", "speaker"] == "Ses01F"
    assert it.loc["Ses02F_impro01_F001", "group"] == "Ses02"
    assert it.loc["Ses03M_script01_1b_M011", "dialog"] == "Ses03M_script01_1b"
    assert bool(it.loc["Ses03M_script01_1b_M011", "scripted"]) is True
    assert it.loc["Ses01M_impro07_M033", "consensus"] == "hap"
    assert it.loc["Ses01M_impro07_M033", "gender"] == "Male"
    assert it.loc["Ses01M_impro07_M033", "valence_mean"] == pytest.approx(3.5)
    assert it.loc["Ses01M_impro07_M033", "dominance_mean"] == pytest.approx(1.5)
    assert it.loc["Ses02F_impro01_F001", "start"] == pytest.approx(16.4840)
    assert Counter(table.items["consensus"]) == Counter(
        {"neu": 4, "fru": 2, "hap": 2, "ang": 1, "xxx": 1, "oth": 1, "exc": 1, "sur": 1, "sad": 1})


def test_real_block_f000(table):
    v = votes(table, "Ses01F_impro01_F000")
    assert set(v) == {"E2", "E3", "E4", "F1"}
    assert all(list(v[r].labels) == ["neutral"] for r in v)
    assert v["F1"].kind == "self" and v["E2"].kind == "external"
    assert v["F1"].note == "curious"
    # A- lines merged into the rater's row; `dom  2` with two spaces
    assert (v["E3"].valence, v["E3"].arousal, v["E3"].dominance) == (3.0, 2.0, 2.0)
    assert (v["F1"].valence, v["F1"].arousal, v["F1"].dominance) == (3.0, 2.0, 1.0)
    assert np.isnan(v["E2"].valence)
    assert "mildly aggravated" in v["E4"].note


def test_a_only_rater_gets_a_row_with_empty_labels(table):
    v = votes(table, "Ses01M_impro07_M033")
    assert set(v) == {"E1", "E2", "E6", "M1", "E3"}
    assert list(v["E3"].labels) == [] and v["E3"].kind == "external"
    assert (v["E3"].valence, v["E3"].arousal, v["E3"].dominance) == (4.0, 3.0, 1.0)
    assert v["M1"].kind == "self" and list(v["M1"].labels) == ["happy"]
    assert list(v["E1"].labels) == ["excited"]


def test_several_labels_empty_payload_other_free_text(table):
    v = votes(table, "Ses01F_impro01_M000")
    assert list(v["E1"].labels) == ["frustrated", "sad"]  # order as written
    assert list(v["M1"].labels) == [] and v["M1"].kind == "self"  # `C-M1:\t;\t()`
    assert list(v["E2"].labels) == ["frustrated"]  # the repeated C-E2 line is ignored ...
    assert any("E2" in i.detail for i in issues(table, "duplicate_rater"))  # ... and reported
    assert issues(table, "unparsable_line")[0].item == "Ses01F_impro01_M000"
    f001 = votes(table, "Ses02F_impro01_F001")
    assert list(f001["F2"].labels) == ["frustrated", "other"] and f001["F2"].note == "disbelief"
    assert list(votes(table, "Ses02F_impro01_M003")["F2"].labels) == []


def test_duplicate_id_keeps_first_block(table):
    dup = issues(table, "duplicate_id")
    assert [i.item for i in dup] == ["Ses01F_impro01_F002"]
    v = votes(table, "Ses01F_impro01_F002")
    assert set(v) == {"E1", "E2", "F1"} and all(list(r.labels) == ["other"] for r in v.values())
    assert table.items.set_index("id").loc["Ses01F_impro01_F002", "consensus"] == "oth"


def test_transcripts(table):
    it = table.items.set_index("id")
    assert it.loc["Ses01F_impro01_F000", "transcript"] == "Excuse me."
    assert it.loc["Ses01F_impro01_F001", "transcript"] == "Yeah. [LAUGHTER] Sure."
    assert it["transcript"].isna().sum() == 1 and pd.isna(it.loc["Ses02F_impro01_M003", "transcript"])
    assert [i.item for i in issues(table, "no_transcript")] == ["Ses02F_impro01_M003"]
    skipped = issues(table, "skipped_transcript_line")
    assert len(skipped) == 2 and any("MXX0" in i.detail for i in skipped)


def test_audio_status_and_durations(table):
    it = table.items.set_index("id")
    assert it.loc["Ses01F_impro01_F000", "audio_status"] == "ok"
    assert it.loc["Ses01F_impro01_F000", "duration"] == pytest.approx(0.5)  # from the wav header
    assert it.loc["Ses01M_impro07_M033", "audio_status"] == "lfs_pointer"
    assert it.loc["Ses01F_impro01_F001", "audio_status"] == "empty"
    assert it.loc["Ses03M_script01_1b_F012", "audio_status"] == "missing"
    # the turn's [start - end] is kept as the duration when the header cannot be read
    assert it.loc["Ses03M_script01_1b_F012", "duration"] == pytest.approx(1.5)
    assert "git lfs pull" in issues(table, "lfs_pointer")[0].detail
    assert it.loc["Ses01F_impro01_F000", "audio_path"].endswith(
        "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav")


def test_unchecked_audio_and_session_filter(release):
    t = read_iemocap(release, sessions=[2], check_audio=False)
    assert set(t.items["group"]) == {"Ses02"} and len(t) == 5
    assert set(t.items["audio_status"]) == {"unchecked"}
    assert t.items.set_index("id").loc["Ses02F_impro01_F000", "duration"] == pytest.approx(1.5)


def test_round_trip_parquet(table, tmp_path):
    back = CorpusTable.read(table.write(tmp_path / "corpus.parquet"))
    assert back.fingerprint() == table.fingerprint()
    assert [i.reason for i in back.issues] == [i.reason for i in table.issues]


def test_layout_errors(tmp_path):
    with pytest.raises(IemocapLayoutError, match="Session"):
        read_iemocap(tmp_path)
    (tmp_path / "Session1").mkdir()
    with pytest.raises(IemocapLayoutError, match="EmoEvaluation"):
        read_iemocap(tmp_path)


# ------------------------------------------------------------------------------ label presets
def test_emo_superb_preset_gives_the_public_distributions(table):
    from amber2.labels import get_policy

    pol = get_policy("iemocap-emo-superb")
    raw = pol.replace(name="emo-superb-unsmoothed", smoothing=0.0).apply(table)
    cls = list(raw.classes)
    assert cls == ["frustrated", "angry", "sad", "disgust", "excited", "fear", "neutral", "surprise", "happy"]
    y = {i: dict(zip(cls, row, strict=True)) for i, row in zip(raw.ids, raw.Y, strict=True)}
    expected = {
        "Ses01F_impro01_F000": {"neutral": 1.0},                        # C-E2/E3/E4 + self F1
        "Ses01M_impro07_M033": {"excited": 0.25, "happy": 0.75},         # the example of the issue
        "Ses02F_impro01_F001": {"excited": 0.25, "surprise": 0.5, "frustrated": 0.25},  # Other dropped
    }
    for uid, dist in expected.items():
        for c in cls:
            assert y[uid][c] == pytest.approx(dist.get(c, 0.0)), (uid, c)
    # smoothed with eps = 0.05: y' = (1 - eps) y + eps (1 - y) / (C - 1)
    smoothed = pol.apply(table)
    ys = dict(zip(smoothed.ids, smoothed.Y, strict=True))
    eps, C = 0.05, 9
    for uid, dist in expected.items():
        ref = np.array([(1 - eps) * dist.get(c, 0.0) + eps * (1 - dist.get(c, 0.0)) / (C - 1) for c in cls])
        np.testing.assert_allclose(ys[uid], ref, atol=1e-12)
    # every rater chose Other: no valid vote, dropped and counted, never divided by zero
    assert "Ses01F_impro01_F002" in smoothed.dropped["no_valid_votes"]


def test_four_class_preset_on_the_fixture(table):
    from amber2.labels import get_policy

    ls = get_policy("iemocap-4class").apply(table)
    assert list(ls.classes) == ["neutral", "happy", "angry", "sad"]
    kept = set(ls.ids)
    codes = table.items.set_index("id")["consensus"]
    assert kept == {i for i, c in codes.items() if c in ("neu", "hap", "exc", "ang", "sad")}
    y = dict(zip(ls.ids, ls.Y, strict=True))
    # docs/labels.md worked example: E1 Excited, E2/E6 Neutral (C-E only, exc -> hap) -> 2/3, 1/3
    np.testing.assert_allclose(y["Ses02F_impro01_F000"], [2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(y["Ses01F_impro01_F000"], [1, 0, 0, 0])
    np.testing.assert_allclose(y["Ses01M_impro07_M033"], [0, 1, 0, 0])  # excited merged, self not counted
    np.testing.assert_allclose(y["Ses01F_impro01_F001"], [0, 0, 1, 0])  # frustration dropped, renormalised
    with_self = get_policy("iemocap-4class").replace(name="four-with-self",
                                    rater_kinds=("external", "self")).apply(table)
    ys = dict(zip(with_self.ids, with_self.Y, strict=True))
    np.testing.assert_allclose(ys["Ses02F_impro01_F000"], [3 / 4, 1 / 4, 0, 0])  # docs/labels.md: 3/4, 1/4


def test_full_size_release_gives_5531_in_the_4class_setting(tmp_path):
    from amber2.labels import get_policy

    base = write_iemocap_full_size(tmp_path)
    t = read_iemocap(base, check_audio=False)
    assert len(t) == sum(IEMOCAP_CODE_COUNTS.values()) == 10039
    assert Counter(t.items["consensus"]) == Counter(IEMOCAP_CODE_COUNTS)
    assert len(t.votes) == 4 * 10039
    ls = get_policy("iemocap-4class").apply(t)
    assert len(ls) == 1708 + 1636 + 1103 + 1084 == 5531
    assert len(ls.dropped["not_selected_by_consensus"]) == 10039 - 5531
    assert sorted(set(t.items["group"])) == ["Ses01", "Ses02", "Ses03", "Ses04", "Ses05"]
