"""CREMA-D reader on a slice of the real rater tables (tests/data/crema-d, 49 clips) in a clone-like folder."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest
from corpora_release_writers import make_crema_clone

from amber2.corpora import crema_d_emo_superb_folds, ensure_audio_file, read_crema_d
from amber2.corpora.crema_d import CremaDLayoutError, normalise_modes
from amber2.utils.lfs import LfsPointerError

LETTERS = ["A", "D", "F", "H", "N", "S"]
NAMES = dict(zip(LETTERS, ["angry", "disgust", "fear", "happy", "neutral", "sad"], strict=True))
MODE = {"1": "voice", "2": "face", "3": "audiovisual"}


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    return make_crema_clone(tmp_path_factory.mktemp("crema") / "CREMA-D")


@pytest.fixture(scope="module")
def table(clone):
    return read_crema_d(clone)


@pytest.fixture(scope="module")
def reference(clone):
    """Independent reading of tabulatedVotes.csv with the csv module: (file, mode) -> counts."""
    out = {}
    with open(clone / "processedResults" / "tabulatedVotes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        code = r[""]
        out[(r["fileName"], MODE[code[0]])] = {NAMES[k]: int(r[k]) for k in LETTERS}
    return rows, out


def test_row_count_and_totals(table, reference):
    rows, ref = reference
    assert len(rows) == 3 * 49  # the slice: 49 clips, each rated in three modes
    assert len(table) == 49
    assert len(table.votes) == sum(int(r["numResponses"]) for r in rows)
    by_kind = table.votes["kind"].value_counts()
    for mode in ("voice", "face", "audiovisual"):
        assert by_kind[mode] == sum(sum(c.values()) for (f, m), c in ref.items() if m == mode)


@pytest.mark.parametrize("clip", ["1001_IEO_HAP_HI", "1001_DFA_ANG_XX", "1045_ITS_FEA_XX", "1091_WSI_SAD_XX",
                                  "1076_MTI_SAD_XX"])
def test_vote_counts_in_all_modes(table, reference, clip):
    _, ref = reference
    v = table.votes_of(clip)
    for mode in ("voice", "face", "audiovisual"):
        got = Counter(lab for ls in v[v["kind"] == mode]["labels"] for lab in ls)
        assert dict(got) == {k: n for k, n in ref[(clip, mode)].items() if n}, (clip, mode)
        raters = v[v["kind"] == mode]["rater"].tolist()
        assert raters == [f"{mode}-{i}" for i in range(1, len(raters) + 1)]


def test_known_clip_by_eye(table):
    v = table.votes_of("1001_IEO_HAP_HI")
    voice = Counter(lab for ls in v[v["kind"] == "voice"]["labels"] for lab in ls)
    assert voice == {"angry": 2, "happy": 6, "neutral": 2}  # tabulatedVotes row 100004: A2 H6 N2
    it = table.items.set_index("id").loc["1001_IEO_HAP_HI"]
    assert it["voice_responses"] == 10 and it["voice_vote"] == "H"
    assert it["voice_agreement"] == pytest.approx(0.6)


def test_item_metadata(table):
    it = table.items.set_index("id")
    row = it.loc["1001_IEO_HAP_HI"]
    assert row["speaker"] == "1001" and row["group"] == "1001"
    assert row["transcript"] == "It's eleven o'clock"
    assert row["acted_emotion"] == "happy" and row["level"] == "HI" and row["sentence"] == "IEO"
    assert row["gender"] == "Male" and row["age"] == 51 and row["clip"] == 4
    assert it.loc["1002_DFA_ANG_XX", "gender"] == "Female"
    assert it.loc["1091_WSI_SAD_XX", "transcript"] == "We'll stop in a couple of minutes"
    assert it["transcript"].notna().all()
    assert it["speaker"].nunique() == 8  # 1001, 1002, 1020, 1040, 1045, 1060, 1076, 1091


def test_audio_lfs_pointer_and_known_bad_media(table, clone):
    it = table.items.set_index("id")
    assert it.loc["1001_DFA_ANG_XX", "audio_status"] == "ok"
    assert it.loc["1001_DFA_ANG_XX", "duration"] == pytest.approx(72862 / 2 / 16000, abs=0.01)
    assert it.loc["1001_DFA_DIS_XX", "audio_status"] == "lfs_pointer"
    assert (it["audio_status"] == "missing").sum() == 47
    lfs = [i for i in table.issues if i.reason == "lfs_pointer"]
    assert len(lfs) == 1 and "git lfs pull" in lfs[0].detail and "Git LFS pointer" in lfs[0].detail
    with pytest.raises(LfsPointerError, match="git lfs pull"):
        ensure_audio_file(it.loc["1001_DFA_DIS_XX", "audio_path"], "1001_DFA_DIS_XX")
    assert ensure_audio_file(it.loc["1001_DFA_ANG_XX", "audio_path"]).name == "1001_DFA_ANG_XX.wav"
    with pytest.raises(FileNotFoundError, match="1001_IEO_NEU_XX"):
        ensure_audio_file(it.loc["1001_IEO_NEU_XX", "audio_path"], "1001_IEO_NEU_XX")
    assert [i.item for i in table.issues if i.reason == "known_bad_media"] == ["1076_MTI_SAD_XX"]


def test_mode_policies(table):
    from amber2.labels import get_policy

    for mode, expect in (("voice", {"angry": 0.2, "happy": 0.6, "neutral": 0.2}), ("face", None)):
        ls = get_policy(f"crema-d-{mode}").apply(table)
        assert len(ls) == 49
        if expect:
            y = dict(zip(ls.classes, ls.Y[ls.ids.index("1001_IEO_HAP_HI")], strict=True))
            for c, p in y.items():
                assert p == pytest.approx(expect.get(c, 0.0))


def test_modes_option(clone):
    t = read_crema_d(clone, modes="voice", check_audio=False)
    assert set(t.votes["kind"]) == {"voice"}
    assert set(t.items["audio_status"]) == {"unchecked"}
    assert "face_responses" in t.items.columns  # the other modes' metadata stay available
    assert normalise_modes(["audio-visual", "Voice"]) == ("audiovisual", "voice")
    with pytest.raises(ValueError, match="unknown CREMA-D rating mode"):
        normalise_modes("smell")


def test_emo_superb_actor_folds(table):
    f = crema_d_emo_superb_folds(table)
    actor = table.items.set_index("id")["speaker"].astype(int)
    ranges = [(1001, 1018), (1019, 1036), (1037, 1054), (1055, 1072), (1073, 1091)]  # their files 1-5
    for uid, fold in f.items():
        lo, hi = ranges[fold]
        assert lo <= actor[uid] <= hi
    assert (f >= 0).all()
    assert f["1001_IEO_HAP_HI"] == 0 and f["1040_IEO_HAP_HI"] == 2 and f["1091_WSI_SAD_XX"] == 4
    # 40 + 2 clips of actor 1001 and one of 1002; 1020; 1040 and 1045; 1060; 1076 and 1091
    assert np.bincount(f.to_numpy()).tolist() == [43, 1, 2, 1, 2]


def test_layout_error(tmp_path):
    with pytest.raises(CremaDLayoutError, match=r"tabulatedVotes\.csv"):
        read_crema_d(tmp_path)
