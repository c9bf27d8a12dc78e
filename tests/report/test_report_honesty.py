"""Honest statistics (issue 15.1-15.2, 15.6): n/a spreads, no claims from one seed/fold/bin, UAR everywhere."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from amber2.report.interpret import (
    bins_sentences,
    expert_sentences,
    fold_sentences,
    grid_sentences,
    headline,
    versus_sentences,
)
from amber2.report.markdown import build_report
from amber2.report.tables import comparison_markdown, format_cell, paper_tables_markdown, student_name


@pytest.fixture(scope="module")
def one_seed_run(tmp_path_factory, train_run):
    """AmbER² + CB-CE with one seed, ``protocol.spread=seeds``: no seed spread can be estimated."""
    return train_run(tmp_path_factory.mktemp("run") / "oneseed",
                  ["protocol.seeds=[0]", "protocol.spread=seeds", "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"])


def test_one_seed_spread_is_nan_never_zero(one_seed_run):
    res = json.loads((one_seed_run / "results.json").read_text())
    fusion = res["summary"]["baseline_fusion"]["js"]
    assert math.isnan(fusion["std_seeds"]) and math.isnan(fusion["std"])  # NaN in results.json, not 0.0
    assert math.isfinite(fusion["std_runs"])  # 3 folds: the run-to-run spread exists
    for row in res["comparison"]:
        assert math.isnan(row["seed_spread"]) and row["diff_exceeds_spread"] is None
    tables = (one_seed_run / "tables.md").read_text()
    assert "± n/a" in tables and "± 0.000" not in tables
    assert "n/a: a spread needs at least two values" in tables


def test_one_seed_report_makes_no_spread_claim(one_seed_run, tmp_path):
    rep = build_report(one_seed_run, out=tmp_path / "r.md", figures=False)
    md = rep.markdown
    for claim in ("exceeds the seed-to-seed spread", "exceed the seed-to-seed spread", "larger than the seed-to-seed",
                  "within the seed-to-seed", "exceed the seed std", "exceeds the seed std", "± 0.000"):
        assert claim not in md, claim
    head = rep.numbers["sentences"]["headline"][0]
    assert "the seed-to-seed spread cannot be estimated (fewer than two seeds)" in head
    assert "cannot be set against a seed-to-seed spread" in md
    # report.json: n/a as null
    assert rep.numbers["summary"]["amber2"]["js"]["std"] is None
    assert all(r["seed_spread"] is None for r in rep.numbers["comparison"])
    # UAR beside the paper's six, in the tables and the numbers
    assert "UAR ↑" in md and "uar" in rep.numbers["summary"]["amber2"]


def test_comparison_table_prints_na():
    comp = pd.DataFrame([{"metric": "js", "diff": -0.01, "a_better_pairs": 3, "pairs": 3, "p_ttest": 0.2,
                          "p_wilcoxon": 0.25, "seed_spread": float("nan"), "diff_exceeds_spread": None}])
    row = comparison_markdown(comp).splitlines()[-1]
    assert row.endswith("| n/a | n/a |")
    assert format_cell({"mean": 0.5, "std": float("nan")}) == "0.500 ± n/a"
    assert format_cell({"mean": 0.5, "std": None}) == "0.500 ± n/a"


def _summary(std):
    cell = {"mean": 0.2, "std": std}
    return {"baseline_fusion": {"js": {**cell, "mean": 0.25}}, "amber2": {"js": cell}}


def test_versus_and_headline_with_na_spread():
    comp = pd.DataFrame([{"metric": "js", "diff": -0.05, "a_better_pairs": 3, "pairs": 3, "p_ttest": 0.01,
                          "p_wilcoxon": 0.25, "seed_spread": float("nan"), "diff_exceeds_spread": None}])
    s = versus_sentences(_summary(float("nan")), comp, ["js"])[1]
    assert "within" not in s and "larger than" not in s and "spread is n/a" in s
    h = headline(_summary(float("nan")), comp, ["js"])
    assert "exceed" not in h and "cannot be estimated" in h


def _bins(std, sizes=(10, 10)):
    rows = []
    for system, vals in (("baseline_fusion", [0.33, 0.26]), ("amber2", [0.30, 0.20])):
        for b, v in enumerate(vals[: len(sizes)]):
            rows.append({"system": system, "bin": b, "lower": 0.5 * b, "upper": 0.5 * (b + 1), "size": sizes[b],
                         "mean_entropy": 0.5 * b + 0.25, "n_seeds": 1, "js_mean": v, "js_std": std})
    return pd.DataFrame(rows)


def test_bins_with_one_seed_and_one_bin():
    s = bins_sentences(_bins(float("nan")), ["js"])[1]
    assert "the seed std cannot be estimated" in s and "exceed" not in s
    one = bins_sentences(_bins(0.001, sizes=(20,)), ["js"])[1]
    assert "Fewer than two non-empty bins: no trend" in one
    assert "rises" not in one and "falls" not in one and "flat" not in one


def test_expert_weights_one_bin_and_empty_bins():
    one = pd.DataFrame([{"bin": 0, "n_items": 30, "u_audio": 0.75, "u_audio_ci": 0.02, "D_audio": 0.1,
                         "u_text": 0.25, "u_text_ci": 0.02, "D_text": 0.2}])
    s = expert_sentences(one, "bin", ["audio", "text"])[0]
    assert "from 0.75 in bin 1 to 0.75 in bin 1" not in s
    assert "one ambiguity bin (bin 1)" in s and "no trend" in s
    with_empty = pd.DataFrame([
        {"bin": b, "n_items": n, "u_audio": u, "u_audio_ci": 0.02, "D_audio": 0.1, "u_text": 1 - u,
         "u_text_ci": 0.02, "D_text": 0.2} for b, n, u in ((0, 10, 0.6), (1, 0, float("nan")), (2, 10, 0.4))])
    s = expert_sentences(with_empty, "bin", ["audio", "text"])[0]
    assert "falls" in s and "from 0.60 in bin 1 to 0.40 in bin 3" in s and "nan" not in s


def test_expert_overlap_claim_needs_intervals():
    rows = [{"conflict": g, "n_items": 1, "u_audio": u, "u_audio_ci": float("nan"), "D_audio": 0.1,
             "u_text": 1 - u, "u_text_ci": float("nan"), "D_text": 0.1}
            for g, u in (("voice_uninformative", 0.3), ("text_uninformative", 0.7))]
    s = expert_sentences(pd.DataFrame(rows), "conflict", ["audio", "text"])[-1]
    assert "overlap" not in s and "cannot be told" in s


def test_one_fold_and_one_grid_fold():
    fs = pd.DataFrame([{"system": "amber2", "fold": 0, "n_seeds": 1, "js_mean": 0.2, "js_std": float("nan")},
                       {"system": "baseline_fusion", "fold": 0, "n_seeds": 1, "js_mean": 0.3, "js_std": float("nan")}])
    out = fold_sentences(fs, "js")
    assert "ranges over folds" not in " ".join(out) and "only scored fold (fold 0)" in out[0]
    grid = pd.DataFrame([{"objective": o, "fold": 0, "val_score": v, "chosen": c, "n_seeds": 1, "chosen_seeds": int(c)}
                         for o, v, c in (("a", 0.2, True), ("b", 0.25, False))])
    g = grid_sentences(grid, "js")
    assert g[-1] == "In the one fold, the grid points' mean validation JS differ by 0.0500 (max − min)."


def test_one_modality_and_student_titles():
    cell = {"mean": 0.2, "std": 0.01}
    one = {"baseline_audio": {"js": cell}, "amber2": {"js": cell}}
    md = paper_tables_markdown(one, student="audio")
    assert "Table 3" not in md and "(audio + text)" in md  # only in the "no baseline to compare" note
    assert "Audio head, JS objective (no experts)" in md and "AmbER²" not in md
    two = {"baseline_fusion": {"js": cell}, "baseline_audio": {"js": cell}, "amber2": {"js": cell},
           "amber2_text": {"js": cell}, "amber2_fusion": {"js": cell}}
    md = paper_tables_markdown(two, student="audio")
    assert "**Table 3.** AmbER² (audio student) vs the baseline (audio + text)" in md
    assert student_name(two) == "AmbER²"
    np.testing.assert_equal(student_name(one, "audio"), "Audio head, JS objective (no experts)")


def test_protocol_table_prints_na_for_one_seed():
    from amber2.training.protocol import ProtocolResult

    summary = {"amber2": {"js": {"mean": 0.2, "std": float("nan")}, "acc": {"mean": 0.7, "std": 0.01}}}
    res = ProtocolResult([], pd.DataFrame(), pd.DataFrame(), summary, ["a", "b"], [], 0.0, {})
    t = res.table(metrics=["js", "acc"])
    assert t.loc["amber2", "js"] == "0.200 ± n/a" and t.loc["amber2", "acc"] == "0.700 ± 0.010"


def test_one_modality_run_report(tmp_path, tiny_data):
    make_set, TINY = tiny_data
    from amber2.training.config import load_config
    from amber2.training.protocol import run_protocol
    from amber2.workflow.run import write_run

    data = make_set(n=60, meta=False).select_modalities(["audio"])
    folds = np.arange(len(data)) % 3
    cfg = load_config(None, [*TINY, "protocol.seeds=[0]", "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"])
    run = write_run(run_protocol(data, folds, cfg), tmp_path / "run", config=cfg, data=data, folds=folds)
    tables = (run / "tables.md").read_text()
    assert "Table 3" not in tables and "Audio head, JS objective (no experts)" in tables
    rep = build_report(run, figures=False)
    assert "Table 3" not in rep.markdown and "– | –" not in rep.markdown
    assert "## 2. Audio head, JS objective (no experts) vs the baseline" in rep.markdown
    assert "AmbER²" not in rep.numbers["sentences"]["headline"][0]
