from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
from inference_helpers import CREMA_CLIP, reseal, synth_clip, write_wav
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


def _other_version_bundle(bundle: Path, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the bundle stamped with an amber2 version outside this one's compatible series."""
    from amber2 import __version__

    major, minor = (int(x) for x in __version__.split(".")[:2])
    theirs = f"0.{minor + 1}.0" if major == 0 else f"{major + 1}.0.0"
    dst = shutil.copytree(bundle, tmp_path / "old-model")
    meta = json.loads((dst / "model.json").read_text())
    meta["amber2_version"] = theirs
    (dst / "model.json").write_text(json.dumps(meta))
    reseal(dst)
    return dst, theirs


def test_commands_refuse_another_version_unless_allowed(bundle: Path, tmp_path: Path, monkeypatch):
    old, theirs = _other_version_bundle(bundle, tmp_path)
    clip = write_wav(tmp_path / "c.wav", synth_clip(0.8, seed=3))
    arrays = tmp_path / "arrays.npz"
    rng = np.random.default_rng(0)
    y = rng.dirichlet(np.ones(4), size=6)
    np.savez(arrays, ids=np.array([f"u{i}" for i in range(6)]), y=y, audio=rng.normal(size=(6, 88)),
             text=rng.normal(size=(6, 384)), folds=np.array([0, 0, 0, 1, 1, 1]),
             classes=np.array(["neutral", "happy", "angry", "sad"]))
    served = {}

    def fake_serve(model, *, host, port, **options):  # the real app, without uvicorn and the warm-up
        from amber2.serve import create_app

        served.update(model=model, app=create_app(model, warm_up=False, **options), **options)

    monkeypatch.setattr("amber2.serve.serve", fake_serve)
    commands = {
        "predict": ["predict", str(old), str(clip), "--no-progress"],
        "export": ["export", str(old), "--onnx", str(tmp_path / "m.onnx"), "--no-verify"],
        "evaluate": ["evaluate", str(old), "--arrays", str(arrays)],
        "serve": ["serve", str(old), "--port", "0"],
    }
    for name, args in commands.items():
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (name, res.output)
        text = _out(res)
        assert "error: bundle" in text and "Traceback" not in res.output, name
        assert f"saved by amber2 {theirs}" in text and "--allow-version-mismatch" in text, (name, text)
    for name, args in commands.items():
        res = runner.invoke(app, [*args, "--allow-version-mismatch"])
        assert res.exit_code == 0, (name, res.output)
    assert (tmp_path / "m.onnx").stat().st_size > 0
    assert served["model"] == old and served["allow_version_mismatch"] is True
    assert served["app"].state.model.amber2_version == theirs
