"""Issue 15.7: ``amber2 report RUN --out RUN/results.md`` must not overwrite the run's results.json."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from amber2.cli import app
from amber2.report.markdown import build_report


@pytest.mark.parametrize("name", ["results.md", "data.md", "tables.md"])
def test_report_refuses_to_overwrite_run_files(run_no_baseline, name):
    before = {p.name: p.read_bytes() for p in run_no_baseline.iterdir() if p.is_file()}
    res = CliRunner().invoke(app, ["report", str(run_no_baseline), "--out", str(run_no_baseline / name),
                                   "--no-figures"])
    assert res.exit_code == 2, res.output
    assert "a file of the training run that the report must not overwrite" in res.output
    after = {p.name: p.read_bytes() for p in run_no_baseline.iterdir() if p.is_file()}
    assert after == before


def test_report_elsewhere_is_fine(run_no_baseline, tmp_path):
    rep = build_report(run_no_baseline, out=tmp_path / "results.md", figures=False)  # not the run's folder
    assert rep.path == tmp_path / "results.md" and (tmp_path / "results.json").exists()
