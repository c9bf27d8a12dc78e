"""The known-truth annotator study end to end at a tiny size (``amber2 demo --study annotators``)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from amber2.cli import app
from amber2.corpora.raters import parse_synthetic_rater
from amber2.corpora.table import CorpusTable
from amber2.demo.synth import SimulationConfig
from amber2.labels import LabelPolicy
from amber2.workflow.annotator_study import (
    BUNDLE_MODEL,
    SOURCES,
    StudyConfig,
    load_study,
    run_annotator_study,
    target_choices,
)

N_VALUES = [2, 3]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    cfg = StudyConfig(simulation=SimulationConfig(n_speakers=4, utterances_per_speaker=8, seed=2), folds=2,
                      seeds=[0], n_values=N_VALUES, max_epochs=2, dime=True)
    return run_annotator_study(out, cfg)


@pytest.mark.slow
def test_results_schema(study):
    d = load_study(study.results)
    assert d["schema"] == "amber2.annotator_study/1"
    labels = [c["label"] for c in d["choices"]]
    assert labels == ["human", "synthetic@2", "synthetic@3", "combined@2", "combined@3"]
    assert labels == [lab for lab, _, _ in target_choices(N_VALUES)]
    assert set(d["targets"]) == {"simulated", "bundle"}
    for source, rows in d["targets"].items():
        assert list(rows) == labels and list(d["models"][source]) == labels  # tables in the choices' order
        for r in rows.values():
            assert 0 <= r["overall"]["js"] <= np.sqrt(np.log(2)) + 1e-9 and 0 <= r["overall"]["bc"] <= 1 + 1e-9
            assert sum(t["n"] for t in r["tertiles"].values()) == d["n_items"]
        for label in labels:  # trained, or the reason why not
            for dime in ("plain", "dime"):
                m = d["models"][source][label][dime]
                assert "error" in m or {"amber2", "baseline_fusion"} <= set(m)
    assert d["models"]["simulated"]["human"] == d["models"]["bundle"]["human"]  # human targets trained once
    assert {t["metric"] for t in d["model_tests"]} <= {"js_p_true", "js_human"}
    assert all(t["p"] is None or 0 <= t["p"] <= 1 for t in d["target_tests"] + d["model_tests"])
    assert sum(d["ambiguity"]["counts"].values()) == d["n_items"] == 32
    assert set(d["timings_s"]) == {"corpus", "votes", "targets", "models", "report"}


@pytest.mark.slow
def test_targets_differ_as_configured(study):
    table = CorpusTable.read(study.out / "prepared")
    base = LabelPolicy.load(study.out / "prepared" / "policy.json")
    d = load_study(study.results)
    human = base.apply(table)
    for source, spec in SOURCES.items():
        for n in N_VALUES:
            syn = base.with_votes("synthetic", n=n, source=spec).apply(table)
            comb = base.with_votes("combined", n=n, source=spec).apply(table)
            assert np.all(syn.n_votes <= n) and np.mean(syn.n_votes == n) > 0.9  # the first N (unparsed: none)
            assert np.allclose(comb.n_votes, human.n_votes + syn.n_votes)
            assert np.allclose(comb.counts, human.counts + syn.counts)  # human votes + first N synthetic
            js_logged = d["targets"][source][f"combined@{n}"]["overall"]["js"]
            assert js_logged != d["targets"][source]["human"]["overall"]["js"]


@pytest.mark.slow
def test_no_item_annotated_by_a_bundle_trained_on_it(study):
    with open(study.out / "prepared" / "folds.csv", encoding="utf-8") as fh:
        folds = {r["id"]: int(r["fold"]) for r in csv.DictReader(fh)}
    seen: set[str] = set()
    for f in sorted({*folds.values()}):
        folder = study.out / "bundles" / f"fold{f}"
        trained = set((folder / "trained_on.txt").read_text().split())
        annotated = set((folder / "annotated.txt").read_text().split())
        assert annotated == {i for i, k in folds.items() if k == f}
        assert trained == {i for i, k in folds.items() if k != f}
        assert not trained & annotated
        seen |= annotated
    assert seen == set(folds)
    votes = CorpusTable.read(study.out / "prepared").votes
    bundle = [parse_synthetic_rater(r) for r, k in zip(votes["rater"], votes["kind"]) if k == "synthetic"
              and r.startswith("syn:bundle:")]
    assert bundle and all(b.model == BUNDLE_MODEL for b in bundle)
    assert {i for i, r in zip(votes["id"], votes["rater"]) if str(r).startswith("syn:bundle:")} == set(folds)
    assert (study.out / "proxies" / "bundle" / "proxies.json").is_file()


@pytest.mark.slow
def test_report_section(study):
    md = study.report.read_text(encoding="utf-8")
    assert "# Synthetic annotators against the known truth" in md
    assert "## Targets against p_true (simulated synthetic votes)" in md
    assert "## Models trained on each target (bundle synthetic votes)" in md
    assert "| combined@3 |" in md
    assert [p.name for p in study.figures] == ["annotator_study_targets.png", "annotator_study_models.png"]
    assert all(p.stat().st_size > 1000 for p in study.figures)
    assert "figures/annotator_study_targets.png" in md


def test_cli_rejects_unknown_study(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--study", "nope", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "annotators" in res.output


def test_config_bounds():
    with pytest.raises(ValueError, match="sources"):
        StudyConfig(sources=["gemini"])
    with pytest.raises(ValueError, match="n_values"):
        StudyConfig(n_values=[0])
