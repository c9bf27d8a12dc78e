"""The demo pipeline end to end at a tiny size: corpus -> features -> protocol -> results.json + report.

One tiny demo (8 speakers x 6 utterances, 2 speaker folds, 2 seeds, a 2-point grid, 2 epochs) is run
once per module; the tests that change its folder work on copies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from amber2.demo.synth import SimulationConfig
from amber2.workflow.demo import DemoConfig, DemoError, DemoResult, run_demo

pytestmark = pytest.mark.slow  # the demo end to end: ~25 s in all (make test-fast skips it)

SYSTEMS = ("baseline_text", "baseline_audio", "baseline_fusion", "amber2")
METRICS = ("js", "bc", "r2", "f1", "wf1", "acc", "uar")
TINY = SimulationConfig(n_speakers=8, utterances_per_speaker=6, n_raters=10, raters_per_item=(3, 5), true_draws=8,
                        seed=3)
GRID = {"lambda_mai": [0.5], "kappa": [2.0, 4.0]}


def _config(**changes) -> DemoConfig:
    base = dict(simulation=TINY, seeds=[0, 1], folds=2, max_epochs=2, grid=GRID, threads=1)
    return DemoConfig(**{**base, **changes})


@contextlib.contextmanager
def _log_records(name: str = "amber2.workflow.demo") -> Iterator[list[logging.LogRecord]]:
    """INFO records of one logger (independent of propagation, which the CLI turns off)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(name)
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def _messages(records: list[logging.LogRecord]) -> str:
    return "\n".join(r.getMessage() for r in records)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult]:
    out = tmp_path_factory.mktemp("demo") / "runs"
    return out, run_demo(out, _config())


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG, checking its signature, the IHDR chunk's CRC and the IEND chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name}: not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    ihdr = data[16:29]
    (crc,) = struct.unpack(">I", data[29:33])
    assert zlib.crc32(b"IHDR" + ihdr) == crc, f"{path.name}: IHDR CRC mismatch"
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", f"{path.name}: truncated (no IEND)"
    return struct.unpack(">II", ihdr[:8])


def test_results_hold_the_four_systems_with_finite_mean_and_std(demo):
    out, res = demo
    assert res.results == out / "results.json" and not res.training_reused
    results = json.loads(res.results.read_text())
    assert [k for k in results if not k.startswith("_")] == list(SYSTEMS)
    for system in SYSTEMS:
        assert set(results[system]) == set(METRICS), system
        for m in METRICS:
            stats = results[system][m]
            assert set(stats) == {"mean", "std", "std_runs", "std_seeds"}, (system, m)
            assert stats["std"] == stats["std_runs"]  # protocol.spread: runs (over folds x seeds)
            assert math.isfinite(stats["mean"]) and math.isfinite(stats["std"]) and stats["std"] >= 0, (system, m)
            assert stats == {k: res.summary[system][m][k] for k in ("mean", "std", "std_runs", "std_seeds")}
        for m in ("js", "bc", "f1", "wf1", "acc", "uar"):
            assert 0 <= results[system][m]["mean"] <= 1, (system, m)
    meta = results["_meta"]
    assert meta["n_items"] == 48 and meta["n_speakers"] == 8 and meta["folds"] == 2 and meta["seeds"] == [0, 1]
    assert meta["training"] == "trained" and meta["validation"]["strategy"] == "group-fraction"
    # the run chose lambda/kappa and the epoch on speakers held out of training, over the 2-point grid
    cfg = yaml.safe_load((out / "run" / "config.yaml").read_text())
    assert cfg["protocol"]["validation"] == {"strategy": "group-fraction", "fraction": 0.1, "seed": 0, "scheme": None}
    assert cfg["protocol"]["grid"] == GRID and cfg["optim"]["max_epochs"] == 2 and cfg["protocol"]["seeds"] == [0, 1]
    assert json.loads((out / "run" / "data.json").read_text())["fingerprint"] == meta["data_fingerprint"]


def test_report_and_figures(demo):
    out, res = demo
    assert res.report == out / "report.md"
    text = res.report.read_text()
    assert "Tables 1–2" in text and "Tables 3–4" in text and "| AmbER² |" in text.replace("**", "")
    pngs = sorted((out / "figures").glob("*.png"))
    assert {p.name for p in pngs} >= {"ambiguity_bins.png", "expert_weights.png", "confusion.png"}
    for p in pngs:
        assert p.stat().st_size > 1000, p.name
        w, h = _png_size(p)
        assert w > 100 and h > 100, (p.name, w, h)
        assert f"figures/{p.name}" in text, p.name


def test_second_run_reuses_the_training(demo):
    out, first = demo
    run = out / "run"
    stamps = {f: (run / f).stat().st_mtime_ns for f in ("results.json", "predictions.npz", "model/model.json")}
    with _log_records() as records:
        again = run_demo(out, _config())
    assert again.training_reused
    assert "reusing the complete run" in _messages(records)
    assert {f: (run / f).stat().st_mtime_ns for f in stamps} == stamps  # nothing retrained or rewritten
    assert again.summary == json.loads((run / "results.json").read_text())["summary"]
    results = json.loads(again.results.read_text())
    assert results["_meta"]["training"] == "reused"
    for system in SYSTEMS:
        assert results[system]["js"]["mean"] == pytest.approx(first.summary[system]["js"]["mean"], abs=0)


def test_other_training_settings_retrain(demo, tmp_path):
    out = shutil.copytree(demo[0], tmp_path / "copy")  # its data paths differ from the original's: retrained
    run_demo(out, _config(overrides=["optim.lr=1e-3"]))
    assert yaml.safe_load((out / "run" / "config.yaml").read_text())["optim"]["lr"] == 1e-3
    with _log_records() as records:
        res = run_demo(out, _config())  # only the learning rate differs from the run in the folder
    assert not res.training_reused
    assert "another training config (optim.lr)" in _messages(records)
    assert yaml.safe_load((out / "run" / "config.yaml").read_text())["optim"]["lr"] == 3e-4
    assert json.loads(res.results.read_text())["_meta"]["training"] == "trained"
    # a system switched off is an error naming it, not a silently shorter results.json
    with pytest.raises(DemoError, match="no results for system.*baseline_text, baseline_audio, baseline_fusion"):
        run_demo(out, _config(overrides=["protocol.baseline=none"]))


def test_cli_other_corpus_settings_is_one_line_and_overwrite_regenerates(demo, tmp_path):
    from amber2.cli import app

    out = shutil.copytree(demo[0], tmp_path / "copy")
    (out / "mine").mkdir()
    (out / "mine" / "notes.txt").write_text("keep me")
    (out / "run" / "stale.txt").write_text("from the old run")
    args = ["demo", "--out", str(out), "--speakers", "8", "--per-speaker", "5", "--seed", "5", "--folds", "2",
            "--seeds", "2", "--epochs", "2", "--set", "protocol.grid={lambda_mai: [0.5], kappa: [2.0, 4.0]}"]
    runner = CliRunner()
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert text.startswith("error:") and "Traceback" not in res.output
    assert "utterances_per_speaker 6 -> 5" in text and "seed 3 -> 5" in text and "--overwrite" in text
    assert (out / "results.json").exists() and (out / "run" / "stale.txt").exists()  # nothing removed

    res = runner.invoke(app, [*args, "--overwrite"])
    assert res.exit_code == 0, res.output
    sim = json.loads((out / "corpus" / "simulation.json").read_text())
    assert sim["config"]["seed"] == 5 and sim["counts"]["items"] == 40
    results = json.loads((out / "results.json").read_text())
    assert results["_meta"]["n_items"] == 40 and results["_meta"]["training"] == "trained"
    assert set(SYSTEMS) <= set(results)
    assert not (out / "run" / "stale.txt").exists()  # the old run was removed, not merely overwritten
    assert (out / "mine" / "notes.txt").read_text() == "keep me"  # not the demo's: left alone
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no half-removed folders left behind


def test_overwrite_refuses_a_folder_the_demo_did_not_write(demo, tmp_path):
    out = shutil.copytree(demo[0], tmp_path / "copy")
    shutil.rmtree(out / "prepared")
    (out / "prepared").mkdir()
    (out / "prepared" / "thesis.tex").write_text("mine")
    other = _config(simulation=SimulationConfig(**{**TINY.to_dict(), "seed": 4, "raters_per_item": (3, 5)}))
    with pytest.raises(DemoError, match=r"prepared does not look like the demo's prepared stage"):
        run_demo(out, other, overwrite=True)
    assert (out / "prepared" / "thesis.tex").read_text() == "mine"
    assert (out / "run" / "results.json").exists() and (out / "embeddings" / "extract.json").exists()
