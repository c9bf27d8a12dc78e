"""Fuzz and hostile-input tests of the manifest reader (issue 14.1, 14.5 paths, 14.6; issue 15.3 soft labels)."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amber2.corpora import read_manifest
from amber2.corpora.manifest import ManifestError
from amber2.corpora.summary import summarize
from amber2.labels import LabelPolicy

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _write(tmp_path, text: str | bytes, name: str = "m.csv"):
    p = tmp_path / name
    (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    return p


def _weighted(t, uid):
    c: Counter = Counter()
    v = t.votes_of(uid)
    for ls, w in zip(v["labels"], v["weight"], strict=True):
        for lab in ls:
            c[lab] += w
    return c


@FAST
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_escape_as_a_traceback(tmp_path, data):
    p = _write(tmp_path, data)
    try:
        read_manifest(p, check_audio=False)
    except ManifestError as exc:
        assert p.name in str(exc)


@FAST
@given(text=st.text(alphabet=st.sampled_from(list('ab,;"\n\r\t=-:1.5 ')), max_size=200))
def test_arbitrary_csv_text_never_escapes_as_a_traceback(tmp_path, text):
    p = _write(tmp_path, "id,audio,votes:sad\n" + text)
    try:
        t = read_manifest(p, check_audio=False)
    except ManifestError:
        return
    assert len(t) >= 1 and (t.votes["weight"] > 0).any()


@FAST
@given(counts=st.lists(st.lists(st.integers(0, 10**7), min_size=3, max_size=3), min_size=1, max_size=6))
def test_counts_are_stored_as_counts_whatever_their_size(tmp_path, counts):
    rows = "".join(f"u{i},a{i}.wav,{a},{b},{c}\n" for i, (a, b, c) in enumerate(counts))
    p = _write(tmp_path, "id,audio,votes:sad,votes:angry,votes:happy\n" + rows)
    if not any(sum(r) for r in counts):
        with pytest.raises(ManifestError, match="no item has a label"):
            read_manifest(p, check_audio=False)
        return
    t = read_manifest(p, check_audio=False)
    assert len(t.votes) == sum(x > 0 for r in counts for x in r)  # one row per non-zero count
    for i, (a, b, c) in enumerate(counts):
        assert _weighted(t, f"u{i}") == Counter({k: v for k, v in zip(("sad", "angry", "happy"), (a, b, c)) if v})


def test_a_huge_count_is_read_in_constant_memory_and_time(tmp_path):
    p = _write(tmp_path, "id,audio,votes:angry,votes:sad\nu1,a.wav,20000000,1\n")
    tracemalloc.start()
    t0 = time.perf_counter()
    t = read_manifest(p, check_audio=False)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 5 and peak < 20e6
    ls = LabelPolicy(name="t").apply(t)
    assert ls.counts[0].tolist() == [20000000, 1] and ls.Y[0, 0] == pytest.approx(20000000 / 20000001)
    big = _write(tmp_path, "id,audio,votes:angry\nu1,a.wav,1e12\nu2,b.wav,2\n", "big.csv")
    t = read_manifest(big, check_audio=False)
    assert [i.reason for i in t.issues].count("bad_vote_count") == 1 and t.ids == ["u1", "u2"]


def test_fractional_counts_distribution_form_and_rater_counts(tmp_path):
    p = _write(tmp_path, "id,audio,n_raters,p:sad,p:angry,p:neutral\n"
                         "u1,a.wav,10,0.6,0.3,0.1\n"
                         "u2,b.wav,,0.5,0.5,0\n"
                         "u3,c.wav,4,0.7,0.7,0\n")       # sums to 1.4: refused, item gets no votes
    t = read_manifest(p, check_audio=False)
    assert t.info["manifest_form"] == "distribution" and t.info["class_order"] == ["sad", "angry", "neutral"]
    assert _weighted(t, "u1") == pytest.approx(Counter(sad=6.0, angry=3.0, neutral=1.0))
    assert _weighted(t, "u2") == Counter(sad=0.5, angry=0.5)
    assert [i.reason for i in t.issues].count("bad_distribution") == 1
    raters = t.raters_per_item()
    assert raters[0] == 10 and np.isnan(raters[1]) and raters[2] == 4  # given, unknown (not invented), given
    ls = LabelPolicy(name="t").apply(t)
    assert list(ls.classes) == ["sad", "angry", "neutral"]  # the manifest's order, not the built-in one
    assert ls.Y[0].tolist() == pytest.approx([0.6, 0.3, 0.1]) and ls.Y[1].tolist() == pytest.approx([0.5, 0.5, 0])
    s = summarize(t, ls).to_dict()["raters_per_item"]
    assert s["mean"] == 7 and s["unknown"] == 1
    canon = read_manifest(p, check_audio=False, class_order="canonical")
    assert list(LabelPolicy(name="t").apply(canon).classes) == ["neutral", "angry", "sad"]
    frac = _write(tmp_path, "id,audio,votes:happy,votes:sad\nu1,a.wav,2.5,0.5\n", "f.csv")
    t = read_manifest(frac, check_audio=False)
    assert _weighted(t, "u1") == Counter(happy=2.5, sad=0.5) and np.isnan(t.raters_per_item()[0])
    md = summarize(t).to_markdown()
    assert "raters per item: n/a" in md


@pytest.mark.parametrize(("content", "match"), [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"id,audio,votes:sad\x00\x01\x02\n", "binary"),
    ("id,audio,votes:sad\nu1,caf\xe9.wav,1\n".encode("latin-1"), "not UTF-8"),
    (b"id,audio,votes:sad\nu1,a.wav,1,extra\n", "line 2: 4 cell"),
    (b"id,audio,votes:sad,speaker\nu1,a.wav\n", "line 2: 2 cell"),
    (b"id,audio,votes:angry,votes:angry\nu1,a.wav,1,2\n", "'votes:angry' appears more than once"),
    (b"id,audio,votes:Angry,votes:angry \nu1,a.wav,1,2\n", "class 'angry' has more than one"),
    (b"id,audio,votes:sad\nu1,a.wav,0\nu2,b.wav,\n", "no item has a label"),
    (b"id,audio,rater,label\nu1,a.wav,r1,\n", "no item has a label"),
    (b"id,audio,votes:sad,p:sad\nu1,a.wav,1,1\n", "both"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, content, match):
    p = _write(tmp_path, content)
    with pytest.raises(ManifestError, match=match) as info:
        read_manifest(p, check_audio=False)
    assert "m.csv" in str(info.value)


def test_bad_jsonl_and_parquet_files(tmp_path):
    p = _write(tmp_path, "\ufffe{bad".encode("utf-16"), "m.jsonl")
    with pytest.raises(ManifestError, match=r"m\.jsonl"):
        read_manifest(p, check_audio=False)
    q = _write(tmp_path, b"PAR1 not really", "m.parquet")
    with pytest.raises(ManifestError, match="not a readable Parquet"):
        read_manifest(q, check_audio=False)


def test_paths_leaving_the_manifest_folder_are_refused_unless_allowed(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (tmp_path / "secret.wav").write_bytes(b"x")
    os.symlink(tmp_path / "secret.wav", corpus / "link.wav")
    for audio in ("../secret.wav", str(tmp_path / "secret.wav"), "link.wav", "sub/../../secret.wav"):
        p = _write(corpus, f"id,audio,votes:sad\nu1,{audio},1\n")
        with pytest.raises(ManifestError, match="leaves the manifest's folder"):
            read_manifest(p, check_audio=False)
        t = read_manifest(p, check_audio=False, allow_outside_paths=True)
        assert len(t) == 1
    inside = _write(corpus, f"id,audio,votes:sad\nu1,{corpus / 'wav' / 'a.wav'},1\nu2,wav/../b.wav,1\n")
    assert len(read_manifest(inside, check_audio=False)) == 2


def test_a_file_of_control_whitespace_is_a_clear_error(tmp_path):
    """Found by hypothesis: b'\\x1c' passed the blank-file check, then failed an assert."""
    from amber2.corpora.manifest import ManifestError, read_manifest

    f = tmp_path / "m.csv"
    f.write_bytes(b"\x1c")
    with pytest.raises(ManifestError, match="m.csv"):
        read_manifest(f)
