"""The embedding cache: atomic shards, indexes, recovery from kills and corruption, merging."""

from __future__ import annotations

import json

import numpy as np
import pytest

from amber2.encoders.cache import EncoderStore, _read_shard_header, merge_caches

FP = "f" * 64


def fill(store: EncoderStore, writer: str, keys: list[str], dim: int = 3, shard_size: int = 2) -> dict[str, np.ndarray]:
    w = store.writer(writer, shard_size=shard_size)
    vecs = {}
    for k in keys:
        vecs[k] = np.random.default_rng(abs(hash(k)) % 2**32).standard_normal(dim).astype(np.float32)
        w.add(k, vecs[k])
    w.flush()
    return vecs


def test_rows_round_trip_through_shards_and_indexes(tmp_path):
    store = EncoderStore(tmp_path, "audio", FP)
    store.ensure({"kind": "x"}, 3)
    vecs = fill(store, "w1", ["a", "b", "c", "d", "e"])
    shards = sorted((store.dir / "shards").glob("*.safetensors"))
    assert len(shards) == 3  # 2 + 2 + 1 rows
    fresh = EncoderStore(tmp_path, "audio", FP)
    got = fresh.read(["e", "a", "zz"])
    assert set(got) == {"a", "e"}
    np.testing.assert_array_equal(got["e"], vecs["e"])
    assert fresh.missing(["a", "zz", "zz", "q"]) == ["zz", "q"]
    idx = json.loads((store.dir / "index" / "w1.json").read_text())
    assert idx["entries"]["c"] == [shards[1].name, 0]


def test_a_shard_whose_index_update_was_lost_is_still_found(tmp_path):
    store = EncoderStore(tmp_path, "text", FP)
    vecs = fill(store, "w1", ["a", "b", "c"])
    (store.dir / "index" / "w1.json").unlink()  # killed between the shard rename and the index rename
    got = EncoderStore(tmp_path, "text", FP).read(["a", "b", "c"])
    np.testing.assert_array_equal(got["b"], vecs["b"])


def test_temporary_and_truncated_shards_are_never_read(tmp_path, caplog):
    store = EncoderStore(tmp_path, "audio", FP)
    fill(store, "w1", ["a", "b", "c", "d"])
    shards = sorted((store.dir / "shards").glob("*.safetensors"))
    # a half-written temporary file from a killed writer
    (store.dir / "shards" / ".w2-00000.safetensors.x1.safetensors.tmp").write_bytes(shards[0].read_bytes()[:50])
    # a final-named shard cut short (a crash of the disk): header fine, data missing
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[:-5])
    assert _read_shard_header(shards[1]) is None
    fresh = EncoderStore(tmp_path, "audio", FP)
    assert set(fresh.entries()) == {"a", "b"}
    assert fresh.missing(["a", "b", "c", "d"]) == ["c", "d"]
    assert "corrupt or incomplete cache shard" in caplog.text


def test_writers_do_not_clobber_each_other_and_merge_joins_caches(tmp_path):
    a, b, dest = tmp_path / "a", tmp_path / "b", tmp_path / "dest"
    sa, sb = EncoderStore(a, "audio", FP), EncoderStore(b, "audio", FP)
    sa.ensure({"kind": "x"}, 3)
    sb.ensure({"kind": "x"}, 3)
    va = fill(sa, "r0", ["a", "b", "c"])
    vb = fill(sb, "r1", ["d", "e"])
    counts = merge_caches([a, b], dest)
    assert counts["shards"] == 3
    assert merge_caches([a, b], dest)["shards"] == 0  # idempotent
    got = EncoderStore(dest, "audio", FP).read(list("abcde"))
    np.testing.assert_array_equal(got["a"], va["a"])
    np.testing.assert_array_equal(got["e"], vb["e"])


def test_item_records_latest_writer_wins(tmp_path):
    store = EncoderStore(tmp_path, "audio", FP)
    store.write_items("w1", {"u1": "k1", "u2": "k2"}, {}, {}, {})
    store.write_items("w2", {"u1": "k1b"}, {"u2": "unreadable"}, {}, {})
    rec = store.item_records()
    assert rec["u1"].key == "k1b"
    assert rec["u2"].key is None and rec["u2"].reason == "unreadable"


def test_a_different_encoder_under_the_same_folder_is_refused(tmp_path):
    EncoderStore(tmp_path, "audio", FP).ensure({"kind": "x"}, 3)
    with pytest.raises(RuntimeError, match="another encoder"):
        EncoderStore(tmp_path, "audio", FP[:16] + "0" * 48).ensure({"kind": "y"}, 3)
