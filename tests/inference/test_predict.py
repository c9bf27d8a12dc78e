from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from inference_helpers import CREMA_CLIP, LFS_POINTER, ToyAudioEncoder, ToyTextEncoder, synth_clip, write_wav
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy

from amber2.inference import (
    AmbER2,
    Prediction,
    modality_conflict,
    predictions_to_frame,
    read_transcripts,
    write_predictions,
)
from amber2.model.heads import AmbER2Model, ModelConfig


def _reference(net: AmbER2, wave: np.ndarray, sr: int, text: str | None) -> dict[str, np.ndarray]:
    """Heads' distributions computed by hand: encoders -> torch model -> softmax (float64)."""
    X = {"audio": torch.from_numpy(net.encoder("audio").encode([wave], sr))}
    if text is not None:
        X["text"] = torch.from_numpy(net.encoder("text").encode([text]))
    with torch.no_grad():
        logits = net.model(X)
    return {h: torch.softmax(v.double(), -1)[0].numpy() for h, v in logits.items()}


@pytest.fixture
def clips(tmp_path: Path) -> dict[str, Path]:
    out = {"real": shutil.copy(CREMA_CLIP, tmp_path / "real.wav")}
    out["synth"] = write_wav(tmp_path / "synth.wav", synth_clip(1.2, seed=4))
    return {k: Path(v) for k, v in out.items()}


def test_prediction_matches_a_hand_computed_reference(loaded: AmbER2, clips):
    text = "Don't forget a jacket."
    p = loaded.predict(clips["real"], text=text)[0]
    wave, sr = sf.read(clips["real"], dtype="float32")
    ref = _reference(loaded, wave, sr, text)
    assert p.ok and p.id == "real" and p.head == "fusion" and not p.partial and p.missing == []
    assert set(p.heads) == {"audio", "text", "fusion"}
    for h, r in ref.items():
        np.testing.assert_allclose(p.heads[h], r, atol=1e-6)
    np.testing.assert_allclose(p.probs, ref["fusion"], atol=1e-6)
    assert p.label == loaded.classes[int(np.argmax(ref["fusion"]))]
    assert p.confidence == pytest.approx(ref["fusion"].max(), abs=1e-6)
    assert p.entropy == pytest.approx(scipy_entropy(ref["fusion"], base=2), abs=1e-6)
    assert p.conflict == pytest.approx(jensenshannon(ref["audio"], ref["text"], base=2) ** 2, abs=1e-6)
    assert 0 <= p.conflict <= 1 and 0 <= p.entropy <= 2
    assert p.transcript == text and p.transcript_source == "given"
    assert p.duration == pytest.approx(2.276, abs=1e-3) and p.source == str(clips["real"])


def test_without_transcript_the_audio_head_answers_flagged(loaded: AmbER2, clips):
    p = loaded.predict(clips["real"])[0]
    wave, sr = sf.read(clips["real"], dtype="float32")
    ref = _reference(loaded, wave, sr, None)
    assert p.ok and p.partial and p.head == "audio" and p.missing == ["text"]
    assert set(p.heads) == {"audio"} and p.conflict is None and p.transcript is None
    np.testing.assert_allclose(p.probs, ref["audio"], atol=1e-6)
    full = loaded.predict(clips["real"], text="hello")[0]
    np.testing.assert_allclose(full.heads["audio"], p.heads["audio"], atol=0)  # the expert ignores the text


def test_text_only_items_use_the_text_head(loaded: AmbER2):
    p = loaded.predict([None], text=["I am so happy today"])[0]
    with torch.no_grad():
        t = torch.from_numpy(loaded.encoder("text").encode(["I am so happy today"]))
        ref = torch.softmax(loaded.model({"text": t})["text"].double(), -1)[0].numpy()
    assert p.ok and p.partial and p.head == "text" and p.missing == ["audio"] and p.source == "text"
    np.testing.assert_allclose(p.probs, ref, atol=1e-6)
    bad = loaded.predict([None])[0]
    assert not bad.ok and bad.error_reason == "no_input" and "nothing to predict from" in bad.error


def test_bad_items_are_reported_and_the_batch_goes_on(loaded: AmbER2, clips, tmp_path: Path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio at all")
    lfs = shutil.copy(LFS_POINTER, tmp_path / "pointer.wav")
    write_wav(tmp_path / "silent.wav", np.zeros(16000, dtype=np.float32))
    write_wav(tmp_path / "tiny.wav", synth_clip(0.01))
    inputs = [clips["real"], tmp_path / "empty.wav", tmp_path / "text.wav", lfs, tmp_path / "missing.wav",
              tmp_path / "silent.wav", tmp_path / "tiny.wav", clips["synth"]]
    preds = loaded.predict(inputs, batch_size=3)
    got = {p.id: (p.ok, p.error_reason) for p in preds}
    assert [p.id for p in preds] == ["real", "empty", "text", "pointer", "missing", "silent", "tiny", "synth"]
    assert got == {"real": (True, None), "empty": (False, "empty_file"), "text": (False, "unreadable"),
                   "pointer": (False, "lfs_pointer"), "missing": (False, "missing"), "silent": (False, "silent"),
                   "tiny": (False, "too_short"), "synth": (True, None)}
    by_id = {p.id: p for p in preds}
    assert "git lfs pull" in by_id["pointer"].error and "pointer.wav" in by_id["pointer"].error
    assert "no such file" in by_id["missing"].error and by_id["missing"].probs is None
    with pytest.raises(ValueError, match="empty"):
        loaded.predict([clips["real"], tmp_path / "empty.wav"], on_error="raise")


def test_max_seconds_rejects_long_clips(loaded: AmbER2, clips):
    p = loaded.predict(clips["real"], max_seconds=1.0)[0]
    assert p.error_reason == "too_long" and "over the limit of 1 s" in p.error
    p = loaded.predict(synth_clip(3.0), sample_rate=16000, max_seconds=2.5)[0]
    assert p.error_reason == "too_long"


def test_arrays_files_and_batch_sizes_agree(loaded: AmbER2, tmp_path: Path):
    waves = [synth_clip(0.6 + 0.3 * i, 8000, seed=i) for i in range(5)]
    paths = [write_wav(tmp_path / f"c{i}.wav", w, 8000, subtype="FLOAT") for i, w in enumerate(waves)]
    texts = ["why did you do that", None, "okay", "", "hello there"]
    a = loaded.predict(waves, sample_rate=8000, text=texts, batch_size=2)
    b = loaded.predict(paths, text=texts, batch_size=16)
    assert [p.id for p in a] == [f"item{i}" for i in range(5)] and [p.id for p in b] == [f"c{i}" for i in range(5)]
    for x, y in zip(a, b):
        assert x.ok and y.ok and x.head == y.head and x.partial == y.partial
        np.testing.assert_allclose(x.probs, y.probs, atol=1e-5)
    assert [p.partial for p in a] == [False, True, False, True, False]  # "" counts as no transcript
    with pytest.raises(ValueError, match="sample_rate"):
        loaded.predict(waves[0])
    with pytest.raises(ValueError, match="1-D array"):
        loaded.predict(np.zeros((2, 100)), sample_rate=16000)
    with pytest.raises(ValueError, match="2 transcript"):
        loaded.predict(waves, sample_rate=8000, text=["a", "b"])


def test_folder_input_with_colliding_stems(loaded: AmbER2, tmp_path: Path):
    for sub in ("a", "b/deeper"):
        write_wav(tmp_path / "f" / sub / "x.wav", synth_clip(0.5, seed=len(sub)))
    write_wav(tmp_path / "f" / "y.flac", synth_clip(0.5, seed=9))
    (tmp_path / "f" / "notes.txt").write_text("ignored")
    preds = loaded.predict(tmp_path / "f")
    assert sorted(p.id for p in preds) == ["a/x", "b/deeper/x", "y"]
    assert all(p.ok for p in preds)


def test_manifest_inputs(loaded: AmbER2, tmp_path: Path):
    write_wav(tmp_path / "wav" / "u1.wav", synth_clip(0.8, seed=1))
    write_wav(tmp_path / "wav" / "u2.wav", synth_clip(0.9, seed=2))
    (tmp_path / "m.csv").write_text(
        "id,audio,transcript,votes:angry,votes:sad\n"
        "u1,wav/u1.wav,I am so happy today,2,1\n"
        "u2,wav/u2.wav,,0,3\n"
        "u3,,what are you doing,1,1\n"
        "u4,wav/gone.wav,hello,1,0\n")
    preds = {p.id: p for p in loaded.predict(tmp_path / "m.csv")}
    assert list(preds) == ["u1", "u2", "u3", "u4"]
    assert preds["u1"].ok and not preds["u1"].partial and preds["u1"].transcript == "I am so happy today"
    assert preds["u2"].partial and preds["u2"].head == "audio"
    assert preds["u3"].partial and preds["u3"].head == "text"
    assert preds["u4"].error_reason == "missing"
    # JSONL rater form: one line per vote, merged per item; a manifest folder works too
    lines = [{"id": "u1", "audio": "wav/u1.wav", "transcript": "tell me more", "rater": r, "label": "sad"}
             for r in ("r1", "r2")]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (tmp_path / "m.csv").unlink()
    preds = loaded.predict(tmp_path)
    assert [p.id for p in preds] == ["u1"] and preds[0].transcript == "tell me more"


def test_transcripts_file_overrides(loaded: AmbER2, clips, tmp_path: Path):
    (tmp_path / "t.csv").write_text("audio,transcript\nreal.wav,Don't forget a jacket\n")
    (tmp_path / "t.txt").write_text("synth\tsomething else\n")
    assert read_transcripts(tmp_path / "t.csv") == {"real.wav": "Don't forget a jacket"}
    preds = loaded.predict([clips["real"], clips["synth"]], transcripts=tmp_path / "t.csv")
    assert preds[0].transcript == "Don't forget a jacket" and not preds[0].partial
    assert preds[1].transcript is None and preds[1].partial
    preds = loaded.predict([clips["real"], clips["synth"]], transcripts=tmp_path / "t.txt")
    assert preds[1].transcript == "something else" and preds[0].partial
    (tmp_path / "bad.csv").write_text("name,words\na,b\n")
    with pytest.raises(ValueError, match="needs a key column"):
        read_transcripts(tmp_path / "bad.csv")


def test_predictions_from_embeddings_with_missing_rows(loaded: AmbER2):
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 88)).astype(np.float32)
    T = rng.normal(size=(4, 384)).astype(np.float32)
    T[2] = np.nan
    preds = loaded.predict_from_embeddings({"audio": A, "text": T}, ids=list("abcd"))
    assert [p.partial for p in preds] == [False, False, True, False]
    full = loaded.predict_embeddings({"audio": A[[0]], "text": T[[0]]})
    np.testing.assert_allclose(preds[0].probs, full["fusion"][0])
    np.testing.assert_allclose(preds[2].probs, loaded.predict_embeddings({"audio": A[[2]]})["audio"][0])
    np.testing.assert_allclose(loaded.predict_proba({"audio": A[[2]]}), [preds[2].probs])
    with pytest.raises(ValueError, match=r"expected \(n, 88\)"):
        loaded.predict_embeddings({"audio": A[:, :10]})
    with pytest.raises(ValueError, match="unknown modality"):
        loaded.predict_embeddings({"video": A})


def test_three_modalities_conflict_and_fallback():
    rng = np.random.default_rng(2)
    heads = {m: rng.dirichlet(np.ones(5), size=6) for m in ("a", "b", "c")}
    pairs = [("a", "b"), ("a", "c"), ("b", "c")]
    ref = np.mean([[jensenshannon(heads[x][i], heads[y][i], base=2) ** 2 for i in range(6)] for x, y in pairs], 0)
    np.testing.assert_allclose(modality_conflict(heads), ref, atol=1e-9)
    one_hot = {"a": np.eye(3)[[0]], "b": np.eye(3)[[1]]}
    np.testing.assert_allclose(modality_conflict(one_hot), [1.0])
    with pytest.raises(ValueError, match="at least two"):
        modality_conflict({"a": heads["a"]})
    model = AmbER2Model(ModelConfig(dims={"a": 3, "b": 4, "c": 2}, n_classes=5, hidden=4, fusion_dim=4), seed=0)
    net = AmbER2(model, classes=list("vwxyz"))
    X = {m: rng.normal(size=(2, d)) for m, d in {"a": 3, "b": 4}.items()}
    p = net.predict_from_embeddings(X)[0]
    probs = net.predict_embeddings(X)
    assert p.head == "mean(a,b)" and p.partial and p.missing == ["c"]
    np.testing.assert_allclose(p.probs, (probs["a"][0] + probs["b"][0]) / 2)


def test_in_memory_model_with_custom_encoders(tmp_path: Path):
    model = AmbER2Model(ModelConfig(dims={"audio": 8, "text": 6}, n_classes=3, hidden=4, fusion_dim=4), seed=1)
    net = AmbER2(model, classes=["x", "y", "z"], encoders={"audio": ToyAudioEncoder(), "text": ToyTextEncoder()})
    p = net.predict(synth_clip(0.5), sample_rate=16000, text="hi there!")[0]
    assert p.ok and set(p.heads) == {"audio", "text", "fusion"}
    assert net.describe()["encoders"]["audio"] == {"kind": "toy-audio"}


def test_writers_and_frame(loaded: AmbER2, clips, tmp_path: Path):
    preds = loaded.predict([clips["real"], clips["synth"], tmp_path / "nope.wav"], text=["hello", None, None])
    jl = write_predictions(preds, tmp_path / "out.jsonl")
    rows = [json.loads(x) for x in jl.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["real", "synth", "nope"] and [r["ok"] for r in rows] == [True, True, False]
    back = [Prediction.from_dict(r) for r in rows]
    assert back[0].probs == pytest.approx(preds[0].probs) and back[0].heads.keys() == preds[0].heads.keys()
    assert back[1].partial and back[2].error_reason == "missing"
    import pandas as pd

    df = pd.read_csv(write_predictions(preds, tmp_path / "out.csv"))
    assert list(df["id"]) == ["real", "synth", "nope"]
    assert {"p:neutral", "audio:sad", "fusion:happy", "entropy", "conflict"} <= set(df.columns)
    np.testing.assert_allclose(df.loc[0, [f"p:{c}" for c in loaded.classes]].to_numpy(float), preds[0].probs)
    assert pd.isna(df.loc[1, "fusion:neutral"]) and df.loc[2, "error_reason"] == "missing"
    frame = predictions_to_frame(preds)
    assert frame.shape[0] == 3 and frame.loc[0, "label"] == preds[0].label
    with pytest.raises(ValueError, match="suffix"):
        write_predictions(preds, tmp_path / "out.xlsx")
    assert json.loads(write_predictions(preds, tmp_path / "o.json").read_text())[2]["id"] == "nope"


def test_asr_supplies_missing_transcripts(loaded: AmbER2, clips, tmp_path: Path):
    folder = _tiny_ctc(tmp_path / "asr")
    from amber2.inference import Transcriber

    asr = Transcriber(str(folder), device="cpu")
    assert asr.transcribe([synth_clip(0.5)], 16000) == ["a"]
    preds = loaded.predict([clips["real"], clips["synth"]], text=["given text", None], asr=asr)
    assert preds[0].transcript == "given text" and preds[0].transcript_source == "given"
    assert preds[1].transcript == "a" and preds[1].transcript_source == "asr" and not preds[1].partial


def _tiny_ctc(folder: Path) -> Path:
    """A tiny random wav2vec2-CTC model whose output bias makes it always say 'a'."""
    import transformers as tf
    from tiny_models import tiny_audio_config

    folder.mkdir(parents=True)
    vocab = {"<pad>": 0, "|": 1, "<unk>": 2, "a": 3, "b": 4}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    tok = tf.Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), pad_token="<pad>", unk_token="<unk>",
                                  word_delimiter_token="|")
    fe = tf.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                     return_attention_mask=False)
    tf.Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(folder)
    cfg = tiny_audio_config("wav2vec2")
    cfg.vocab_size = len(vocab)
    cfg.pad_token_id = 0
    torch.manual_seed(0)
    model = tf.Wav2Vec2ForCTC(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 5.0, 0.0]))
    model.save_pretrained(folder)
    return folder


def test_an_encoder_failure_is_isolated_to_its_item():
    class Flaky(ToyAudioEncoder):
        def encode(self, waveforms, sample_rate):
            if any(len(w) == 8000 for w in waveforms):
                raise RuntimeError("cannot handle half-second clips")
            return super().encode(waveforms, sample_rate)

    model = AmbER2Model(ModelConfig(dims={"audio": 8, "text": 6}, n_classes=3, hidden=4, fusion_dim=4), seed=1)
    net = AmbER2(model, classes=["x", "y", "z"], encoders={"audio": Flaky(), "text": ToyTextEncoder()})
    preds = net.predict([synth_clip(0.4), synth_clip(0.5), synth_clip(0.6)], sample_rate=16000, batch_size=3)
    assert [p.ok for p in preds] == [True, False, True]
    assert preds[1].error_reason == "encoder_failed" and "half-second" in preds[1].error
    alone = net.predict(synth_clip(0.6), sample_rate=16000)[0]
    np.testing.assert_allclose(preds[2].probs, alone.probs)
