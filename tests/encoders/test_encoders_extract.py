"""extract(): per-item errors, no repeated work, resuming after a kill, shards by rank, load_embeddings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tiny_models import make_corpus, synth_clip, write_wav

from amber2.encoders import build_encoders, extract, load_audio, load_embeddings, parse_shard
from amber2.encoders.cache import merge_caches


class Counting:
    """Wraps an encoder and counts the items it is asked to embed."""

    def __init__(self, enc):
        self.enc, self.n = enc, 0

    def __getattr__(self, name):
        return getattr(self.enc, name)


def counted(encoders):
    """Patch the encoders in place so that ``.calls[modality]`` counts embedded items."""
    calls = {"audio": 0, "text": 0}
    a, t = encoders["audio"], encoders["text"]
    a_fn, t_fn = a.encode_prepared, t.encode_with_notes

    def enc_a(waves):
        calls["audio"] += len(waves)
        return a_fn(waves)

    def enc_t(texts):
        calls["text"] += len(texts)
        return t_fn(texts)

    a.encode_prepared, t.encode_with_notes = enc_a, enc_t
    return calls


@pytest.fixture(scope="module")
def encoders(tiny_spec):
    return build_encoders(tiny_spec, device="cpu", batch_size=3, max_padding=1.0)  # mixed-length batches


def test_bad_inputs_are_reported_per_item_and_the_rest_carries_on(tmp_path, corpus_builder, tiny_spec):
    d = tmp_path / "audio"
    b = corpus_builder
    b.add_item("no_path", transcript="hello")
    b.add_item("missing", audio_path=str(d / "gone.wav"), transcript="hello")
    (d / "lfs.wav").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:12\nsize 999\n")
    b.add_item("lfs", audio_path=str(d / "lfs.wav"), transcript="hello")
    (d / "empty.wav").write_bytes(b"")
    b.add_item("empty", audio_path=str(d / "empty.wav"), transcript="hello")
    (d / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" * 5)
    b.add_item("corrupt", audio_path=str(d / "corrupt.wav"), transcript="hello")
    b.add_item("zero", audio_path=str(write_wav(d / "zero.wav", np.zeros(0, np.float32))), transcript="hi")
    b.add_item("silent", audio_path=str(write_wav(d / "silent.wav", np.zeros(8000, np.float32))), transcript="hi")
    nan = np.full(4000, 0.1, np.float32)
    nan[7] = np.nan
    b.add_item("nan", audio_path=str(write_wav(d / "nan.wav", nan, subtype="FLOAT")), transcript="hi")
    b.add_item("short", audio_path=str(write_wav(d / "short.wav", synth_clip(0.006))), transcript="hi")
    b.add_item("no_text", audio_path=str(write_wav(d / "nt.wav", synth_clip(0.5, seed=8))), transcript=None)
    b.add_item("long_text", audio_path=str(write_wav(d / "lt.wav", synth_clip(0.5, seed=9))),
               transcript=" ".join(["happy"] * 90))
    table = b.build()
    rep = extract(table, preset=tiny_spec, cache_dir=tmp_path / "cache", device="cpu")
    fa, ft = rep.modalities["audio"].failed, rep.modalities["text"].failed
    expect = {"no_path": "no audio path", "missing": "not found", "lfs": "Git LFS pointer", "empty": "0 bytes",
              "corrupt": "cannot decode", "zero": "zero-length", "silent": "all-silent", "nan": "NaN",
              "short": "too short"}
    assert set(fa) == set(expect)
    for item, words in expect.items():
        assert words in fa[item] and repr(item) in fa[item]
    assert set(ft) == {"no_text"} and "no transcript" in ft["no_text"]
    assert rep.modalities["text"].notes["long_text"] == "truncated from 92 to 64 tokens (the model's limit)"
    assert rep.modalities["audio"].done == 8 and rep.modalities["text"].done == len(table) - 1
    saved = json.loads((tmp_path / "cache" / "extract_report.json").read_text())
    assert saved["modalities"]["audio"]["failed"]["lfs"] == fa["lfs"]
    emb = load_embeddings(tmp_path / "cache")
    assert emb.ids == [f"u{i}" for i in range(6)] + ["long_text"]
    assert set(emb.failed) == set(expect) | {"no_text"}
    assert "audio: item 'silent'" in emb.failed["silent"] and "text: " in emb.failed["no_text"]


def test_embeddings_read_back_equal_direct_encoding_and_rerun_does_no_work(tmp_path, corpus_builder, encoders):
    table = corpus_builder.build()
    calls = counted(encoders)
    r1 = extract(table, encoders=encoders, cache_dir=tmp_path / "c", num_workers=0)
    # 6 items, 2 modalities: done counts items (issue 15.7: not 12), embeddings_done the 12 embeddings
    assert (r1.done, r1.cached, r1.embeddings_done) == (6, 0, 12) and calls == {"audio": 6, "text": 6}
    assert r1.to_dict()["summary"]["done"] == 6 and "done_ids" not in r1.to_dict()["modalities"]["audio"]
    r2 = extract(table, encoders=encoders, cache_dir=tmp_path / "c", num_workers=2)
    assert (r2.done, r2.cached, r2.embeddings_cached) == (0, 6, 12) and calls == {"audio": 6, "text": 6}
    emb = load_embeddings(tmp_path / "c")
    assert emb.ids == table.ids and emb.dims == {"audio": 32, "text": 32} and not emb.failed
    alone = np.stack([encoders["audio"].encode([load_audio(p, 16000)], 16000)[0] for p in table.items["audio_path"]])
    np.testing.assert_allclose(emb.features["audio"], alone, atol=1e-5)
    np.testing.assert_allclose(emb.features["text"], encoders["text"].encode(list(table.items["transcript"])),
                               atol=1e-5)
    sub = load_embeddings(tmp_path / "c", ["u3", "u1", "zz"], modalities=["text"])
    assert sub.ids == ["u3", "u1"] and list(sub.features) == ["text"] and "zz" in sub.failed
    np.testing.assert_array_equal(sub.features["text"][0], emb.features["text"][3])


def test_an_interrupted_run_resumes_with_only_the_rest(tmp_path, encoders):
    table = make_corpus(tmp_path / "a", n=8).build()
    calls = counted(encoders)
    with pytest.raises(KeyboardInterrupt):
        extract(table, encoders=encoders, cache_dir=tmp_path / "c", shard_size=2, _stop_after_batches=2)
    # the text stage (one call) finished; the audio stage was stopped after two batches
    first = dict(calls)
    assert first["text"] == 8 and 2 <= first["audio"] < 8
    partial = load_embeddings(tmp_path / "c")
    assert len(partial.ids) == first["audio"]  # the buffered rows were written before stopping
    assert len(partial.failed) == 8 - first["audio"] and all("interrupted" in r for r in partial.failed.values())
    rep = extract(table, encoders=encoders, cache_dir=tmp_path / "c", shard_size=2)
    assert calls["audio"] - first["audio"] == 8 - first["audio"] and calls["text"] == first["text"]
    assert rep.modalities["audio"].cached == first["audio"] and rep.modalities["audio"].done == 8 - first["audio"]
    assert len(load_embeddings(tmp_path / "c").ids) == 8


def test_a_lost_index_and_a_damaged_shard_after_a_hard_kill(tmp_path, encoders):
    table = make_corpus(tmp_path / "a", n=6).build()
    calls = counted(encoders)
    extract(table, encoders=encoders, cache_dir=tmp_path / "c", shard_size=2)
    audio_dir = next((tmp_path / "c" / "audio").iterdir())
    for f in (audio_dir / "index").glob("*.json"):
        f.unlink()  # index updates lost: the shards are found by scanning
    shard = sorted((audio_dir / "shards").glob("*.safetensors"))[0]
    shard.write_bytes(shard.read_bytes()[:-16])  # one shard damaged: its two rows are recomputed
    (audio_dir / "shards" / ".x.safetensors.tmp").write_bytes(b"partial")
    before = calls["audio"]
    rep = extract(table, encoders=encoders, cache_dir=tmp_path / "c", shard_size=2)
    assert calls["audio"] - before == 2 and rep.modalities["audio"].cached == 4
    assert len(load_embeddings(tmp_path / "c").ids) == 6


def test_shards_by_rank_cover_the_table_and_merge(tmp_path, encoders, monkeypatch):
    table = make_corpus(tmp_path / "a", n=7).build()
    full = extract(table, encoders=encoders, cache_dir=tmp_path / "full")
    assert full.done == 7 and full.embeddings_done == 14
    r0 = extract(table, encoders=encoders, cache_dir=tmp_path / "m0", shard="0/2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    r1 = extract(table, encoders=encoders, cache_dir=tmp_path / "m1")
    assert r0.shard == (0, 2) and r1.shard == (1, 2)
    assert r0.modalities["audio"].total == 4 and r1.modalities["audio"].total == 3
    assert (tmp_path / "m1" / "extract_report.shard-1-of-2.json").is_file()
    merge_caches([tmp_path / "m0", tmp_path / "m1"], tmp_path / "merged")
    a, b = load_embeddings(tmp_path / "full"), load_embeddings(tmp_path / "merged")
    assert a.ids == b.ids == table.ids
    np.testing.assert_allclose(a.features["audio"], b.features["audio"], atol=1e-6)


def test_parse_shard():
    assert parse_shard("1/4") == (1, 4) and parse_shard((0, 1)) == (0, 1)
    for bad in ("4/4", "x", "1/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)


@pytest.mark.parametrize("policy", ["fail", "skip", "embed"])
def test_empty_transcript_policies(tmp_path, corpus_builder, encoders, policy):
    corpus_builder.add_item("blank", audio_path=str(tmp_path / "audio" / "u0.wav"), transcript="   ")
    rep = extract(corpus_builder.build(), encoders=encoders, cache_dir=tmp_path / "c", empty_transcript=policy)
    text = rep.modalities["text"]
    assert ("blank" in text.failed) == (policy == "fail")
    assert ("blank" in text.skipped) == (policy == "skip")
    emb = load_embeddings(tmp_path / "c")
    assert ("blank" in emb.ids) == (policy == "embed")
    if policy == "embed":
        np.testing.assert_allclose(emb.features["text"][emb.ids.index("blank")], encoders["text"].encode([""])[0],
                                   atol=1e-5)


def test_identical_audio_is_embedded_once(tmp_path, corpus_builder, encoders):
    corpus_builder.add_item("copy", audio_path=str(tmp_path / "audio" / "u2.wav"), transcript="okay")
    calls = counted(encoders)
    rep = extract(corpus_builder.build(), encoders=encoders, cache_dir=tmp_path / "c")
    assert calls["audio"] == 6 and rep.modalities["audio"].done == 7
    emb = load_embeddings(tmp_path / "c")
    np.testing.assert_array_equal(emb.features["audio"][emb.ids.index("copy")], emb.features["audio"][2])


def test_a_new_layer_is_a_new_cache_entry_and_specs_select_it(tmp_path, corpus_builder, tiny_spec):
    table = corpus_builder.build()
    cache = tmp_path / "c"
    r_last = extract(table, preset=tiny_spec, cache_dir=cache)
    r_one = extract(table, preset=tiny_spec, audio_layer=1, cache_dir=cache)
    assert r_one.modalities["audio"].fingerprint != r_last.modalities["audio"].fingerprint
    assert r_one.modalities["audio"].done == 6 and r_one.modalities["text"].cached == 6
    assert len(list((cache / "audio").iterdir())) == 2
    last = load_embeddings(cache, preset_or_spec=tiny_spec)
    one = load_embeddings(cache)  # the last run
    assert one.spec["audio"]["spec"]["layer"] == 1 and last.spec["audio"]["spec"]["layer"] == "last"
    assert np.abs(one.features["audio"] - last.features["audio"]).max() > 1e-3
    with pytest.raises(FileNotFoundError, match="no cached 'audio' embeddings"):
        load_embeddings(cache, preset_or_spec={**tiny_spec, "audio": {**tiny_spec["audio"], "layer": 2}})


def test_offline_preset_with_precomputed_features(tmp_path, corpus_builder):
    table = corpus_builder.build()
    pd.DataFrame({"id": table.ids[:5], "f0": np.arange(5.0), "f1": np.ones(5)}).to_parquet(tmp_path / "p.parquet")
    rep = extract(table, preset="offline", features={"prosody": tmp_path / "p.parquet"}, cache_dir=tmp_path / "c",
                  device="cpu")
    assert rep.modalities["audio"].done == 6 and rep.modalities["prosody"].done == 5
    assert "no precomputed" in rep.modalities["prosody"].failed["u5"]
    emb = load_embeddings(tmp_path / "c")
    assert emb.dims == {"audio": 88, "text": 384, "prosody": 2} and emb.ids == table.ids[:5]
    np.testing.assert_array_equal(emb.features["prosody"][:, 0], np.arange(5.0))
    np.testing.assert_allclose(np.linalg.norm(emb.features["text"], axis=1), 1.0, atol=1e-5)
    audio_only = load_embeddings(tmp_path / "c", modalities=["audio"])
    assert audio_only.ids == table.ids


def test_corpus_folder_input_and_default_cache(tmp_path, corpus_builder, tiny_spec):
    table = corpus_builder.build()
    table.write(tmp_path / "corp" / "corpus.parquet")
    rep = extract(tmp_path / "corp", preset=tiny_spec, text_encoder=None)
    assert rep.cache_dir == str((tmp_path / "corp" / "embeddings").resolve())
    assert list(rep.modalities) == ["audio"] and rep.done == 6


def test_a_manifest_is_accepted_as_input(tmp_path, tiny_spec):
    clips = tmp_path / "clips"
    rows = ["id,audio,transcript,votes:neutral,votes:happy"]
    for i in range(3):
        write_wav(clips / f"c{i}.wav", synth_clip(0.5 + 0.1 * i, seed=i))
        rows.append(f"c{i},clips/c{i}.wav,hello there {i},2,1")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    rep = extract(tmp_path / "manifest.csv", preset=tiny_spec)
    assert rep.done == 3 and rep.embeddings_done == 6 and rep.cache_dir == str((tmp_path / "embeddings").resolve())
    assert load_embeddings(tmp_path / "embeddings").ids == ["c0", "c1", "c2"]
