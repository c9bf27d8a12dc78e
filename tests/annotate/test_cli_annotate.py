"""``amber2 annotate`` through Typer's CliRunner against the fake server."""

from __future__ import annotations

from typer.testing import CliRunner

from amber2.cli import app
from amber2.corpora.table import CorpusTable
from conftest import SECRET


def test_cli_dry_run_then_run(corpus, fake_server, api_key):
    runner = CliRunner()
    base = ["annotate", "--corpus", str(corpus), "--backend", "openai", "--model", "fake-alm", "--base-url",
            fake_server.base_url, "--api-key-env", api_key, "--n", "3", "--no-progress"]
    res = runner.invoke(app, [*base, "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "18 call(s) needed" in res.output and fake_server.count == 0
    res = runner.invoke(app, [*base, "--max-in-flight", "4", "--max-calls", "10"])
    assert res.exit_code == 0, res.output
    assert fake_server.count == 10 and "10 calls" in res.output and SECRET not in res.output
    res = runner.invoke(app, [*base, "--dry-run"])
    assert "8 call(s) needed" in res.output
    res = runner.invoke(app, base)
    assert res.exit_code == 0 and fake_server.count == 18
    t = CorpusTable.read(corpus)
    assert (t.votes["kind"] == "synthetic").sum() > 0


def test_cli_errors_are_one_line(corpus, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["annotate", "--corpus", str(corpus), "--backend", "nope", "--model", "m"])
    assert res.exit_code == 2 and "unknown backend 'nope'" in res.output
    res = runner.invoke(app, ["annotate", "--corpus", str(corpus), "--backend", "openai", "--model", "m"])
    assert res.exit_code == 2 and "--base-url" in res.output
    res = runner.invoke(app, ["annotate", "--corpus", str(tmp_path / "none"), "--backend", "bundle", "--model",
                              str(tmp_path)])
    assert res.exit_code == 2 and "error:" in res.output
    res = runner.invoke(app, ["annotate", "--corpus", str(corpus), "--backend", "openai", "--model", "m",
                              "--base-url", "http://127.0.0.1:9/v1", "--classes", "angry", "--dry-run"])
    assert res.exit_code == 2 and "at least two distinct" in res.output
