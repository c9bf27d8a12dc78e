"""The openai backend against the fake server: votes stored, cache, retries, failures, limits, secrets."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
from pathlib import Path

import pytest
from fake_openai import answer_for, completion

from amber2.annotate import DEFAULT_CLASSES, ReplyCache, ReplyParser, RunSettings, annotate_corpus, load_preset
from amber2.annotate.backends.openai import OpenAIBackend
from amber2.annotate.corpus import build_requests
from amber2.annotate.runner import run_requests
from amber2.corpora.raters import parse_synthetic_rater
from amber2.corpora.table import CorpusTable
from conftest import SECRET

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05}


def backend(server, key_env="NO_SUCH_KEY_ENV", **kw):
    return OpenAIBackend("fake-alm", server.base_url if hasattr(server, "base_url") else server,
                         api_key_env=key_env, **kw)


def settings(**kw):
    return RunSettings(**{**FAST, **kw})


def syn_votes(folder: Path):
    t = CorpusTable.read(folder)
    return t, t.votes[t.votes["kind"] == "synthetic"]


def test_votes_stored_with_raw_replies(corpus, fake_server):
    rep = annotate_corpus(corpus, backend(fake_server), n=5, settings=settings(max_in_flight=4))
    assert fake_server.count == 30 and rep.stats.calls == 30 and rep.stats.cached == 0
    t, syn = syn_votes(corpus)
    humans = t.votes[t.votes["kind"] != "synthetic"]
    assert len(humans) == 18  # untouched
    parser = ReplyParser(DEFAULT_CLASSES, load_preset())
    # every body the server saw: audio inline as base64 WAV, prompt text, the annotator's temperature
    expected = {}
    for body in fake_server.bodies:
        user = body["messages"][1]["content"]
        assert user[0]["type"] == "input_audio" and user[0]["input_audio"]["format"] == "wav"
        import soundfile as sf

        x, sr = sf.read(io.BytesIO(base64.b64decode(user[0]["input_audio"]["data"])))
        assert sr == 16000 and x.size == 8000
        assert body["messages"][0]["role"] == "system" and body["model"] == "fake-alm"
        expected[(user[1]["text"], body["temperature"])] = answer_for(body)
    n_votes = sum(parser(a).is_vote for a in expected.values())
    assert len(syn) == n_votes == rep.votes and 0 < n_votes < 30
    for _, v in syn.iterrows():
        r = parse_synthetic_rater(v["rater"])
        assert (r.backend, r.model) == ("openai", "fake-alm") and 0 <= r.index < 5
        assert v["labels"] == [parser(v["note"]).label]
    lines = [json.loads(s) for s in (corpus / "annotations" / "openai_fake-alm.jsonl").read_text().splitlines()]
    assert len(lines) == 30 and sum(ln["label"] is not None for ln in lines) == n_votes
    no_t = [b for b in fake_server.bodies if "rely on the audio alone" in b["messages"][1]["content"][1]["text"]]
    assert len(no_t) == 5  # item u1 has no transcript
    assert sum(rep.parse.values()) == 30 and rep.parse.get("empty", 0) + rep.parse.get("unparseable", 0) > 0


def test_rerun_makes_no_call_and_raising_n_only_new_calls(corpus, fake_server):
    annotate_corpus(corpus, backend(fake_server), n=4, settings=settings())
    _, first = syn_votes(corpus)
    assert fake_server.count == 24
    rep = annotate_corpus(corpus, backend(fake_server), n=4, settings=settings())
    assert fake_server.count == 24 and rep.stats.calls == 0 and rep.stats.cached == 24
    _, again = syn_votes(corpus)
    assert sorted(map(tuple, again[["id", "rater"]].values)) == sorted(map(tuple, first[["id", "rater"]].values))
    dry = annotate_corpus(corpus, backend(fake_server), n=7, settings=settings(), dry_run=True)
    assert dry.calls_needed == 18 and fake_server.count == 24
    rep = annotate_corpus(corpus, backend(fake_server), n=7, settings=settings())
    assert fake_server.count == 24 + 18 and rep.stats.calls == 18
    t, syn = syn_votes(corpus)
    assert not syn.duplicated(["id", "rater"]).any()
    assert len(t.votes[t.votes["kind"] != "synthetic"]) == 18


def test_retries_on_429_and_5xx_then_success(corpus, fake_server):
    fake_server.state.policy = lambda n, body, h: (429, {"error": {"message": "slow down"}}) if n <= 3 else \
        ((503, {"error": {"message": "busy"}}) if n <= 5 else None)
    rep = annotate_corpus(corpus, backend(fake_server), n=1, settings=settings(max_in_flight=1, retries=6))
    assert rep.stats.failed == 0 and rep.stats.retries == 5 and fake_server.count == 6 + 5


def test_per_item_failures_are_reported_and_votes_kept(corpus, fake_server):
    annotate_corpus(corpus, backend(fake_server), n=3, settings=settings())
    _, before = syn_votes(corpus)
    bad_item_text = "sentence number 2"

    def policy(n, body, headers):
        text = body["messages"][1]["content"][1]["text"]
        if bad_item_text in text:
            return 500, {"error": {"message": "boom"}}
        if "sentence number 3" in text:
            return 200, b"{not json"
        if "sentence number 4" in text:
            return 400, {"error": {"message": "This model does not support audio input"}}
        return 200, completion("neutral")

    fake_server.state.policy = policy
    # new preset wording -> new keys -> every request is sent again
    preset = load_preset().model_copy(update={"system": "You judge emotions (v2)."})
    rep = annotate_corpus(corpus, backend(fake_server), n=3, preset=preset, settings=settings(retries=2))
    assert {f["reason"] for f in rep.failures["u2"]} == {"server_error"}
    assert {f["reason"] for f in rep.failures["u3"]} == {"malformed_response"}
    assert {f["reason"] for f in rep.failures["u4"]} == {"audio_refused"}
    assert set(rep.failures) == {"u2", "u3", "u4"}
    _, after = syn_votes(corpus)
    for item in ("u2", "u3", "u4"):  # the earlier votes of the failed items are kept
        b = before[before["id"] == item].sort_values("rater")
        a = after[after["id"] == item].sort_values("rater")
        assert b[["rater", "note"]].values.tolist() == a[["rater", "note"]].values.tolist()
    for item in ("u0", "u1", "u5"):
        assert (after[after["id"] == item]["labels"].map(tuple) == ("neutral",)).all()
        assert len(after[after["id"] == item]) == 3
    report = json.loads((corpus / "annotations" / "openai_fake-alm.report.json").read_text())
    assert report["failures"]["u4"][0]["reason"] == "audio_refused"
    # 500s and malformed bodies are retried (3 attempts), a 400 is not
    texts = [b["messages"][1]["content"][1]["text"] for b in fake_server.bodies[18:]]
    assert sum(bad_item_text in t for t in texts) == 9 and sum("sentence number 4" in t for t in texts) == 3


def test_server_down_loses_nothing(corpus, fake_server):
    annotate_corpus(corpus, backend(fake_server), n=2, settings=settings())
    _, before = syn_votes(corpus)
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    s.close()
    preset = load_preset().model_copy(update={"system": "You judge emotions (v3)."})
    rep = annotate_corpus(corpus, backend(dead), n=2, preset=preset, settings=settings(retries=1))
    assert rep.stats.failed == 12 and set(rep.stats.reasons) == {"server_unreachable"}
    _, after = syn_votes(corpus)
    assert sorted(after["note"].tolist()) == sorted(before["note"].tolist())


def test_timeout_and_empty_reply(corpus, fake_server):
    async def slow(n, body, headers):
        if "sentence number 0" in body["messages"][1]["content"][1]["text"]:
            await asyncio.sleep(1.0)
        return 200, completion("" if "sentence number 5" in body["messages"][1]["content"][1]["text"] else "sad")

    fake_server.state.policy = slow
    rep = annotate_corpus(corpus, backend(fake_server, timeout=0.3), n=1, settings=settings(retries=1))
    assert rep.failures["u0"][0]["reason"] == "timeout" and set(rep.failures) == {"u0"}
    assert rep.parse == {"exact": 4, "empty": 1} and rep.votes == 4


def test_concurrency_limit_is_respected(corpus, fake_server):
    fake_server.state.service_time = 0.15
    rep = annotate_corpus(corpus, backend(fake_server), n=3, settings=settings(max_in_flight=3))
    assert fake_server.max_concurrent == 3 and rep.stats.max_in_flight_seen == 3 and fake_server.count == 18


def test_rate_limit_spaces_calls(corpus, fake_server):
    import time

    t0 = time.monotonic()
    annotate_corpus(corpus, backend(fake_server), n=1, settings=settings(max_in_flight=6, requests_per_minute=600))
    assert time.monotonic() - t0 >= 5 * 0.1 - 0.02  # 6 starts, 0.1 s apart


def test_budget_and_dry_run(corpus, fake_server):
    dry = annotate_corpus(corpus, backend(fake_server), n=3, settings=settings(max_calls=4), dry_run=True)
    assert dry.calls_needed == 4 and fake_server.count == 0
    assert not (corpus / "annotations" / "openai_fake-alm.jsonl").exists()
    rep = annotate_corpus(corpus, backend(fake_server), n=3, settings=settings(max_calls=4))
    assert fake_server.count == 4 and rep.stats.budget_skipped == 14
    # the budget goes to the lowest annotator indices first
    sent = {(b["temperature"]) for b in fake_server.bodies}
    assert len(sent) == 1  # 4 calls, all of annotator 0 (6 items)
    assert annotate_corpus(corpus, backend(fake_server), n=3, dry_run=True).calls_needed == 14


def test_resume_after_cancel_repeats_no_completed_call(corpus, fake_server, tmp_path):
    from amber2.annotate.corpus import _items

    fake_server.state.service_time = 0.05
    table = CorpusTable.read(corpus)
    b = backend(fake_server)
    items, _ = _items(table, b, None)
    reqs = build_requests(items, b, load_preset(), DEFAULT_CLASSES, 10)
    cache_dir = tmp_path / "cache"

    async def interrupted():
        cache = ReplyCache(cache_dir)
        task = asyncio.ensure_future(run_requests(b, reqs, cache, settings(max_in_flight=4)))
        while fake_server.count < 20:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        n = len(cache)
        cache.close()
        return n

    done = asyncio.run(interrupted())
    time.sleep(0.3)  # let the server finish reading the bodies of the calls cut off in flight
    first = len(fake_server.bodies)  # calls the server received in full (a cut-off upload is not a call)
    assert 16 <= done <= first and first - done <= 4  # at most the calls in flight were lost
    seen_before = {json.dumps(x, sort_keys=True) for x in fake_server.bodies}
    with ReplyCache(cache_dir) as cache:
        outcomes, stats = asyncio.run(run_requests(backend(fake_server), reqs, cache, settings(max_in_flight=4)))
    assert stats.cached == done and stats.calls == 60 - done and all(o.text is not None for o in outcomes)
    repeated = [x for x in fake_server.bodies[first:] if json.dumps(x, sort_keys=True) in seen_before]
    assert len(repeated) == first - done  # only the calls cut off in flight were made again


def test_cache_checksum_detects_tampering(tmp_path):
    import sqlite3

    with ReplyCache(tmp_path) as c:
        c.put("k1", {"reply": "anger"})
        c.put("k2", {"reply": "sad"})
    db = sqlite3.connect(tmp_path / "replies.sqlite")
    db.execute("UPDATE replies SET record = ? WHERE key = 'k1'", ('{"reply": "happy"}',))
    db.commit()
    db.close()
    with ReplyCache(tmp_path) as c:
        got = c.get_many(["k1", "k2", "k3"])
        assert got == {"k2": {"reply": "sad"}} and c.corrupt == 1 and len(c) == 1


def test_api_key_never_leaks(corpus, fake_server, api_key, caplog):
    def policy(n, body, headers):
        if "sentence number 0" in body["messages"][1]["content"][1]["text"]:
            return 401, {"error": {"message": f"bad key {headers.get('authorization')}"}}
        return None

    fake_server.state.policy = policy
    caplog.set_level(logging.DEBUG, logger="amber2")
    rep = annotate_corpus(corpus, backend(fake_server, key_env=api_key), n=2, settings=settings())
    assert all(h == f"Bearer {SECRET}" for h in fake_server.headers_seen)  # the key was used ...
    err = rep.failures["u0"][0]["error"]
    assert rep.failures["u0"][0]["reason"] == "rejected" and "***" in err and SECRET not in err
    assert SECRET not in caplog.text and SECRET not in json.dumps(rep.to_dict())
    for f in corpus.rglob("*"):  # ... and is nowhere on disk: table, replies, report, cache (with its WAL)
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_text_only_mode(corpus, fake_server):
    rep = annotate_corpus(corpus, backend(fake_server, text_only=True), n=2, settings=settings())
    assert fake_server.count == 10 and rep.failures["u1"][0]["reason"] == "no_transcript"
    assert all(all(p["type"] == "text" for p in b["messages"][1]["content"]) for b in fake_server.bodies)


def test_long_audio_capped_or_skipped(corpus, fake_server):
    rep = annotate_corpus(corpus, backend(fake_server, max_audio_seconds=0.2), n=1, settings=settings())
    assert set(rep.notes) == {f"u{i}" for i in range(6)} and "capped from 0.5 s to 0.2 s" in rep.notes["u0"]
    import soundfile as sf

    data = fake_server.bodies[0]["messages"][1]["content"][0]["input_audio"]["data"]
    assert sf.info(io.BytesIO(base64.b64decode(data))).frames == 3200
    rep = annotate_corpus(corpus, backend(fake_server, max_audio_seconds=0.2, long_audio="skip"), n=1,
                          settings=settings())
    assert {f[0]["reason"] for f in rep.failures.values()} == {"too_long"} and len(rep.failures) == 6


def test_missing_audio_file_is_an_item_failure(corpus, fake_server):
    (corpus / "audio" / "u3.wav").unlink()
    rep = annotate_corpus(corpus, backend(fake_server), n=2, settings=settings())
    assert rep.failures["u3"][0]["reason"] == "missing_audio" and fake_server.count == 10


def test_progress_logs_lines_when_not_a_terminal(corpus, fake_server, caplog):
    caplog.set_level(logging.INFO, logger="amber2")
    annotate_corpus(corpus, backend(fake_server), n=2, settings=settings(progress=True))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("annotate: ")]
    assert any("12/12 requests (100 %)" in m and "ETA" in m for m in lines) and len(lines) >= 2
