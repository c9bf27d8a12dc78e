"""Tampered bundles and shards, bad audio, NaN outputs, interrupted prepares, CSV formulas (issue 14)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from inference_helpers import ToyAudioEncoder, ToyTextEncoder, reseal, synth_clip, write_wav
from typer.testing import CliRunner

from amber2.encoders.audio import AudioError, load_audio
from amber2.inference import AmbER2, BundleError, load
from amber2.model.heads import AmbER2Model, ModelConfig
from amber2.utils.csvsafe import escape_cell, unescape_cell

FAST = settings(max_examples=30, deadline=None)
CLASSES = ["neutral", "happy", "sad"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    net = AmbER2(AmbER2Model(ModelConfig(dims={"audio": 8, "text": 6}, n_classes=3, hidden=4, fusion_dim=4), seed=1),
                 classes=CLASSES, encoders={"audio": ToyAudioEncoder(), "text": ToyTextEncoder()})
    return net.save_pretrained(tmp_path_factory.mktemp("b") / "model")


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "copy"))


# ---------------------------------------------------------------------- bundles
def test_every_flipped_byte_of_a_bundle_is_caught(bundle, tmp_path):
    rng = np.random.default_rng(0)
    for name in ("model.safetensors", "model.json"):
        b = _copy(bundle, tmp_path)
        data = bytearray((b / name).read_bytes())
        for pos in rng.integers(0, len(data), size=5):
            data[pos] ^= 0x5A
        (b / name).write_bytes(bytes(data))
        with pytest.raises(BundleError, match=f"{name} is corrupt"):
            load(b)
        shutil.rmtree(b)


def test_non_finite_weights_are_refused_by_name(bundle, tmp_path):
    from safetensors.torch import load_file, save_file

    b = _copy(bundle, tmp_path)
    state = load_file(str(b / "model.safetensors"))
    key = sorted(state)[0]
    state[key] = state[key].clone()
    state[key].view(-1)[0] = float("nan")
    save_file(state, str(b / "model.safetensors"))
    reseal(b)  # checksums fit: the finiteness check must still catch it
    with pytest.raises(BundleError, match=f"weight '{key}' holds NaN or inf"):
        load(b)


@pytest.mark.parametrize("value", ["abc", None, 1.5, True, 0])
def test_a_bad_bundle_format_is_a_clear_error(bundle, tmp_path, value):
    b = _copy(bundle, tmp_path)
    meta = json.loads((b / "model.json").read_text())
    meta["metadata"]["bundle_format"] = value
    (b / "model.json").write_text(json.dumps(meta))
    reseal(b)
    with pytest.raises(BundleError, match="bundle_format must be a whole number"):
        load(b)


def test_too_few_class_names_are_caught_by_load_and_by_the_cli(bundle, tmp_path):
    from amber2.cli import app

    b = _copy(bundle, tmp_path)
    meta = json.loads((b / "model.json").read_text())
    meta["classes"] = ["neutral", "happy"]
    (b / "model.json").write_text(json.dumps(meta))
    reseal(b)
    with pytest.raises(BundleError, match="2 class name"):
        AmbER2.from_pretrained(b, device="cpu")
    clip = write_wav(tmp_path / "c.wav", synth_clip(0.5, seed=1))
    r = CliRunner().invoke(app, ["predict", str(b), str(clip), "--no-progress"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "2 class name" in r.output and r.output.strip().count("\n") <= 2


def test_nan_output_is_a_per_item_failure_not_the_end_of_the_batch(bundle, monkeypatch):
    net = AmbER2.from_pretrained(bundle, device="cpu", encoders={"audio": ToyAudioEncoder(), "text": ToyTextEncoder()})
    X = {"audio": np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32),
         "text": np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)}
    X["audio"][2] = 1e30  # a finite but absurd embedding...
    forward = net.model.forward

    def overflowing(xs, **kw):  # ...that a real model overflows on: NaN logits in that row
        out = forward(xs, **kw)
        big = (xs["audio"].abs() > 1e20).any(dim=1) if "audio" in xs else None
        return {h: v.masked_fill(big[:, None], float("nan")) if big is not None else v for h, v in out.items()}

    monkeypatch.setattr(net.model, "forward", overflowing)
    preds = net.predict_from_embeddings(X, ids=["a", "b", "c", "d"])
    assert [p.ok for p in preds] == [True, True, False, True]
    assert preds[2].error_reason == "non_finite_output" and "'c'" in preds[2].error and str(bundle) in preds[2].error
    ok = net.predict_from_embeddings({m: a[[0, 1, 3]] for m, a in X.items()}, ids=["a", "b", "d"])
    for p, q in zip([preds[0], preds[1], preds[3]], ok, strict=True):
        assert p.probs == pytest.approx(q.probs)


# ---------------------------------------------------------------------- audio
def _float_wav(path: Path, x: np.ndarray, sr: int = 16000) -> Path:
    sf.write(path, x.astype(np.float32), sr, subtype="FLOAT")
    return path


@FAST
@given(peak=st.floats(2.5, 1e6, allow_subnormal=False), sr=st.integers(1, 7999))
def test_generated_bad_audio_is_named(tmp_path_factory, peak, sr):
    d = tmp_path_factory.mktemp("a")
    x = synth_clip(0.5, seed=2)
    loud = _float_wav(d / "loud.wav", x / np.abs(x).max() * peak)
    with pytest.raises(AudioError, match="far outside") as e:
        load_audio(loud, item_id="u1")
    assert e.value.reason == "out_of_range" and "u1" in str(e.value)
    slow = _float_wav(d / "slow.wav", x[: max(sr, 4)] * 0.5, sr=sr)
    with pytest.raises(AudioError) as e:
        load_audio(slow, item_id="u2")
    assert e.value.reason == "low_sample_rate"


@FAST
@given(keep=st.floats(0.05, 0.95, allow_subnormal=False))
def test_truncated_wavs_are_named(tmp_path_factory, keep):
    d = tmp_path_factory.mktemp("t")
    full = write_wav(d / "full.wav", synth_clip(0.5, seed=3))
    data = full.read_bytes()
    cut = d / "cut.wav"
    cut.write_bytes(data[: max(60, int(len(data) * keep))])
    with pytest.raises(AudioError) as e:
        load_audio(cut, item_id="u3")
    assert e.value.reason in ("truncated", "unreadable", "zero_length")
    assert load_audio(full).size == 8000  # the whole file is fine


def test_bad_audio_in_a_batch_fails_per_item(bundle, tmp_path):
    net = AmbER2.from_pretrained(bundle, device="cpu", encoders={"audio": ToyAudioEncoder(), "text": ToyTextEncoder()})
    good = write_wav(tmp_path / "good.wav", synth_clip(0.5, seed=4))
    loud = _float_wav(tmp_path / "loud.wav", synth_clip(0.5, seed=4) * 50)
    preds = net.predict([good, loud], text=["hello", "hello"])
    assert preds[0].ok and not preds[1].ok and preds[1].error_reason == "out_of_range"


# ---------------------------------------------------------------------- cache shards
def test_a_shard_with_flipped_data_bytes_is_reported_and_recomputed(tmp_path, caplog):
    from amber2.encoders.cache import EncoderStore

    store = EncoderStore(tmp_path, "audio", "f" * 64)
    store.ensure({"kind": "toy"}, 4)
    w = store.writer("w1", shard_size=3)
    rows = {f"k{i}": np.full(4, i, np.float32) for i in range(3)}
    for k, v in rows.items():
        w.add(k, v)
    w.flush()
    shard = next((store.dir / "shards").glob("*.safetensors"))
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0xFF  # a data byte, not the header
    shard.write_bytes(bytes(data))
    fresh = EncoderStore(tmp_path, "audio", "f" * 64)
    assert fresh.read(list(rows)) == {}
    assert fresh.missing(list(rows)) == list(rows)  # so the next extraction recomputes them
    assert "corrupt or incomplete cache shard" in caplog.text and shard.name in caplog.text
    w2 = fresh.writer("w2")
    for k, v in rows.items():
        w2.add(k, v)
    w2.flush()
    got = EncoderStore(tmp_path, "audio", "f" * 64).read(list(rows))
    assert all(np.array_equal(got[k], rows[k]) for k in rows)


# ---------------------------------------------------------------------- prepared corpus
def _manifest(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    (d / "wav").mkdir(parents=True)
    lines = ["id,audio,speaker,votes:sad,votes:happy"]
    for i in range(10):
        write_wav(d / "wav" / f"u{i}.wav", synth_clip(0.3, seed=i))
        lines.append(f"{'=' if i == 0 else ''}u{i},wav/u{i}.wav,s{i % 5},{i % 3},{(i + 1) % 2 + 1}")
    (d / "manifest.csv").write_text("\n".join(lines) + "\n")
    return d / "manifest.csv"


def test_a_prepared_corpus_is_one_unit_and_carries_its_policy(tmp_path):
    from amber2.corpora.table import CorpusTable, CorpusTableError
    from amber2.labels import LabelPolicy
    from amber2.training.loading import _prepared_policy, read_folds
    from amber2.workflow.prepare import prepare_corpus

    policy_file = tmp_path / "mine.json"
    LabelPolicy(name="my-custom-2class", classes=("sad", "happy")).save(policy_file)
    out = tmp_path / "prepared"
    res = prepare_corpus("manifest", _manifest(tmp_path), out, policy=str(policy_file), k=2)
    assert (out / "policy.json").is_file() and json.loads((out / "prepared.json").read_text())["complete"]
    assert _prepared_policy(out, None).name == "my-custom-2class"  # no --policy: the saved one
    assert _prepared_policy(out, "my-custom-2class").classes == ("sad", "happy")  # by its name too
    assert _prepared_policy(out, "eq1") is None  # another policy asked for: resolved elsewhere
    folds_text = (out / "folds.csv").read_text()
    assert "\n'=u0," in folds_text  # escaped for spreadsheets...
    folds, missing = read_folds(out / "folds.csv", res.labels.ids)
    assert not missing and (folds >= 0).all()  # ...and read back as the real id '=u0'
    assert "=u0" in res.labels.ids
    table = CorpusTable.read(out)
    table.write(out / "corpus.parquet")  # amber2 rewriting its own table keeps the folder sealed
    CorpusTable.read(out)
    (out / "folds.csv").write_text(folds_text.replace(",0\n", ",1\n", 1))
    with pytest.raises(CorpusTableError, match=r"folds\.csv is corrupt"):
        CorpusTable.read(out)
    # a prepare killed after marking the folder leaves it refused, not mixed
    from amber2.utils.integrity import mark_incomplete

    mark_incomplete(out, "prepared.json")
    with pytest.raises(CorpusTableError, match="incomplete.*amber2 prepare"):
        CorpusTable.read(out)


# ---------------------------------------------------------------------- CSV formulas
@FAST
@given(text=st.text(max_size=20))
def test_csv_escaping_round_trips_and_defuses_formulas(text):
    esc = escape_cell(text)
    assert unescape_cell(esc) == text
    assert not (isinstance(esc, str) and esc[:1] in ("=", "+", "-", "@", "\t", "\r"))


def test_prediction_csv_escapes_ids(bundle, tmp_path):
    from amber2.inference import PredictionWriter

    net = AmbER2.from_pretrained(bundle, device="cpu", encoders={"audio": ToyAudioEncoder(), "text": ToyTextEncoder()})
    preds = net.predict_from_embeddings({"audio": np.zeros((2, 8), np.float32), "text": np.zeros((2, 6), np.float32)},
                                        ids=["=HYPERLINK(1)", "@SUM(2)"])
    out = tmp_path / "p.csv"
    with PredictionWriter.open(out, classes=net.classes, heads=net.heads) as w:
        for p in preds:
            w.write(p)
    df = pd.read_csv(out, dtype=str)
    assert df["id"].tolist() == ["'=HYPERLINK(1)", "'@SUM(2)"]
    assert torch.get_num_threads() >= 1
