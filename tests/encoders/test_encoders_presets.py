"""Presets, shorthand specs, openSMILE and precomputed features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tiny_models import synth_clip

from amber2.encoders import PRESETS, EncoderError, build_encoder, resolve_spec
from amber2.encoders.opensmile_encoder import OpenSmileEncoder
from amber2.encoders.precomputed import PrecomputedFeatures
from amber2.encoders.presets import spec_matches


def test_presets_name_the_paper_and_offline_encoders():
    assert PRESETS["paper"]["audio"]["model"] == "facebook/wav2vec2-base"
    assert PRESETS["paper"]["text"]["model"] == "bert-base-uncased"
    assert PRESETS["offline"]["audio"]["feature_set"] == "eGeMAPSv02"
    assert PRESETS["offline"]["text"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_resolve_spec_overrides_and_shorthands(tmp_path):
    spec = resolve_spec("paper", audio_encoder="egemaps", text_encoder=None, audio_layer="mean",
                        features={"prosody": tmp_path / "p.parquet"})
    assert spec["audio"]["kind"] == "opensmile" and "text" not in spec
    assert spec["prosody"] == {"kind": "precomputed", "name": "prosody", "path": str(tmp_path / "p.parquet")}
    spec = resolve_spec("offline", audio_encoder="facebook/hubert-base-ls960", audio_layer="6")
    assert spec["audio"] == {**PRESETS["paper"]["audio"], "model": "facebook/hubert-base-ls960", "layer": 6}
    assert resolve_spec({"preset": "offline", "text": "none"}).keys() == {"audio"}
    assert resolve_spec("offline", audio_encoder="compare")["audio"]["feature_set"] == "ComParE_2016"
    with pytest.raises(EncoderError, match="unknown preset"):
        resolve_spec("fast")


def test_spec_matching_ignores_auto_dtype_and_resolves_aliases():
    stored = {"kind": "hf-text", "model": "sentence-transformers/all-MiniLM-L6-v2", "layer": "last",
              "normalize": True, "dtype": "float32", "weights": "ab"}
    assert spec_matches({"kind": "hf-text", "model": "minilm", "dtype": "auto", "normalize": "auto"}, stored)
    assert not spec_matches({"kind": "hf-text", "model": "minilm", "layer": 3}, stored)
    assert not spec_matches({"kind": "hf-text", "model": "minilm", "dtype": "bfloat16"}, stored)


def test_opensmile_egemaps_matches_opensmile_directly():
    import opensmile

    x = synth_clip(1.0, seed=4)
    enc = build_encoder({"kind": "opensmile", "feature_set": "egemaps"})
    got = enc.encode([x], 16000)
    ref = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                          feature_level=opensmile.FeatureLevel.Functionals).process_signal(x, 16000).to_numpy()
    assert enc.dim == 88 and got.shape == (1, 88)
    np.testing.assert_allclose(got, ref.astype(np.float32), rtol=1e-6)
    assert enc.spec["feature_set"] == "eGeMAPSv02" and enc.spec["version"] == opensmile.__version__
    assert enc.fingerprint != OpenSmileEncoder("GeMAPSv01b").fingerprint
    with pytest.raises(EncoderError, match="unknown openSMILE feature set"):
        OpenSmileEncoder("nope")


def test_precomputed_parquet_npz_and_npy_folder(tmp_path):
    ids = ["a", "b", "c"]
    mat = np.arange(12, dtype=np.float32).reshape(3, 4)
    pd.DataFrame({"id": ids, **{f"f{j}": mat[:, j] for j in range(4)}}).to_parquet(tmp_path / "f.parquet")
    np.savez(tmp_path / "f.npz", ids=np.array(ids), features=mat)
    (tmp_path / "npy").mkdir()
    for i, row in zip(ids, mat):
        np.save(tmp_path / "npy" / f"{i}.npy", np.stack([row, row + 2]))  # frames -> mean = row + 1
    np.save(tmp_path / "npy" / "bad.npy", np.array([np.nan, 1, 2, 3], np.float32))
    for src, offset in (("f.parquet", 0), ("f.npz", 0), ("npy", 1)):
        enc = PrecomputedFeatures("prosody", tmp_path / src)
        found, failed = enc.lookup(["a", "c", "zz", "bad"])
        np.testing.assert_array_equal(found["c"], mat[2] + offset)
        assert enc.dim == 4 and "zz" in failed and "no precomputed" in failed["zz"]
        assert "a" in found
    _, failed = PrecomputedFeatures("prosody", tmp_path / "npy").lookup(["bad"])
    assert "NaN" in failed["bad"]
    with pytest.raises(EncoderError, match="own modality name"):
        PrecomputedFeatures("audio", tmp_path / "f.npz")
