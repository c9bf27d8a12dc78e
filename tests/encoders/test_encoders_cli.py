"""``amber2 extract``: one command from a prepared corpus to a cache, with a report."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from amber2.cli import app

runner = CliRunner(env={"COLUMNS": "200"})


def text(res) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(res.output.split())


def test_extract_command_offline_preset(tmp_path, corpus_builder):
    corpus_builder.add_item("gone", audio_path=str(tmp_path / "nope.wav"), transcript="hello")
    corpus_builder.build().write(tmp_path / "corp" / "corpus.parquet")
    res = runner.invoke(app, ["extract", "--corpus", str(tmp_path / "corp"), "--preset", "offline",
                              "--no-progress", "--workers", "0"])
    assert res.exit_code == 0, res.output
    assert "eGeMAPSv02" in text(res) and "1 item(s) failed" in text(res)
    assert "gone: audio: item 'gone'" in text(res)
    report = json.loads((tmp_path / "corp" / "embeddings" / "extract_report.json").read_text())
    assert report["modalities"]["audio"]["done"] == 6 and report["modalities"]["text"]["done"] == 7
    assert report["summary"]["failed"] == 1
    again = runner.invoke(app, ["extract", "--corpus", str(tmp_path / "corp"), "--no-progress"])
    assert again.exit_code == 0
    report = json.loads((tmp_path / "corp" / "embeddings" / "extract_report.json").read_text())
    assert report["summary"]["done"] == 0 and report["summary"]["cached"] == 7  # items, not 13 embeddings
    assert report["summary"]["embeddings_cached"] == 13


def test_extract_command_with_model_folders_shard_and_merge(tmp_path, corpus_builder, tiny_models):
    corpus_builder.build().write(tmp_path / "corp" / "corpus.parquet")
    common = ["extract", "--corpus", str(tmp_path / "corp"), "--audio-encoder", str(tiny_models["w2v_group"]),
              "--text-encoder", str(tiny_models["bert"]), "--device", "cpu", "--no-progress"]
    for i in range(2):
        res = runner.invoke(app, [*common, "--shard", f"{i}/2", "--cache", str(tmp_path / f"c{i}")])
        assert res.exit_code == 0, res.output
        assert f"shard {i}/2" in text(res)
    res = runner.invoke(app, ["extract", "--merge", str(tmp_path / "c0"), "--merge", str(tmp_path / "c1"),
                              "--cache", str(tmp_path / "all")])
    assert res.exit_code == 0 and "merged 2 cache(s)" in text(res)
    from amber2.encoders import load_embeddings

    emb = load_embeddings(tmp_path / "all")
    assert len(emb.ids) == 6 and emb.dims == {"audio": 32, "text": 32}


def test_extract_command_errors_are_clear(tmp_path):
    res = runner.invoke(app, ["extract", "--corpus", str(tmp_path)])
    assert res.exit_code == 2 and "run `amber2 prepare` first" in text(res)
    res = runner.invoke(app, ["extract", "--corpus", str(tmp_path), "--preset", "fast"])
    assert res.exit_code == 2 and "unknown preset" in text(res)
