"""MSP-Podcast reader: every labels_detailed.csv format, labels.txt, consensus spellings, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from corpora_release_writers import MSP_CONSENSUS, MSP_VOTES, write_msp_podcast

from amber2.corpora import read_msp_podcast
from amber2.corpora.msp_podcast import MspLayoutError, _parse_detail

FORMATS = ["v1.6", "v1.7", "v2.0", "none"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    out = {}
    for fmt in FORMATS:
        root = tmp_path_factory.mktemp(f"msp{fmt}")
        out[fmt] = read_msp_podcast(write_msp_podcast(root, fmt))
    return out


def _vote_frame(t):
    v = t.votes.copy()
    v["labels"] = v["labels"].map(tuple)
    v["secondary"] = v["secondary"].map(tuple)
    return v.sort_values(["id", "rater"]).reset_index(drop=True)


def test_reference_votes_in_every_format(tables):
    expect_sec = {
        "Amused": "amused", "Happy": "happy", "Neutral": "neutral", "Concerned": "concerned",
        "Dissapointed": "disappointed", "Sad": "sad", "Confused": "confused", "Surprise": "surprise",
        "Excited": "excited", "Annoyed": "annoyed", "Frustrated": "frustrated", "Angry": "angry",
        "Disgust": "disgust", "Fear": "fear", "Depressed": "depressed", "Other-tired": "other",
    }
    for fmt, t in tables.items():
        v = {(r.id, r.rater): r for r in t.votes.itertuples()}
        assert len(v) == len(MSP_VOTES), fmt
        for fid, worker, primary, sec, a, val, d in MSP_VOTES:
            r = v[(fid, worker)]
            prim = "other" if primary.startswith("Other") else primary.lower()
            assert list(r.labels) == [prim], (fmt, fid, worker)
            assert list(r.secondary) == [expect_sec[s] for s in (sec or [])], (fmt, fid, worker)
            assert (r.arousal, r.valence, r.dominance) == (a, val, d)
            assert r.kind == "external"


def test_formats_agree_exactly(tables):
    ref = _vote_frame(tables["v1.7"])
    for fmt in ("v1.6", "v2.0", "none"):
        pd.testing.assert_frame_equal(_vote_frame(tables[fmt]), ref, check_dtype=False)
    assert tables["v1.7"].info["detailed_format"] == "v1.7-1.12"
    assert tables["v1.6"].info["detailed_format"] == "v1.6"
    assert tables["v2.0"].info["detailed_format"] == "v2.0"
    assert tables["none"].info["votes_source"].endswith("labels.txt")


def test_other_free_text_and_misspelling(tables):
    v = {(r.id, r.rater): r for r in tables["v1.7"].votes.itertuples()}
    r = v[("MSP-PODCAST_0001_0139", "WORKER00000001")]
    assert list(r.labels) == ["other"] and r.note == "confused"
    r = v[("MSP-PODCAST_0002_0040", "WORKER00000030")]
    assert r.note == "bored | secondary: tired" and list(r.secondary) == ["other"]
    assert "disappointed" in v[("MSP-PODCAST_0001_0008", "WORKER00000015")].secondary


def test_duplicate_worker_kept_once_and_warned(tables):
    for t in tables.values():
        dup = [i for i in t.issues if i.reason == "duplicate_rater"]
        assert len(dup) == 1 and dup[0].item == "MSP-PODCAST_0001_0008" and "WORKER00000007" in dup[0].detail
        first = t.votes[(t.votes["id"] == "MSP-PODCAST_0001_0008") & (t.votes["rater"] == "WORKER00000007")]
        assert len(first) == 1 and list(first["labels"].iloc[0]) == ["neutral"]  # the first row, not "Happy"
    bad = [i for i in tables["v1.7"].issues if i.reason == "unparsable_line"]
    assert len(bad) == 1 and "WORKER00000099" in bad[0].detail


def test_items_metadata(tables):
    it = tables["v1.7"].items.set_index("id")
    assert list(it.index) == [r[0][:-4] for r in MSP_CONSENSUS]
    assert it.loc["MSP-PODCAST_0001_0008", "speaker"] == "30"
    assert pd.isna(it.loc["MSP-PODCAST_0002_0033", "speaker"])  # SpkrID Unknown
    assert it.loc["MSP-PODCAST_0002_0033", "split"] == "Development"  # old "Validation"
    assert it.loc["MSP-PODCAST_0002_0040", "split"] == "Test2"
    assert it.loc["MSP-PODCAST_0002_0033", "group"] == "0002"
    assert it.loc["MSP-PODCAST_0001_0008", "consensus"] == "N"
    assert it.loc["MSP-PODCAST_0001_0008", "arousal_mean"] == pytest.approx(2.2)
    assert it.loc["MSP-PODCAST_0001_0139", "gender"] == "Female"
    assert it.loc["MSP-PODCAST_0001_0008", "transcript"] == "and that was the end of it"
    assert pd.isna(it.loc["MSP-PODCAST_0002_0040", "transcript"])
    assert dict(it["audio_status"]) == {
        "MSP-PODCAST_0001_0008": "ok", "MSP-PODCAST_0001_0139": "lfs_pointer",
        "MSP-PODCAST_0002_0033": "ok", "MSP-PODCAST_0002_0040": "missing"}
    assert it.loc["MSP-PODCAST_0001_0008", "duration"] == pytest.approx(0.5)
    reasons = {i.reason for i in tables["v1.7"].issues}
    assert {"no_transcript", "lfs_pointer", "missing_audio"} <= reasons


def test_old_consensus_spelling_and_raw_only(tmp_path):
    root = write_msp_podcast(tmp_path / "a", "v1.7", consensus_spelling="concensus", extras=False)
    t = read_msp_podcast(root, check_audio=False)
    assert t.items.set_index("id").loc["MSP-PODCAST_0002_0033", "split"] == "Development"
    assert set(t.items["audio_status"]) == {"unchecked"}
    raw = read_msp_podcast(root, votes="raw", check_audio=False, read_transcripts=False)
    pd.testing.assert_frame_equal(_vote_frame(raw), _vote_frame(t), check_dtype=False)
    assert raw.items["transcript"].isna().all()


def test_without_consensus_uses_labels_txt_and_partitions(tmp_path):
    root = write_msp_podcast(tmp_path, "v1.7")
    (root / "Labels" / "labels_consensus.csv").unlink()
    t = read_msp_podcast(root, check_audio=False)
    it = t.items.set_index("id")
    assert len(t) == 4
    assert it.loc["MSP-PODCAST_0001_0139", "consensus"] == "X"          # labels.txt summary line
    assert it.loc["MSP-PODCAST_0001_0139", "valence_mean"] == pytest.approx(3.8)
    assert it.loc["MSP-PODCAST_0002_0033", "split"] == "Development"   # Partitions.txt
    assert it.loc["MSP-PODCAST_0001_0008", "speaker"] == "30"          # Speaker_ids.txt
    assert it.loc["MSP-PODCAST_0001_0008", "gender"] == "Male"


def test_votes_for_files_missing_from_consensus_are_kept(tmp_path):
    root = write_msp_podcast(tmp_path, "v1.7")
    path = root / "Labels" / "labels_consensus.csv"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")  # drop 0002_0040
    t = read_msp_podcast(root, check_audio=False)
    assert "MSP-PODCAST_0002_0040" in t.ids
    assert [i.item for i in t.issues if i.reason == "no_consensus_row"] == ["MSP-PODCAST_0002_0040"]


def test_emo_detail_grammar():
    assert _parse_detail("WORKER00000044; Surprise; Neutral,Surprise; A:3.000000; V:5.000000; D:3.000000;") == (
        "WORKER00000044", "Surprise", "Neutral,Surprise", {"A": 3.0, "V": 5.0, "D": 3.0})
    assert _parse_detail("WORKER1; Neutral; A:1.5; V:4; D:2;") == ("WORKER1", "Neutral", None,
                                                                   {"A": 1.5, "V": 4.0, "D": 2.0})
    with pytest.raises(ValueError):
        _parse_detail("WORKER1")


def test_presets_primary_and_all_inclusive(tables):
    from amber2.labels import get_policy

    t = tables["v1.7"]
    prim = get_policy("msp-podcast-8class").apply(t)
    y = dict(zip(prim.ids, prim.Y, strict=True))
    cls = list(prim.classes)
    # 0001_0008: Neutral x3, Happy, Sad (the duplicate worker's "Happy" is not counted)
    np.testing.assert_allclose(y["MSP-PODCAST_0001_0008"], [0.6 if c == "neutral" else 0.2 if c in ("happy", "sad")
                                                            else 0 for c in cls])
    assert "MSP-PODCAST_0002_0040" in prim.dropped["no_valid_votes"]  # every primary is Other-*
    incl = get_policy("msp-podcast-8class-all-inclusive").apply(t)
    yi = dict(zip(incl.ids, incl.Y, strict=True))
    # primaries N,N,H,N,S + secondary mentions in the 8 classes (a rater's repeat counts once):
    # W3 neutral; W11 happy; W15 sad -> neutral 3, happy 1, sad 1 (same as primary-only here)
    np.testing.assert_allclose(yi["MSP-PODCAST_0001_0008"], y["MSP-PODCAST_0001_0008"])
    # 0002_0040: secondary Neutral of W34 makes one valid vote
    assert yi["MSP-PODCAST_0002_0040"][cls.index("neutral")] == pytest.approx(1.0)


def test_layout_errors(tmp_path):
    with pytest.raises(MspLayoutError, match="labels_consensus"):
        read_msp_podcast(tmp_path)
    root = write_msp_podcast(tmp_path / "r", "none", raw=False)
    with pytest.raises(MspLayoutError, match=r"labels\.txt"):
        read_msp_podcast(root)
    with pytest.raises(ValueError, match="votes"):
        read_msp_podcast(root, votes="best")
    (root / "Labels" / "labels_detailed.csv").write_text("FileName,Something\nx.wav,1\n")
    with pytest.raises(MspLayoutError, match=r"unknown labels_detailed\.csv header"):
        read_msp_podcast(root)
