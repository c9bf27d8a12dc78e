"""``amber2 demo --study experts`` at a tiny size: every option trains on both corpora and is reported."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from amber2.demo.synth import SimulationConfig
from amber2.workflow.demo import DemoConfig
from amber2.workflow.experts_study import STUDY_VARIANTS, run_experts_study

pytestmark = pytest.mark.slow  # ~30 s: two tiny demos and three extra runs each

TINY = SimulationConfig(n_speakers=6, utterances_per_speaker=6, n_raters=10, raters_per_item=(3, 5), true_draws=8,
                        seed=5)


def test_neutral_words_carry_no_emotion():
    from amber2.demo.synth import plan_corpus

    cfg = TINY.with_neutral_words()
    assert cfg.class_priors == TINY.class_priors
    plan = plan_corpus(cfg)
    assert all(it.text_emotion == "neutral" and max(it.text_strength) == 0 for it in plan.items)
    assert {it.voice_emotion for it in plan.items} == {"neutral", "happy", "angry", "sad"}


def test_study_rows_table_and_report_section(tmp_path):
    from amber2.cli import app

    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--seeds", "2", "--folds", "2", "--epochs", "2",
                                   "--speakers", "6", "--per-speaker", "6", "--seed", "5", "--study", "experts",
                                   "--set", "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"])
    assert res.exit_code == 0, res.output
    study = json.loads((tmp_path / "experts" / "study.json").read_text())
    rows = study["rows"]
    # per corpus: CB-CE audio + fusion, and AmbER² of each variant
    assert len(rows) == 2 * (2 + len(STUDY_VARIANTS))
    assert {r["corpus"] for r in rows} == {"emotional_words", "neutral_words"}
    for r in rows:
        assert set(r["recall"]) == {"neutral", "happy", "angry", "sad"}
        assert 0 <= r["uar"] <= 1 and all(0 <= v <= 1 for v in r["recall"].values() if v == v)
    wide = next(r for r in rows if r["variant"] == "wide_grid")
    assert wide["corpus"] == "emotional_words"  # the demo's own folder holds the emotional-words runs
    cfg = (tmp_path / "run-wide_grid" / "config.yaml").read_text()
    assert "32.0" in cfg and "null_expert: false" in cfg
    null = (tmp_path / "experts" / "neutral_words" / "run-null_expert" / "config.yaml").read_text()
    assert "null_expert: true" in null
    report = (tmp_path / "report.md").read_text()
    assert report.count("## Experts study") == 1 and "neutral words" in report
    # a second study run replaces the section (reusing every run), it does not add one
    again = run_experts_study(tmp_path / "experts", DemoConfig(
        simulation=SimulationConfig(n_speakers=6, utterances_per_speaker=6, seed=5), seeds=[0, 1], folds=2,
        max_epochs=2, overrides=["protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"]), report=tmp_path / "report.md",
        demo_dir=tmp_path)
    assert again.rows == rows
    assert (tmp_path / "report.md").read_text().count("## Experts study") == 1


def test_unknown_study_and_variant_are_refused(tmp_path):
    from amber2.cli import app

    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--study", "nope"])
    assert res.exit_code != 0 and "unknown study 'nope'" in res.output
    with pytest.raises(ValueError, match="unknown experts-study variant"):
        run_experts_study(tmp_path, variants=("paper", "bogus"))
