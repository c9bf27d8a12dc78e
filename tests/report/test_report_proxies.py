"""The proxies section of `amber2 report`: present when the run's corpus holds synthetic votes."""

from __future__ import annotations

import json
import shutil

import numpy as np

from amber2.corpora.raters import synthetic_rater_id
from amber2.corpora.table import CorpusBuilder
from amber2.report.proxies import run_proxies_section


def _corpus(path, *, synthetic: bool):
    rng = np.random.default_rng(0)
    b = CorpusBuilder("toy", None, "tests")
    for i in range(18):
        b.add_item(f"u{i}")
        for k, lab in enumerate(rng.choice(["angry", "sad", "happy"], size=3)):
            b.add_vote(f"u{i}", rater=f"h{k}", labels=[str(lab)])
        for k, lab in enumerate(rng.choice(["angry", "sad", "happy"], size=5 if synthetic else 0)):
            b.add_vote(f"u{i}", rater=synthetic_rater_id("openai", "alm", k), kind="synthetic", labels=[str(lab)])
    path.mkdir(parents=True)
    b.build().write(path / "corpus.parquet")
    return path


def test_section_only_with_synthetic_votes(tmp_path):
    plain = _corpus(tmp_path / "plain", synthetic=False)
    assert run_proxies_section({"corpus_dir": str(plain)}, tmp_path, tmp_path) == []
    assert run_proxies_section({}, tmp_path, tmp_path) == []
    syn = _corpus(tmp_path / "syn", synthetic=True)
    lines = run_proxies_section({"corpus_dir": str(syn), "policy": {"name": "eq1"}}, tmp_path / "fig", tmp_path,
                                figures=False)
    assert lines[0] == "## Synthetic annotators as proxies (openai:alm)"
    assert any(line.startswith("| all | 18 |") for line in lines)
    assert json.loads((tmp_path / "proxies.json").read_text())["n_items"] == 18
    drawn: dict = {}
    run_proxies_section({"corpus_dir": str(syn), "policy": {"name": "eq1"}}, tmp_path / "fig", tmp_path, drawn=drawn)
    assert drawn == {"proxies_saturation": tmp_path / "fig" / "proxies_saturation.png",
                     "proxies_tertiles": tmp_path / "fig" / "proxies_tertiles.png"}
    assert all(p.stat().st_size > 1000 for p in drawn.values())


def test_run_report_gets_the_section(run_dir, tmp_path):
    from amber2.report import build_report

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    info = json.loads((run / "data.json").read_text())
    info["corpus_dir"] = str(_corpus(tmp_path / "corpus", synthetic=True))
    (run / "data.json").write_text(json.dumps(info))
    rep = build_report(run, figures=True)
    assert "## Synthetic annotators as proxies (openai:alm)" in rep.markdown
    assert rep.markdown.index("Synthetic annotators") < rep.markdown.index("## 8. Provenance")
    # the proxies figures are in the report's figures, like every other figure
    for name in ("proxies_saturation", "proxies_tertiles"):
        assert rep.figures[name].name == f"{name}.png" and rep.figures[name].stat().st_size > 1000
        assert rep.numbers["figures"][name].endswith(f"figures/{name}.png")
