"""`amber2 prepare` / prepare_corpus: files written, a truthful summary, and the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from corpora_release_writers import write_iemocap, write_manifest, write_msp_podcast
from typer.testing import CliRunner

from amber2.corpora import CorpusTable, summarize
from amber2.corpora.prepare import corpus_kind
from amber2.workflow.prepare import PrepareError, prepare_corpus


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory):
    return write_iemocap(tmp_path_factory.mktemp("iem"))


@pytest.fixture(scope="module")
def prepared(iemocap, tmp_path_factory):
    return prepare_corpus("iemocap", iemocap, tmp_path_factory.mktemp("out") / "iemocap",
                          policy="iemocap-emo-superb")


def test_files_written(prepared):
    out = prepared.out
    for name in ("corpus.parquet", "summary.json", "summary.md", "folds.csv"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.tmp"))
    table = CorpusTable.read(out)
    assert table.fingerprint() == prepared.table.fingerprint()
    folds = pd.read_csv(out / "folds.csv", dtype={"id": str})
    assert list(folds.columns) == ["id", "fold"] and len(folds) == 14
    g = prepared.table.items.set_index("id")["group"]
    assert {g[i]: f for i, f in zip(folds["id"], folds["fold"], strict=True)} == {"Ses01": 0, "Ses02": 1, "Ses03": 2}


def test_summary_counts_are_truthful(prepared):
    s = json.loads((prepared.out / "summary.json").read_text())
    assert s["corpus"] == "iemocap" and s["n_items"] == 14 and s["n_votes"] == 53
    p = s["policy"]
    assert p["name"] == "iemocap-emo-superb"
    # every rater chose Other -> dropped; nothing else dropped; kept + dropped = all items
    assert s["dropped"] == {"no_valid_votes": {"count": 1, "examples": ["Ses01F_impro01_F002"]}}
    assert p["n_targets"] + p["n_dropped"] == 14 and p["unaccounted"] == 0
    assert sum(p["items_per_class"].values()) == 13
    assert sum(s["entropy"]["counts"]) == 13
    assert s["entropy"]["base"] == 2
    assert s["audio"]["status"] == {"ok": 11, "missing": 1, "lfs_pointer": 1, "empty": 1}
    assert s["transcripts"]["missing"] == 1 and s["transcripts"]["examples"] == ["Ses02F_impro01_M003"]
    assert s["duplicate_ids"] == {"count": 1, "examples": ["Ses01F_impro01_F002"]}
    assert s["issues"]["lfs_pointer"]["count"] == 1
    assert s["issues"]["skipped_transcript_line"]["count"] == 2
    # by hand: 3 raters x7 (M001 F002 M002 M003 F004 M011 F012), 4 x4, 5 x2 (M033 F010), 6 x1 (F001)
    assert s["raters_per_item"]["histogram"] == {"3": 7, "4": 4, "5": 2, "6": 1}
    assert s["raters_per_item"]["by_kind"]["self"]["max"] == 1
    assert s["folds"]["sizes"] == [7, 5, 2]
    assert s["prepare"]["policy"] == "iemocap-emo-superb"
    md = (prepared.out / "summary.md").read_text()
    for text in ("no_valid_votes", "Git LFS pointer", "git lfs pull", "duplicate ids: 1", "missing transcripts: 1",
                 "Ambiguity", "| frustrated |"):
        assert text in md, text


def test_default_policy_zero_vote_items_and_no_audio_check(iemocap, tmp_path):
    r = prepare_corpus("iemocap", iemocap, tmp_path, check_audio=False)
    assert r.labels.policy.name == "iemocap-4class"
    d = r.summary.dropped
    assert d["not_selected_by_consensus"]["count"] == 5  # fru x2, xxx, oth, sur
    assert r.summary.audio["status"] == {"unchecked": 14}
    assert len(r.labels) == 9


def test_msp_defaults_balanced_folds_and_split(tmp_path):
    root = write_msp_podcast(tmp_path / "msp", "v1.7")
    r = prepare_corpus("msp", root, tmp_path / "out", k=2)
    assert r.folds.name.startswith("balanced(k=2")
    assert (r.folds["MSP-PODCAST_0002_0040"]) == -1  # no valid primary vote -> no target -> in no fold
    split = pd.read_csv(tmp_path / "out" / "split.csv")
    assert dict(zip(split["id"], split["split"], strict=True))["MSP-PODCAST_0002_0033"] == "Development"
    assert r.summary.dropped["no_valid_votes"]["count"] == 1


def test_policy_none_and_fold_error_reported(tmp_path):
    write_manifest(tmp_path / "m", "rater", "csv")
    r = prepare_corpus("manifest", tmp_path / "m", tmp_path / "out", policy="none", folds="balanced")
    assert r.labels is None and r.folds is None
    assert "needs targets" in r.summary.folds["error"]
    assert not (tmp_path / "out" / "folds.csv").exists()
    r = prepare_corpus("manifest", tmp_path / "m", tmp_path / "out2", k=2)
    assert r.labels.policy.name == "eq1" and "speakers" in r.folds.name  # manifest with speakers: disjoint


def test_bad_policy_keeps_the_table(iemocap, tmp_path):
    write_manifest(tmp_path / "m", "counts", "csv")
    with pytest.raises(PrepareError, match=r"corpus\.parquet"):
        prepare_corpus("manifest", tmp_path / "m", tmp_path / "out", policy="iemocap-4class")
    assert (tmp_path / "out" / "corpus.parquet").exists()
    with pytest.raises(ValueError, match="unknown corpus kind"):
        corpus_kind("timit")


def test_summary_without_labels(iemocap):
    from amber2.corpora import read_iemocap

    s = summarize(read_iemocap(iemocap, check_audio=False))
    assert s.policy is None and s.entropy is None and s.dropped == {}
    assert "Reader issues" in s.to_markdown()


def test_cli_prepare(iemocap, tmp_path):
    from amber2.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["prepare", "iemocap", "--root", str(iemocap), "--out", str(tmp_path / "o"),
                              "--policy", "iemocap-emo-superb", "--no-check-audio"])
    assert res.exit_code == 0, res.output
    assert "no_valid_votes" in res.output and "corpus.parquet" in res.output
    assert (tmp_path / "o" / "summary.md").exists()
    res = runner.invoke(app, ["prepare", "timit", "--root", str(iemocap), "--out", str(tmp_path / "p")])
    assert res.exit_code != 0 and "unknown corpus kind" in res.output
    res = runner.invoke(app, ["prepare", "crema-d", "--root", str(tmp_path), "--out", str(tmp_path / "q")])
    assert res.exit_code == 2 and "tabulatedVotes.csv" in res.output
