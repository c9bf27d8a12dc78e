"""The proxies analysis on hand-made tables with known answers and on a real CREMA-D slice."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from amber2.corpora.raters import synthetic_rater_id
from amber2.corpora.table import CorpusBuilder
from amber2.labels import LabelPolicy, LabelPolicyError, get_policy
from amber2.labels.proxies import analyse_proxies, fit_saturation, fleiss_kappa

C2 = LabelPolicy(name="two", classes=("angry", "sad"))
CREMA_SLICE = Path(__file__).parents[1] / "data" / "crema-d" / "tabulatedVotes_1001_clips1-40.csv"

# Wikipedia's worked example of Fleiss' kappa (10 subjects, 14 raters, 5 categories): kappa = 0.210.
WIKIPEDIA = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def _table(items: dict[str, tuple[list[str], list[str]]]):
    """items: id -> (human labels, synthetic labels by annotator index)."""
    b = CorpusBuilder("toy", None, "tests")
    for uid, (human, synthetic) in items.items():
        b.add_item(uid)
        for k, lab in enumerate(human):
            b.add_vote(uid, rater=f"h{k}", kind="external", labels=[lab])
        for k, lab in enumerate(synthetic):
            b.add_vote(uid, rater=synthetic_rater_id("openai", "alm", k), kind="synthetic",
                       labels=[lab] if lab else [], note=lab or "no idea")
    return b.build()


def test_fleiss_kappa_matches_the_textbook_example():
    assert fleiss_kappa(WIKIPEDIA) == pytest.approx(0.20993, abs=5e-5)
    assert fleiss_kappa([[3, 0], [0, 3]]) == pytest.approx(1.0)
    assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]))  # one category only: chance agreement is 1
    assert math.isnan(fleiss_kappa([[1, 0]]))  # no item with 2 ratings
    with pytest.raises(ValueError, match="non-negative"):
        fleiss_kappa([[-1, 2]])


def test_fit_saturation_recovers_a_known_curve_and_says_no_fit_honestly():
    n = np.arange(1, 21)
    fit = fit_saturation(n, 0.2 + 0.3 * np.exp(-0.4 * n))
    assert fit.ok and (fit.a, fit.b, fit.c) == pytest.approx((0.2, -0.3, 0.4), abs=1e-6)
    assert fit.n_saturation == pytest.approx(1 + math.log(10) / 0.4) and not fit.beyond_range
    slow = fit_saturation(n[:6], 0.9 - 0.5 * np.exp(-0.1 * n[:6]))
    assert slow.ok and slow.beyond_range and slow.n_saturation == pytest.approx(1 + math.log(10) / 0.1, rel=1e-4)
    assert "too few points" in fit_saturation(n[:3], [0.3, 0.2, 0.1]).reason
    assert fit_saturation(n, np.full(20, 0.4)).describe() == "no fit (the curve is flat)"


def test_identical_synthetic_votes_give_js_0_and_bc_1():
    t = _table({
        "a": (["angry", "angry", "sad"], ["sad", "angry", "angry"]),
        "b": (["sad", "sad", "sad"], ["sad", "sad", "sad"]),
        "c": (["angry", "sad", "sad"], ["sad", "angry", "sad"]),
    })
    r = analyse_proxies(t, C2, subsets=3)
    g = r.groups["all"]
    assert r.ids == ["a", "b", "c"] and r.source == "openai:alm"
    assert np.allclose(r.js, 0.0) and np.allclose(r.bc, 1.0)
    assert g.accuracy == 1.0 and g.kappa_human == pytest.approx(g.kappa_synthetic)
    assert g.entropy_human == pytest.approx(g.entropy_synthetic)
    # N = N_max = 3 uses the whole pool: the curve's last point is the full comparison
    assert r.n_max == 3 and g.curve_js[-1] == pytest.approx(0.0) and g.curve_bc[-1] == pytest.approx(1.0)
    assert not g.fit_js.ok and "too few points" in g.fit_js.reason


def test_hand_computed_js_bc_accuracy_and_tertiles():
    t = _table({
        "a": (["angry", "angry"], ["angry", "sad"]),       # h (1, 0), s (.5, .5)
        "b": (["sad", "sad"], ["sad", "sad"]),             # identical
        "c": (["angry", "sad"], ["angry", "angry"]),       # h (.5, .5), s (1, 0)
    })
    r = analyse_proxies(t, C2, subsets=2)
    # JS(h || s) in bits with m = (.75, .25): 1/2 log2(4/3) + 1/2 [1/2 log2(2/3) + 1/2 log2 2]
    js_a = 0.5 * math.log2(4 / 3) + 0.5 * (0.5 * math.log2(2 / 3) + 0.5)
    assert r.js.tolist() == pytest.approx([js_a, 0.0, js_a])
    assert r.js == pytest.approx(jensenshannon([[1, 0], [0, 1], [.5, .5]], [[.5, .5], [0, 1], [1, 0]],
                                               base=2, axis=1) ** 2)
    assert r.bc.tolist() == pytest.approx([math.sqrt(0.5), 1.0, math.sqrt(0.5)])
    g = r.groups["all"]
    assert g.js == pytest.approx(2 * js_a / 3)
    assert g.accuracy == 1.0  # ties go to the first class: a (angry vs tie -> angry), c (tie -> angry vs angry)
    # normalised human entropy H / log2(C): 0, 0, 1; tertiles never split ties -> {a, b} low, c high
    assert r.ambiguity.tolist() == pytest.approx([0.0, 0.0, 1.0])
    assert [r.groups[k].n_items for k in ("low", "medium", "high")] == [2, 0, 1]
    assert r.groups["high"].js == pytest.approx(js_a) and math.isnan(r.groups["medium"].js)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)  # NaN written as null
    assert d["groups"]["medium"]["js"] is None and d["items"]["tertile"] == ["low", "low", "high"]


def test_saturation_subsets_and_n_max():
    rng = np.random.default_rng(1)
    items = {}
    for i in range(30):
        human = ["angry"] * 3 + ["sad"] * int(rng.integers(0, 3))
        synthetic = list(rng.choice(["angry", "sad"], size=12, p=[0.7, 0.3]))
        items[f"u{i}"] = (human, synthetic)
    items["short"] = (["sad"], ["sad", None, "sad"])  # one unparseable reply: 2 valid votes
    t = _table(items)
    r = analyse_proxies(t, C2, n_max=10, subsets=5, seed=3)
    g = r.groups["all"]
    assert r.n_max == 10 and len(g.curve_js) == 10 and g.n_items_curve == 30
    assert any("fewer than n_max = 10" in n for n in r.notes)
    assert g.curve_js[0] > g.curve_js[-1]  # more synthetic votes: closer to the (angry-heavy) human votes
    again = analyse_proxies(t, C2, n_max=10, subsets=5, seed=3)
    assert again.groups["all"].curve_js == g.curve_js  # seeded
    assert analyse_proxies(t, C2, subsets=1).n_max == 2  # default: the fewest valid votes of an utterance
    with pytest.raises(LabelPolicyError, match="n_max must be in"):
        analyse_proxies(t, C2, n_max=10**6)


def test_errors_without_synthetic_votes_or_with_ambiguous_sources():
    b = CorpusBuilder("plain", None, "tests")
    b.add_item("a")
    b.add_vote("a", rater="h", labels=["sad"])
    with pytest.raises(LabelPolicyError, match="holds no synthetic votes"):
        analyse_proxies(b.build(), C2)
    t = _table({"a": (["sad"], ["sad"])})
    extra = CorpusBuilder("two", None, "tests")
    extra.add_item("a")
    extra.add_vote("a", rater="h", labels=["sad"])
    for backend in ("openai", "bundle"):
        extra.add_vote("a", rater=synthetic_rater_id(backend, "m", 0), kind="synthetic", labels=["sad"])
    with pytest.raises(LabelPolicyError, match="choose one with synthetic_source"):
        analyse_proxies(extra.build(), C2)
    assert analyse_proxies(extra.build(), C2, source="bundle:m").source == "bundle:m"
    assert analyse_proxies(t, C2).ids == ["a"]


def _crema_slice(tmp_path):
    from amber2.corpora.crema_d import read_crema_d

    shutil.copy(CREMA_SLICE, tmp_path / "tabulatedVotes.csv")
    return read_crema_d(tmp_path, check_audio=False)


def test_real_crema_d_slice_face_votes_as_proxies(tmp_path):
    """Real votes: the face-only raters stand in for synthetic annotators of the voice-only ones."""
    table = _crema_slice(tmp_path)
    votes = table.votes.copy()
    face = votes["kind"] == "face"
    votes.loc[face, "rater"] = [synthetic_rater_id("crowd", "face", int(r.split("-")[1]) - 1)
                                for r in votes.loc[face, "rater"]]
    votes.loc[face, "kind"] = "synthetic"
    from amber2.corpora.table import CorpusTable

    t = CorpusTable(table.items, votes, table.info)
    policy = get_policy("crema-d-voice")
    r = analyse_proxies(t, policy, subsets=3)
    voice = policy.apply(t).select(r.ids)
    face_ls = policy.with_votes("synthetic").apply(t).select(r.ids)
    h = voice.counts / voice.n_votes[:, None]
    s = face_ls.counts / face_ls.n_votes[:, None]
    assert len(r.ids) == 40
    assert r.js == pytest.approx(jensenshannon(h, s, base=2, axis=1) ** 2, abs=1e-12)
    assert r.bc == pytest.approx(np.sqrt(h * s).sum(axis=1))
    assert r.groups["all"].kappa_human == pytest.approx(fleiss_kappa(voice.counts))
    assert sum(r.groups[k].n_items for k in ("low", "medium", "high")) == 40
    assert r.n_max == int(face_ls.n_votes.min())


def test_cli_writes_json_markdown_and_figures(tmp_path):
    from typer.testing import CliRunner

    from amber2.cli import app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = np.random.default_rng(0)
    items = {f"u{i}": (list(rng.choice(["angry", "sad"], size=3)), list(rng.choice(["angry", "sad"], size=6)))
             for i in range(24)}
    _table(items).write(corpus / "corpus.parquet")
    policy = tmp_path / "two.yaml"
    C2.save(policy)
    res = CliRunner().invoke(app, ["proxies", "--corpus", str(corpus), "--policy", str(policy),
                                   "--out", str(tmp_path / "out"), "--subsets", "2"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "out"
    data = json.loads((out / "proxies.json").read_text())
    assert data["n_items"] == 24 and data["n_max"] == 6 and set(data["groups"]) == {"all", "low", "medium", "high"}
    md = (out / "proxies.md").read_text()
    assert "| all | 24 |" in md and "proxies_saturation.png" in md
    assert (out / "proxies_saturation.png").stat().st_size > 1000 and (out / "proxies_tertiles.png").exists()
    bad = CliRunner().invoke(app, ["proxies", "--corpus", str(corpus), "--out", str(out), "--source", "x:y"])
    assert bad.exit_code == 2 and "has no votes" in bad.output
