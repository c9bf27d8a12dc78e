from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from inference_helpers import CREMA_CLIP, synth_clip, write_wav
from typer.testing import CliRunner

from amber2.cli import app
from amber2.inference import load

runner = CliRunner()


def _out(res) -> str:
    return " ".join(res.output.split())


def test_predict_writes_jsonl_and_csv_and_reports_failures(bundle: Path, tmp_path: Path):
    real = shutil.copy(CREMA_CLIP, tmp_path / "real.wav")
    write_wav(tmp_path / "more" / "s1.wav", synth_clip(0.7, seed=1))
    (tmp_path / "broken.wav").write_bytes(b"RIFF....garbage")
    (tmp_path / "t.tsv").write_text("id\ttranscript\nreal\tDon't forget a jacket\n")
    out = tmp_path / "preds.jsonl"
    res = runner.invoke(app, ["predict", str(bundle), str(real), str(tmp_path / "more"), str(tmp_path / "broken.wav"),
                              "--transcripts", str(tmp_path / "t.tsv"), "--out", str(out), "--no-progress",
                              "--batch-size", "2"])
    assert res.exit_code == 0, res.output
    assert "wrote 3 prediction(s)" in _out(res) and "1 item(s) failed" in _out(res) and "broken" in _out(res)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["real", "s1", "broken"]
    assert rows[0]["transcript"] == "Don't forget a jacket" and not rows[0]["partial"]
    assert rows[1]["partial"] and rows[2]["error_reason"] == "unreadable"
    api = load(bundle).predict(real, text="Don't forget a jacket")[0]
    np.testing.assert_allclose(list(rows[0]["distribution"].values()), api.probs, atol=1e-6)
    csv_out = tmp_path / "preds.csv"
    res = runner.invoke(app, ["predict", str(bundle), str(real), "--out", str(csv_out), "--no-progress"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(csv_out)
    assert df.loc[0, "id"] == "real" and bool(df.loc[0, "partial"]) and df.loc[0, "head"] == "audio"


def test_predict_table_and_errors(bundle: Path, tmp_path: Path):
    clip = write_wav(tmp_path / "c.wav", synth_clip(0.8, seed=2))
    res = runner.invoke(app, ["predict", str(bundle), str(clip), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "amber2 predict" in _out(res) and "no text" in _out(res)
    res = runner.invoke(app, ["predict", str(tmp_path / "no-model"), str(clip)])
    assert res.exit_code == 2 and "does not exist" in _out(res)
    res = runner.invoke(app, ["predict", str(bundle), str(tmp_path / "gone.wav"), "--no-progress"])
    assert res.exit_code == 1 and "no such file" in _out(res)  # every item failed


def test_export_command(bundle: Path, tmp_path: Path):
    out = tmp_path / "m.onnx"
    res = runner.invoke(app, ["export", str(bundle), "--onnx", str(out)])
    assert res.exit_code == 0, res.output
    assert "probs_fusion" in _out(res) and "checked against PyTorch" in _out(res)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = {"audio": np.zeros((5, 88), np.float32), "text": np.zeros((5, 384), np.float32)}
    ref = load(bundle).predict_embeddings(x)
    for name, got in zip(("audio", "text", "fusion"), sess.run(None, x)):
        np.testing.assert_allclose(got, ref[name], atol=1e-5)
    res = runner.invoke(app, ["export", str(tmp_path / "none"), "--onnx", str(out)])
    assert res.exit_code == 2 and "does not exist" in _out(res)


def test_serve_command_reports_a_bad_bundle(tmp_path: Path):
    res = runner.invoke(app, ["serve", str(tmp_path / "none"), "--port", "0"])
    assert res.exit_code == 2 and "does not exist" in _out(res)
