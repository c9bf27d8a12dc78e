"""report.md, its figures and numbers, for full and partial runs, and the ``amber2 report`` command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from typer.testing import CliRunner

from amber2.report import build_report, write_report

SECTIONS = [
    "## 1. Baseline heads (Tables 1–2)", "## 2. AmbER² vs the baseline (Tables 3–4)",
    "## 3. Performance by ambiguity (Fig. 2)", "## 4. Expert weights: does the student listen to the right expert?",
    "## 5. Confusion matrices", "## 6. Per fold and seed", "## 7. Grid search", "## 8. Provenance",
]


def _links(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)


def _check_png(path: Path, min_px: int = 300) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000
    img = mpimg.imread(path)
    assert img.shape[0] >= min_px and img.shape[1] >= min_px
    assert img[..., :3].std() > 0.05  # not a blank canvas


def test_full_report_has_every_section_and_figure(full_report, run_dir):
    md = (run_dir / "report.md").read_text()
    assert full_report.path == run_dir / "report.md" and md == full_report.markdown
    assert md.startswith("# Toy run\n\nA toy corpus for tests.")
    for s in SECTIONS:
        assert s in md, s
    for table in ("**Table 1.**", "**Table 2.**", "**Table 3.**", "**Table 4.**", "**Paired comparison**",
                  "**Mean expert weight per conflict type.**", "**Mean expert weight per ambiguity bin.**"):
        assert table in md, table
    assert set(full_report.figures) == {"ambiguity_bins", "expert_weights", "confusion", "grid"}
    links = _links(md)
    assert len(links) == 4
    for link in links:
        assert not Path(link).is_absolute() and link.startswith("figures/")
        _check_png(run_dir / link)
    assert "training-time quantity" in md and "not something the model computes at inference time" in md


def test_report_numbers_and_sentences_match_the_run(full_report, full_record):
    numbers = json.loads((full_record.path / "report.json").read_text())
    assert numbers == full_report.numbers
    s = full_record.summary
    a, b = s["amber2"]["js"]["mean"], s["baseline_fusion"]["js"]["mean"]
    first = numbers["sentences"]["table_3"][1]
    if f"{a:.3f}" == f"{b:.3f}":
        assert first.startswith("JS: AmbER² and the baseline tie")
    elif a < b:
        assert first.startswith(f"JS: AmbER² improves on the baseline, {a:.3f} vs {b:.3f}")
    else:
        assert first.startswith(f"JS: AmbER² is worse than the baseline, {a:.3f} vs {b:.3f}")
    amb = numbers["ambiguity"]["table"]
    assert sum(r["size"] for r in amb if r["system"] == "amber2") == numbers["n_tested"] == 150
    conf = numbers["expert_weights"]["by_conflict"]
    assert [r["conflict"] for r in conf] == ["none", "conflict", "voice_uninformative", "text_uninformative"]
    md = full_report.markdown
    for r in conf:
        assert f"| `{r['conflict']}` | {r['n_items']} | {r['u_audio']:.2f} ± {r['u_audio_ci']:.2f} |" in md
    for sentence in numbers["sentences"]["table_1"] + numbers["sentences"]["ambiguity"]:
        assert sentence in md
    cm = np.array(numbers["confusion"]["amber2"]["counts"])
    assert cm.sum() == 150 * 2


def test_provenance_lists_the_run(full_report):
    md = full_report.markdown
    prov = md.split("## 8. Provenance")[1]
    assert "data fingerprint `" in prov and "**Corpus**: toy (fingerprint `c0ffeec0ffeec0ff`)" in prov
    assert "**Label policy**: eq1 (fingerprint `beefbeefbeefbeef`)" in prov
    assert "no_votes: 3, no_embedding: 1" in prov
    assert "audio: kind=opensmile (fingerprint abababababab)" in prov
    assert "lambda_mai=[0.3, 0.7], kappa=[2, 8]" in prov and "hidden=16" in prov
    assert re.search(r"\*\*Time\*\*: training \d+\.\d s", prov)


def test_report_without_conflict_metadata(run_no_meta):
    rep = build_report(run_no_meta)
    md = rep.markdown
    assert "per conflict type" not in md and "**Mean expert weight per ambiguity bin.**" in md
    assert "Across ambiguity bins, the mean weight of the audio expert" in md
    assert "expert_weights" in rep.figures
    _check_png(rep.figures["expert_weights"], min_px=200)
    assert rep.numbers["expert_weights"]["by_conflict"] == []


def test_report_without_baseline(run_no_baseline):
    rep = build_report(run_no_baseline, figures=False)
    md = rep.markdown
    for s in SECTIONS:
        assert s in md
    assert "This run has no baseline (CB-CE) heads." in md
    assert "No comparison: the run has no CB-CE baseline (A+T)." in md
    assert "**AmbER²'s heads.**" in md
    assert {r["system"] for r in rep.numbers["ambiguity"]["table"]} == {"amber2"}
    assert "JS: for AmbER² it" in md
    assert rep.numbers["expert_weights"]["by_bin"] and rep.figures == {}
    assert "there is no AmbER² vs baseline (A+T) comparison" in md


def test_report_without_amber2(run_no_amber2):
    rep = build_report(run_no_amber2)
    md = rep.markdown
    assert "**Table 1.**" in md and "**Table 3.**" not in md
    assert "No comparison: the run has no AmbER²." in md
    assert "No expert weights" in md and "The run has no AmbER² grid search." in md
    assert set(rep.figures) == {"ambiguity_bins", "confusion"}
    assert {r["system"] for r in rep.numbers["ambiguity"]["table"]} == {"baseline_fusion"}


def test_write_report_to_another_place(tmp_path, run_dir):
    out = tmp_path / "docs" / "results.md"
    out.parent.mkdir()
    path = write_report(run_dir, out=out, title="Elsewhere")
    assert path == out and (tmp_path / "docs" / "results.json").exists()
    for link in _links(out.read_text()):
        assert (out.parent / link).exists()
    with pytest.raises(FileNotFoundError, match="not an amber2 run directory"):
        write_report(tmp_path)


def test_cli_report(tmp_path, run_dir):
    from amber2.cli import app

    runner = CliRunner()
    out = tmp_path / "cli.md"
    res = runner.invoke(app, ["report", str(run_dir), "--out", str(out), "--title", "CLI run", "--no-figures"])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == str(out)
    assert "AmbER²" in res.output and "JS" in res.output
    assert out.read_text().startswith("# CLI run")
    bad = runner.invoke(app, ["report", str(tmp_path)])
    assert bad.exit_code == 2 and "not an amber2 run directory" in bad.output


def test_a_part_that_cannot_be_computed_is_reported_and_the_rest_goes_on(tmp_path, make_record):
    rng = np.random.default_rng(1)
    truth = rng.dirichlet(np.ones(3), size=12)
    p = [rng.dirichlet(np.ones(3), size=12) for _ in range(3)]
    rec = make_record(truth, {"baseline_fusion": [p[0]], "amber2": [p[1]], "amber2_audio": [p[1]],
                              "amber2_text": [p[2]]}, np.arange(12) % 2, chosen={"0": "amber2(lm=0.5,k=2)"})
    rec.path = tmp_path
    rep = build_report(rec, figures=False)
    assert "- Not computed: run" in rep.markdown and "no chosen grid point for fold 1" in rep.markdown
    assert "expert_weights" in rep.numbers["problems"]
    assert "The 12 tested items fall into 4 ambiguity bins" in rep.markdown
    assert "The run has no per-run scores." in rep.markdown
    assert (tmp_path / "report.md").exists()


def test_a_run_with_experts_calls_its_student_amber2_in_tables_3_and_4(full_report):
    """Tables 3-4 are built from the baseline and the student alone: the name must come from the whole run."""
    md = full_report.markdown
    assert "**Table 3.** AmbER² vs the baseline (audio + text)" in md
    assert "**Table 4.** AmbER² vs the baseline (audio + text)" in md
    assert "no experts" not in md
