"""prepare -> annotate: the prepared folder stays verifiable and its summary counts the synthetic votes;
the annotation runs from inside a running event loop through the async variant."""

from __future__ import annotations

import asyncio
import json

import pytest

from amber2.annotate import annotate_corpus, annotate_corpus_async
from amber2.annotate.backends.base import Backend, Reply
from amber2.corpora.table import CorpusTable
from amber2.utils.integrity import verify_checksums
from amber2.workflow.annotate import annotate_prepared, annotate_prepared_async
from amber2.workflow.prepare import prepare_corpus

ANSWERS = ["Angry.", "sad", "no idea"]  # annotator i answers ANSWERS[i % 3]; the third is no vote


class TextBackend(Backend):
    """Reads transcripts only and answers by annotator index (no server, no model)."""

    name = "fake"
    model = "words"
    uses_audio = False

    def __init__(self) -> None:
        self.calls = 0

    def identity(self) -> dict:
        return {"model": self.model}

    async def annotate(self, requests):
        self.calls += len(requests)
        await asyncio.sleep(0)
        return [Reply(text=ANSWERS[r.annotator.index % 3]) for r in requests]


def _prepared(tmp_path):
    rows = "".join(f"u{i},u{i}.wav,s{i % 2},line {i},{i % 3},{2 - i % 3}\n" for i in range(6))
    (tmp_path / "manifest.csv").write_text("id,audio,speaker,transcript,votes:angry,votes:sad\n" + rows)
    out = tmp_path / "prepared"
    prepare_corpus("manifest", tmp_path / "manifest.csv", out, check_audio=False, folds="speaker-k", k=2)
    return out


def test_prepare_annotate_keeps_the_folder_verified_and_the_summary_fresh(tmp_path):
    out = _prepared(tmp_path)
    before = json.loads((out / "summary.json").read_text())
    assert before["n_votes"] == 12 and "synthetic" not in before["votes_by_kind"]
    rep = annotate_prepared(out, TextBackend(), n=3, classes=["angry", "sad"])
    assert rep.votes == 12 and rep.paths["summary"] == str(out / "summary.json")
    assert verify_checksums(out, "prepared.json")["complete"] is True  # every listed file verifies
    t = CorpusTable.read(out)  # verifies prepared.json, raises on a stale checksum
    assert (t.votes["kind"] == "synthetic").sum() == 12
    after = json.loads((out / "summary.json").read_text())
    assert after["n_votes"] == 24 and after["votes_by_kind"]["synthetic"] == 12
    assert after["synthetic_votes"]["fake:words"]["votes"] == 12 and after["synthetic_votes"]["fake:words"]["n"] == 3
    assert after["folds"] == before["folds"] and after["prepare"]["folds"] == before["prepare"]["folds"]
    assert after["prepare"]["table_fingerprint"] == t.fingerprint() != before["prepare"]["table_fingerprint"]
    assert "synthetic" in (out / "summary.md").read_text()
    dry = annotate_prepared(out, TextBackend(), n=3, classes=["angry", "sad"], dry_run=True)
    assert "summary" not in dry.paths and dry.calls_needed == 0


def test_async_variant_runs_inside_a_running_loop(tmp_path):
    out = _prepared(tmp_path)
    backend = TextBackend()

    async def notebook_cell():
        with pytest.raises(RuntimeError, match="await annotate_corpus_async"):
            annotate_corpus(out, backend, n=2, classes=["angry", "sad"])  # the blocking form refuses
        first = await annotate_corpus_async(out, backend, n=2, classes=["angry", "sad"])
        again = await annotate_prepared_async(out, backend, n=2, classes=["angry", "sad"])
        return first, again

    first, again = asyncio.run(notebook_cell())
    assert first.votes == 12 and backend.calls == 12  # 6 items x 2 annotators, once
    assert again.stats.calls == 0 and again.stats.cached == 12  # the re-run is served by the cache
    assert json.loads((out / "summary.json").read_text())["votes_by_kind"]["synthetic"] == 12
    CorpusTable.read(out)
