"""The numbers behind the report, checked against direct calculations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import confusion_matrix as sk_confusion

from amber2.losses import expert_weights, js_divergence
from amber2.report import (
    bins_frame,
    bins_summary,
    confusion_matrices,
    expert_weight_frame,
    expert_weight_summary,
    fold_seed_frame,
    grid_frame,
)
from amber2.report.analysis import is_tested, kappa_of


def test_expert_weights_equal_the_loss_function(full_record):
    rec = full_record
    frame = expert_weight_frame(rec)
    ids = list(rec.predictions["ids"])
    assert {"u_audio", "u_text", "D_audio", "D_text", "conflict", "kappa"} <= set(frame.columns)
    assert len(frame) == len(ids) * len(rec.seeds())  # every item tested once per seed
    for pos in (0, 7, 101):
        for seed in rec.seeds():
            row = frame[(frame["id"] == ids[pos]) & (frame["seed"] == seed)].iloc[0]
            fold = int(rec.predictions["folds"][pos])
            objective = rec.results["chosen"][str(fold)]
            kappa = float(objective.split("k=")[1].rstrip(")"))
            assert row["kappa"] == kappa and row["objective"] == objective
            y = torch.tensor(rec.predictions["truth"][pos:pos + 1])
            experts = [torch.tensor(rec.pooled(f"amber2_{m}", seed)[pos:pos + 1]) for m in ("audio", "text")]
            D = torch.stack([js_divergence(p, y) for p in experts], dim=-1)  # D_m = JS(p_m || y)
            u = expert_weights(D, kappa=kappa)[0].numpy()
            assert row["u_audio"] == pytest.approx(u[0], abs=1e-9)
            assert row["u_text"] == pytest.approx(u[1], abs=1e-9)
            assert row["D_audio"] == pytest.approx(float(D[0, 0]), abs=1e-9)
    assert np.allclose(frame["u_audio"] + frame["u_text"], 1.0)


def test_expert_weights_use_the_kappa_of_each_fold(make_record):
    rng = np.random.default_rng(3)
    truth = rng.dirichlet(np.ones(3), size=6)
    pa, pt = rng.dirichlet(np.ones(3), size=6), rng.dirichlet(np.ones(3), size=6)
    folds = np.array([0, 0, 1, 1, -1, 1])
    sel = pd.DataFrame({"fold": [0, 1], "seed": [0, 0], "objective": ["amber2(lm=0.5,k=2)", "amber2(lm=0.5,k=8)"],
                        "lambda_mai": [0.5, 0.5], "kappa": [2.0, 8.0], "val_score": [0.1, 0.2],
                        "chosen": [True, True]})
    pa[4] = np.nan  # item 4 is never tested
    pt[4] = np.nan
    rec = make_record(truth, {"amber2": [pa], "amber2_audio": [pa], "amber2_text": [pt]}, folds,
                      chosen={"0": "amber2(lm=0.5,k=2)", "1": "amber2(lm=0.5,k=8)"}, selection=sel)
    frame = expert_weight_frame(rec)
    assert list(frame["id"]) == ["i0", "i1", "i2", "i3", "i5"]
    assert list(frame["kappa"]) == [2.0, 2.0, 8.0, 8.0, 8.0]
    D = np.array([[jensenshannon(p, truth[i]) ** 2 for p in (pa[i], pt[i])] for i in (0, 1, 2, 3, 5)])  # natural log
    k = frame["kappa"].to_numpy()[:, None]
    u = np.exp(-k * D) / np.exp(-k * D).sum(1, keepdims=True)
    assert np.allclose(frame[["u_audio", "u_text"]].to_numpy(), u)
    # the square-root variant when the run trained with js: distance
    rec.config = {"loss": {"options": {"js": "distance"}}}
    assert np.allclose(expert_weight_frame(rec)[["D_audio", "D_text"]].to_numpy(), np.sqrt(D))
    # loss.options.null_expert: the prior outside the test fold joins the softmax (issue 15 point 5)
    rec.config = {"loss": {"options": {"null_expert": True}}}
    tested = [0, 1, 2, 3, 5]
    prior = {f: truth[[i for i in range(6) if folds[i] != f]].mean(0) for f in (0, 1)}
    D0 = np.array([jensenshannon(prior[folds[i]], truth[i]) ** 2 for i in tested])
    Dn = np.concatenate([D, D0[:, None]], axis=1)
    un = (np.exp(-k * Dn) / np.exp(-k * Dn).sum(1, keepdims=True))[:, :2]
    got = expert_weight_frame(rec)[["u_audio", "u_text"]].to_numpy()
    assert np.allclose(got, un) and (got.sum(1) < 1).all()


def test_kappa_from_label_when_selection_is_missing(make_record):
    rec = make_record(np.eye(2), {"amber2": [np.eye(2)]}, np.array([0, 1]))
    assert kappa_of(rec, "amber2(lm=0.3,k=2.5)") == 2.5
    with pytest.raises(ValueError, match="kappa"):
        kappa_of(rec, "mystery")


def test_expert_weight_summary_per_conflict(full_record):
    frame = expert_weight_frame(full_record)
    summ = expert_weight_summary(frame, "conflict")
    assert list(summ["conflict"]) == ["none", "conflict", "voice_uninformative", "text_uninformative"]
    assert summ["n_items"].sum() == len(full_record.predictions["ids"])
    per_item = frame.groupby("id")[["u_audio", "conflict"]].agg({"u_audio": "mean", "conflict": "first"})
    direct = per_item[per_item["conflict"] == "voice_uninformative"]["u_audio"]
    row = summ[summ["conflict"] == "voice_uninformative"].iloc[0]
    assert row["u_audio"] == pytest.approx(direct.mean())
    assert row["u_audio_ci"] == pytest.approx(1.96 * direct.std(ddof=1) / np.sqrt(len(direct)))
    with pytest.raises(KeyError, match="speaker"):
        expert_weight_summary(frame, "speaker")


def test_bins_partition_the_tested_items_and_match_a_direct_computation(full_record):
    rec = full_record
    bf = bins_frame(rec, n_bins=4)
    n = int(is_tested(rec).sum())
    for (_, _), part in bf.groupby(["system", "seed"]):
        assert part["size"].sum() == n
    assert set(bf["system"]) == {"baseline_fusion", "amber2"}
    # direct: entropy (bits) with scipy, bins by the reported edges, JS distance with scipy
    truth = rec.predictions["truth"]
    H = scipy_entropy(truth.T, base=2)
    part = bf[(bf.system == "amber2") & (bf.seed == 1)].sort_values("bin")
    edges = np.r_[part["lower"].iloc[0], part["upper"].to_numpy()]
    idx = np.searchsorted(edges[1:-1] + 1e-9, H)  # (e_b, e_b+1], edges are entropies of members
    pred = rec.pooled("amber2", 1)
    for b in range(4):
        members = idx == b
        assert part["size"].iloc[b] == members.sum()
        js = np.mean([jensenshannon(truth[i], pred[i]) for i in np.flatnonzero(members)])
        assert part["js"].iloc[b] == pytest.approx(js, abs=1e-9)
    summ = bins_summary(bf)
    row = summ[(summ.system == "amber2") & (summ.bin == 2)].iloc[0]
    vals = bf[(bf.system == "amber2") & (bf.bin == 2)]["bc"]
    assert row["bc_mean"] == pytest.approx(vals.mean())
    assert row["bc_std"] == pytest.approx(vals.std(ddof=1))


def test_bins_with_ties_empty_bins_and_untested_items(make_record):
    # 3 raters: entropies take two values only -> with 4 bins, two are empty
    truth = np.array([[1, 0, 0], [0, 1, 0], [2 / 3, 1 / 3, 0], [1 / 3, 0, 2 / 3], [1, 0, 0], [0, 0, 1],
                      [1, 0, 0]], dtype=float)
    pred = np.full_like(truth, 1 / 3)
    pred[6] = np.nan  # never tested
    rec = make_record(truth, {"baseline_fusion": [pred, pred], "amber2": [pred, pred]},
                      np.array([0, 0, 0, 1, 1, 1, -1]))
    bf = bins_frame(rec, n_bins=4)
    part = bf[(bf.system == "amber2") & (bf.seed == 0)]
    assert part["size"].sum() == 6 and (part["size"] == 0).sum() == 2
    assert sorted(part["size"][part["size"] > 0]) == [2, 4]  # ties never split
    assert part.loc[part["size"] == 0, "js"].isna().all()
    summ = bins_summary(bf)
    assert summ.loc[summ["size"] == 0, "js_mean"].isna().all()
    with pytest.raises(KeyError, match="baseline_text"):
        bins_frame(rec, systems=["baseline_text"])


def test_confusion_matrices_sum_over_seeds(full_record):
    cms = confusion_matrices(full_record)
    truth = full_record.predictions["truth"].argmax(1)
    for system, cm in cms.items():
        ref = sum(sk_confusion(truth, full_record.pooled(system, s).argmax(1), labels=range(4))
                  for s in full_record.seeds())
        np.testing.assert_array_equal(cm, ref)
        assert cm.sum() == len(truth) * len(full_record.seeds())


def test_grid_and_fold_frames(full_record):
    grid = grid_frame(full_record)
    assert len(grid) == 4 * 3  # grid points x folds
    for fold, objective in full_record.results["chosen"].items():
        chosen = grid[(grid.fold == int(fold)) & grid.chosen]
        assert list(chosen["objective"]) == [objective]
    sel = full_record.selection
    one = sel[(sel.fold == 1) & (sel.objective == grid.objective.iloc[0])]["val_score"].mean()
    mine = grid[(grid.fold == 1) & (grid.objective == grid.objective.iloc[0])]["val_score"].iloc[0]
    assert mine == pytest.approx(one)
    fs = fold_seed_frame(full_record)
    s = full_record.scores
    ref = s[(s.system == "amber2") & (s.fold == 2) & (s.seed == 0) & (s.metric == "acc")]["value"].iloc[0]
    assert fs[(fs.system == "amber2") & (fs.fold == 2) & (fs.seed == 0)]["acc"].iloc[0] == ref
    assert len(fs) == len(full_record.summary) * 3 * 2


def test_expert_weights_with_a_grid_point_per_fold_and_seed(make_record):
    rng = np.random.default_rng(5)
    truth = rng.dirichlet(np.ones(3), size=4)
    p = [rng.dirichlet(np.ones(3), size=4) for _ in range(4)]
    chosen = {"0/0": "amber2(lm=0.5,k=2)", "0/1": "amber2(lm=0.5,k=4)", "1/0": "amber2(lm=0.5,k=8)",
              "1/1": "amber2(lm=0.5,k=2)"}
    rec = make_record(truth, {"amber2": [p[0], p[1]], "amber2_audio": [p[0], p[1]], "amber2_text": [p[2], p[3]]},
                      np.array([0, 0, 1, 1]), chosen=chosen)
    frame = expert_weight_frame(rec)
    assert frame.groupby("seed")["kappa"].apply(list).to_dict() == {0: [2.0, 2.0, 8.0, 8.0], 1: [4.0, 4.0, 2.0, 2.0]}
    rec.results["chosen"] = {"0": "amber2(lm=0.5,k=2)"}
    with pytest.raises(ValueError, match="no chosen grid point for fold 1"):
        expert_weight_frame(rec)
