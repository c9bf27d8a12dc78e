from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from amber2.inference import AmbER2, OnnxExportError, export_onnx, onnx_metadata
from amber2.model.heads import AmbER2Model, ModelConfig


def _torch_probs(model: AmbER2Model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        logits = model({m: torch.from_numpy(a) for m, a in feeds.items()})
    return {h: torch.softmax(v, -1).numpy() for h, v in logits.items()}


def test_onnx_matches_pytorch_for_every_head_and_batch_size(bundle: Path, tmp_path: Path):
    net = AmbER2.from_pretrained(bundle, device="cpu")
    out = export_onnx(bundle, tmp_path / "heads.onnx")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["audio", "text"]
    assert [o.name for o in sess.get_outputs()] == ["probs_audio", "probs_text", "probs_fusion"]
    assert sess.get_inputs()[0].shape[1] == 88 and isinstance(sess.get_inputs()[0].shape[0], str)  # dynamic batch
    rng = np.random.default_rng(0)
    for n in (1, 3, 33):  # the export used a batch of 2
        feeds = {"audio": (rng.normal(size=(n, 88)) * 50).astype(np.float32),
                 "text": rng.normal(size=(n, 384)).astype(np.float32)}
        got = dict(zip(("audio", "text", "fusion"), sess.run(None, feeds)))
        ref = _torch_probs(net.model, feeds)
        for h in ref:
            assert got[h].shape == (n, 4)
            np.testing.assert_allclose(got[h], ref[h], atol=1e-5, rtol=0)
            np.testing.assert_allclose(got[h].sum(axis=1), 1.0, atol=1e-5)
    meta = onnx_metadata(out)
    assert meta["classes"] == net.classes and meta["heads"] == ["audio", "text", "fusion"]
    assert meta["student"] == "fusion" and meta["inputs"] == {"audio": 88, "text": 384}


def test_single_modality_model_and_audio_only_use(tmp_path: Path):
    model = AmbER2Model(ModelConfig(dims={"audio": 12}, n_classes=3, hidden=5, student="audio"), seed=2)
    out = export_onnx(model, tmp_path / "a.onnx", opset=18)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(size=(4, 12)).astype(np.float32)
    (p,) = sess.run(None, {"audio": x})
    np.testing.assert_allclose(p, _torch_probs(model, {"audio": x})["audio"], atol=1e-5)
    assert onnx_metadata(out)["classes"] == ["class0", "class1", "class2"]


def test_audio_head_ignores_the_text_input(bundle: Path, tmp_path: Path):
    out = export_onnx(bundle, tmp_path / "h.onnx", verify=False)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    a = np.random.default_rng(3).normal(size=(2, 88)).astype(np.float32)
    p1 = sess.run(["probs_audio"], {"audio": a, "text": np.zeros((2, 384), np.float32)})[0]
    p2 = sess.run(["probs_audio"], {"audio": a, "text": np.ones((2, 384), np.float32)})[0]
    np.testing.assert_array_equal(p1, p2)


def test_export_errors(tmp_path: Path):
    with pytest.raises(TypeError, match="export_onnx needs"):
        export_onnx(object(), tmp_path / "x.onnx")
    model = AmbER2Model(ModelConfig(dims={"audio": 4}, n_classes=2, hidden=3, student="audio"))
    with pytest.raises(OnnxExportError, match="ONNX export failed"):
        export_onnx(model, tmp_path / "x.onnx", opset=3)
    assert not (tmp_path / "x.onnx").exists()
