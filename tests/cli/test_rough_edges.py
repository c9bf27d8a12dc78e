"""Issue 15.6 rough edges: head distributions, object arrays in .npz, --help width, progress in log files."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from typer.testing import CliRunner

from amber2.cli import app
from amber2.inference.prediction import Prediction
from amber2.training.data import DataError
from amber2.training.loading import load_arrays
from amber2.utils.io import load_npy, load_npz
from amber2.utils.progress import LogProgress, progress_bar


def test_heads_and_distribution_have_both_forms():
    p = Prediction("u1", ["sad", "happy"], probs=[0.25, 0.75], heads={"audio": [0.4, 0.6], "fusion": [0.25, 0.75]})
    assert p.distribution == {"sad": 0.25, "happy": 0.75}  # probs (vector) <-> distribution (mapping)
    assert p.head_distributions == {"audio": {"sad": 0.4, "happy": 0.6}, "fusion": {"sad": 0.25, "happy": 0.75}}
    assert p.to_dict()["heads"] == p.head_distributions
    back = Prediction.from_dict(p.to_dict())
    assert back.heads == p.heads and back.head_distributions == p.head_distributions


def test_object_array_in_npz_names_file_and_array(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, ids=np.array(["u1", 2], dtype=object), y=np.eye(2), audio=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"data\.npz: array 'ids' holds Python objects.*dtype=str"):
        load_npz(path)
    with pytest.raises(DataError, match=r"data\.npz: array 'ids' holds Python objects"):
        load_arrays(path)
    np.save(tmp_path / "ids.npy", np.array(["a", None], dtype=object))
    with pytest.raises(ValueError, match=r"ids\.npy: the array holds Python objects"):
        load_npy(tmp_path / "ids.npy")
    folder = tmp_path / "arrays"
    folder.mkdir()
    np.save(folder / "ids.npy", np.array(["a", None], dtype=object))
    with pytest.raises(DataError, match=r"ids\.npy"):
        load_arrays(folder)
    good = tmp_path / "good.npz"
    np.savez(good, ids=np.array(["u1", "u2"]), y=np.eye(2))
    assert load_npz(good)["ids"].tolist() == ["u1", "u2"]


@pytest.mark.parametrize("command", ["prepare", "demo", "predict", "export", "train"])
def test_help_does_not_cut_option_names(command, monkeypatch):
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    res = CliRunner().invoke(app, [command, "--help"])
    assert res.exit_code == 0, res.output
    assert "…" not in res.output
    if command == "prepare":
        assert "--speakers-disjoint" in res.output


def test_progress_logs_blocks_and_eta_when_not_a_terminal(caplog, monkeypatch):
    clock = iter([0.0, 0.0, 5.0, 11.0, 12.0, 30.0, 31.0])
    monkeypatch.setattr("amber2.utils.progress.time.monotonic", lambda: next(clock))
    prog = LogProgress(log_every_s=10)
    with caplog.at_level(logging.INFO, logger="amber2.progress"):
        task = prog.add_task("training (epochs)", total=None)  # t=0
        prog.update(task, completed=1, total=4)  # t=0: first line
        prog.update(task, completed=2, total=4)  # t=5: too soon, no line
        prog.update(task, completed=3, total=4)  # t=11: due
        prog.update(task, completed=4, total=4)  # t=12: the last block is always logged
        prog.update(task, completed=4, total=4)  # t=30: logged already
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "training (epochs): block 1 of 4 (25 %), elapsed 0 s, ETA 0 s",
        "training (epochs): block 3 of 4 (75 %), elapsed 11 s, ETA 4 s",
        "training (epochs): block 4 of 4 (100 %), elapsed 12 s, ETA 0 s",
    ]


def test_progress_bar_falls_back_to_log_lines_off_a_terminal(monkeypatch):
    monkeypatch.setattr("amber2.utils.progress._stdout_is_terminal", lambda: False)
    with progress_bar(True) as prog:
        assert isinstance(prog, LogProgress)
    with progress_bar(False) as prog:
        assert not isinstance(prog, LogProgress)
