"""Issue 15.7: a model trained from arrays has no encoders; predicting from clips says so and how to fix it."""

from __future__ import annotations

from inference_helpers import CLASSES, CREMA_CLIP

from amber2.inference import load, save_bundle
from amber2.model.heads import AmbER2Model, ModelConfig


def test_predicting_clips_without_encoders_names_what_is_missing(tmp_path):
    model = AmbER2Model(ModelConfig(dims={"audio": 8, "text": 4}, n_classes=4, hidden=8, fusion_dim=4), seed=0)
    bundle = save_bundle(tmp_path / "m", model, classes=CLASSES, encoders={})
    m = load(bundle, device="cpu")
    (pred,) = m.predict([CREMA_CLIP], text=["I am so angry"])
    assert not pred.ok and pred.error_reason == "no_input"
    assert "no encoder for audio (audio given) and text (a transcript given)" in pred.error
    assert "trained from arrays" in pred.error and "encoders=" in pred.error
    probs = m.predict_embeddings({"audio": [[0.1] * 8], "text": [[0.2] * 4]})  # embeddings still work
    assert set(probs) == {"audio", "text", "fusion"} and probs["fusion"].shape == (1, 4)
