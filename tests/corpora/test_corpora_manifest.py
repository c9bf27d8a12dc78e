"""Manifest reader: both forms, three file types, nested JSONL votes, and the error cases."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
from corpora_release_writers import MANIFEST_ITEMS, write_manifest, write_manifest_audio

from amber2.corpora import read_corpus, read_manifest
from amber2.corpora.manifest import ManifestError

CASES = [("rater", "csv"), ("rater", "jsonl"), ("rater", "parquet"), ("counts", "csv"), ("counts", "jsonl"),
         ("counts", "parquet"), ("nested", "jsonl"), ("nested-counts", "jsonl")]


def _label_counts(t):
    """Votes per label and item, a row of weight k counting k times (aggregated counts)."""
    out = {}
    for uid in t.ids:
        c: Counter = Counter()
        v = t.votes_of(uid)
        for ls, w in zip(v["labels"], v["weight"], strict=True):
            for lab in ls:
                c[lab] += w
        out[uid] = c
    return out


def _expected_counts():
    return {uid: Counter(lab for ls in v[3].values() for lab in ls) for uid, v in MANIFEST_ITEMS.items()}


@pytest.mark.parametrize(("form", "fmt"), CASES)
def test_every_form_and_type_reads_the_same_corpus(tmp_path, form, fmt):
    path = write_manifest(tmp_path / "corpus", form, fmt)
    t = read_manifest(path)
    assert t.ids == list(MANIFEST_ITEMS)
    assert t.corpus == "corpus"  # manifest.* -> the folder's name
    assert _label_counts(t) == _expected_counts()
    it = t.items.set_index("id")
    assert it.loc["u1", "speaker"] == "spkA" and it.loc["u1", "group"] == "spkA"  # group defaults to speaker
    assert it.loc["u1", "transcript"] == "hello there"
    assert pd.isna(it.loc["u3", "transcript"])
    assert it.loc["u1", "audio_path"] == str(tmp_path / "corpus" / "wav" / "u1.wav")  # relative -> manifest dir
    assert dict(it["audio_status"]) == {"u1": "ok", "u2": "ok", "u3": "lfs_pointer", "u4": "missing", "u5": "ok"}
    assert it.loc["u1", "duration"] == pytest.approx(0.25)
    assert "session_no" in t.metadata_columns and int(it.loc["u4", "session_no"]) == 4
    reasons = Counter(i.reason for i in t.issues)
    assert reasons["no_transcript"] == 1 and reasons["lfs_pointer"] == 1 and reasons["missing_audio"] == 1
    if form in ("rater", "nested"):
        v = {(r.id, r.rater): list(r.labels) for r in t.votes.itertuples()}
        assert v[("u2", "r2")] == ["sad", "angry"]  # several labels, in the rater's order
        assert set(t.votes["kind"]) == {"external"}
    else:  # one weighted row per class, not one row per anonymous vote
        v = t.votes_of("u1")
        assert sorted(zip(v["rater"], v["weight"])) == sorted(
            (f"counts:{lab}", float(n)) for lab, n in _expected_counts()["u1"].items())


def test_folder_with_one_manifest_and_read_corpus(tmp_path):
    write_manifest(tmp_path, "rater", "csv")
    t = read_corpus("manifest", tmp_path, name="mine", check_audio=False)
    assert t.corpus == "mine" and len(t) == 5
    assert set(t.items["audio_status"]) == {"unchecked"}
    with pytest.raises(ValueError, match="takes no option"):
        read_corpus("manifest", tmp_path, sessions=[1])


def test_rater_form_details(tmp_path):
    write_manifest_audio(tmp_path)
    rows = [
        {"id": "a", "audio": "wav/u1.wav", "speaker": "s1", "rater": "r1", "label": "Happy; Excited",
         "rater_kind": "self", "valence": 4, "arousal": "3.5", "dominance": None, "site": "x"},
        {"id": "a", "audio": "wav/u1.wav", "speaker": "s1", "rater": "r2", "label": "", "valence": None,
         "site": "y"},                                                          # empty label; inconsistent meta
        {"id": "a", "audio": "wav/u1.wav", "speaker": "s1", "rater": "r1", "label": "sad", "site": "x"},  # dup
        {"id": "b", "audio": str(tmp_path / "wav" / "u2.wav"), "speaker": "s2", "rater": None, "label": "sad",
         "site": "x"},                                                          # absolute path, no rater id
        {"id": None, "audio": "wav/u2.wav", "rater": "r9", "label": "sad"},    # no id
        {"id": "c", "audio": "wav/u5.wav", "rater": "r1", "label": "neutral", "valence": "high"},  # bad number
    ]
    path = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    t = read_manifest(path)
    assert t.ids == ["a", "b", "c"] and t.corpus == "m"
    v = {(r.id, r.rater): r for r in t.votes.itertuples()}
    assert list(v[("a", "r1")].labels) == ["happy", "excited"]  # lower-cased, not merged
    assert v[("a", "r1")].kind == "self" and v[("a", "r1")].valence == 4 and v[("a", "r1")].arousal == 3.5
    assert list(v[("a", "r2")].labels) == []
    assert ("b", "rater-1") in v
    assert pd.isna(v[("c", "r1")].valence)
    assert t.items.set_index("id").loc["a", "site"] == "x"
    reasons = Counter(i.reason for i in t.issues)
    assert reasons["duplicate_rater"] == 1 and reasons["inconsistent_item_column"] == 1
    assert reasons["missing_rater_id"] == 1 and reasons["missing_id"] == 1 and reasons["bad_value"] == 1


def test_counts_form_edge_cases(tmp_path):
    write_manifest_audio(tmp_path)
    path = tmp_path / "c.csv"
    path.write_text(
        "id,audio,speaker,votes:neutral,votes:sad,votes:angry,extra\n"
        "a,wav/u1.wav,s1,2,1,,7\n"
        "a,wav/u2.wav,s1,0,3,0,8\n"        # duplicate id: first kept
        "b,wav/u2.wav,s2,1.5,2,-1,9\n"     # fractional count kept; a negative one counted as 0, reported
        "c,wav/u5.wav,,0,0,0,10\n"         # zero votes
    )
    t = read_manifest(path)
    assert t.ids == ["a", "b", "c"]
    counts = _label_counts(t)
    assert counts["a"] == {"neutral": 2, "sad": 1}
    assert counts["b"] == {"neutral": 1.5, "sad": 2}
    assert counts["c"] == Counter()
    reasons = Counter(i.reason for i in t.issues)
    assert reasons["duplicate_id"] == 1 and reasons["bad_vote_count"] == 1 and reasons["no_votes"] == 1
    assert t.items.set_index("id").loc["a", "extra"] == 7  # numeric metadata stays numeric
    assert pd.isna(t.items.set_index("id").loc["c", "speaker"])


@pytest.mark.parametrize(("text", "match"), [
    ("id,transcript,votes:sad\na,x,1\n", r"\['audio'\] missing"),
    ("id,audio,transcript\na,x.wav,hi\n", "no votes"),
    ("id,audio,votes:sad,rater,label\na,x.wav,1,r1,sad\n", "both"),
    ("id,audio,rater\na,x.wav,r1\n", "'label'"),
])
def test_structural_errors(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ManifestError, match=match):
        read_manifest(path)


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "nope.csv")
    (tmp_path / "m.xlsx").write_text("x")
    with pytest.raises(ManifestError, match="suffix"):
        read_manifest(tmp_path / "m.xlsx")
    with pytest.raises(FileNotFoundError, match=r"manifest\.csv"):
        read_manifest(tmp_path)
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"id": "a", "audio": "x.wav", "votes": {"sad": 1}}\nnot json\n')
    with pytest.raises(ManifestError, match=r"b\.jsonl:2"):
        read_manifest(bad)


def test_jsonl_nested_vote_problems(tmp_path):
    path = tmp_path / "n.jsonl"
    lines = [
        {"id": "a", "audio": "a.wav", "votes": [{"rater": "r1", "labels": ["sad"], "kind": "self",
                                                 "valence": 2}, "oops"]},
        {"id": "b", "audio": "b.wav"},
        {"id": "c", "audio": "c.wav", "votes": 3, "tags": ["x", "y"]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    t = read_manifest(path, check_audio=False)
    v = t.votes_of("a")
    assert list(v["labels"].iloc[0]) == ["sad"] and v["kind"].iloc[0] == "self" and v["valence"].iloc[0] == 2
    reasons = Counter(i.reason for i in t.issues)
    assert reasons["bad_vote"] == 2 and reasons["no_votes"] == 1
    assert t.items.set_index("id").loc["c", "tags"] == '["x", "y"]'
