"""Interpretation sentences follow the numbers: flip a number and the wording flips."""

from __future__ import annotations

import numpy as np
import pandas as pd

from amber2.report.interpret import (
    bins_sentences,
    confusion_sentences,
    expert_sentences,
    grid_sentences,
    headline,
    heads_sentences,
    versus_sentences,
)


def cell(mean, std=0.01):
    return {"mean": mean, "std": std, "n_seeds": 5}


def summary(js_a=0.193, js_b=0.216, acc_a=0.683, acc_b=0.654):
    return {
        "baseline_text": {"js": cell(0.302), "bc": cell(0.723), "r2": cell(0.540)},
        "baseline_audio": {"js": cell(0.275), "bc": cell(0.747), "r2": cell(0.526)},
        "baseline_fusion": {"js": cell(js_b), "bc": cell(0.803), "r2": cell(0.628), "acc": cell(acc_b)},
        "amber2": {"js": cell(js_a), "bc": cell(0.825), "r2": cell(0.665), "acc": cell(acc_a)},
    }


def comparison(diff=-0.023, spread=0.004, p=0.001, wins=25):
    return pd.DataFrame([{
        "metric": "js", "a": "amber2", "b": "baseline_fusion", "mean_a": 0.193, "mean_b": 0.216, "diff": diff,
        "a_better_pairs": wins, "pairs": 25, "p_ttest": p, "p_wilcoxon": p * 2, "seed_spread": spread,
        "diff_exceeds_spread": abs(diff) > spread, "a_better": diff < 0,
    }])


def test_versus_wording_flips_with_the_winner():
    win = versus_sentences(summary(), comparison(), ["js", "bc", "r2"], kind="distribution")
    assert win[0] == "AmbER² is better than the baseline (A+T) on 3 of 3 distribution metrics (JS, BC and R²)."
    assert win[1].startswith("JS: AmbER² improves on the baseline, 0.193 vs 0.216 (Δ -0.023, 10.6 % better)")
    lose = versus_sentences(summary(js_a=0.240), comparison(diff=0.024, wins=2), ["js", "bc", "r2"],
                            kind="distribution")
    assert lose[0] == ("AmbER² is better than the baseline (A+T) on 2 of 3 distribution metrics (BC and R²) "
                       "and worse on JS.")
    assert lose[1].startswith("JS: AmbER² is worse than the baseline, 0.240 vs 0.216 (Δ +0.024, 11.1 % worse)")
    assert "2 of 25 (fold, seed) pairs favour AmbER²" in lose[1]
    tie = versus_sentences(summary(js_a=0.2161), None, ["js"])
    assert tie[0].endswith("JS is a tie.") and tie[1] == "JS: AmbER² and the baseline tie at 0.216."


def test_spread_and_p_value_clauses_follow_the_comparison():
    s = summary()
    beyond = versus_sentences(s, comparison(spread=0.004, p=0.0005), ["js"])[1]
    assert "is larger than the seed-to-seed spread (0.004)" in beyond
    assert "paired t-test p < 0.001, Wilcoxon p = 0.001, significant at α = 0.05" in beyond
    within = versus_sentences(s, comparison(spread=0.030, p=0.2), ["js"])[1]
    assert "is within the seed-to-seed spread (0.030)" in within
    assert "p = 0.200" in within and "not significant at α = 0.05" in within
    nan = versus_sentences(s, comparison(p=float("nan")), ["js"])[1]
    assert "no test possible" in nan


def test_headline_counts():
    h = headline(summary(), comparison(), ["js", "acc"])
    assert h.startswith("AmbER² is better than the CB-CE baseline (A+T) on 2 of 2 metrics and worse on 0")
    assert "1 of the gains and 0 of the losses exceed the seed-to-seed spread" in h
    assert "1 difference is significant" in h
    h2 = headline(summary(js_a=0.25, acc_a=0.60), comparison(diff=0.034, p=0.01), ["js", "acc"])
    assert "on 0 of 2 metrics and worse on 2" in h2 and "0 of the gains and 1 of the losses" in h2
    only = headline({"baseline_fusion": summary()["baseline_fusion"]}, None, ["js"])
    assert "no AmbER² vs baseline (A+T) comparison" in only


def test_missing_systems_are_said():
    s = summary()
    assert versus_sentences({"amber2": s["amber2"]}, None, ["js"]) == [
        "No comparison: the run has no CB-CE baseline (A+T)."]
    assert heads_sentences({"amber2": s["amber2"]}, ["js"]) == ["The run has no baseline heads to compare."]


def test_heads_sentences_follow_the_best_head():
    s = summary()
    out = heads_sentences(s, ["js", "bc", "r2"])
    assert out[0] == ("Audio + Text (p_AT) is the best baseline head on JS (0.216 vs 0.275 for Audio (p_A)), "
                      "BC (0.803 vs 0.747 for Audio (p_A)) and R² (0.628 vs 0.540 for Text (p_T)).")
    assert out[1] == "The fused head (A+T) beats the better single-modality head on 3 of 3 metrics (JS, BC and R²)."
    assert out[2] == "Of the single modalities, audio is ahead on 2 of 3 metrics."
    s["baseline_text"]["js"] = cell(0.150)
    s["baseline_text"]["r2"] = cell(0.400)
    out = heads_sentences(s, ["js", "bc", "r2"])
    assert any(x.startswith("Audio + Text (p_AT) is the best baseline head on BC (0.803") for x in out)
    assert "Text (p_T) is the best baseline head on JS (0.150 vs 0.216 for Audio + Text (p_AT))." in out
    assert any("beats the better single-modality head on 2 of 3 metrics (BC and R²) and trails it on JS" in x
               for x in out)


def _bins(a_js, b_js, size=(10, 10, 10)):
    rows = []
    for system, vals in (("baseline_fusion", b_js), ("amber2", a_js)):
        for b, v in enumerate(vals):
            rows.append({"system": system, "bin": b, "lower": 0.5 * b, "upper": 0.5 * (b + 1), "size": size[b],
                         "mean_entropy": 0.5 * b + 0.25, "n_seeds": 3, "js_mean": v, "js_std": 0.002})
    return pd.DataFrame(rows)


def test_bins_sentences_follow_wins_and_trends():
    out = bins_sentences(_bins([0.30, 0.25, 0.20], [0.33, 0.26, 0.19]), ["js"])
    assert out[0].startswith("The 30 tested items fall into 3 ambiguity bins of sizes 10, 10, 10")
    assert out[1] == ("JS: AmbER² is better in 2 of 3 bins, worse in 1; the largest gain is in bin 1, "
                      "H ∈ [0.00, 0.50] (0.300 vs 0.330); 2 of the 2 gains exceed the seed std. "
                      "With rising ambiguity it falls for both systems.")
    out = bins_sentences(_bins([0.34, 0.25, 0.27], [0.33, 0.26, 0.19]), ["js"])
    assert out[1].startswith("JS: AmbER² is better in 1 of 3 bins, worse in 2; the largest gain is in bin 2")
    assert "this gain exceeds the seed std" in out[1]
    assert out[1].endswith("With rising ambiguity it falls for the baseline and is not monotonic for AmbER².")
    empty = bins_sentences(_bins([0.30, np.nan, 0.2], [0.31, np.nan, 0.2], size=(10, 0, 10)), ["js"])
    assert "so 1 bin is empty" in empty[0] and "better in 1 of 2 bins, tied in 1" in empty[1]


def _weights(u_audio_voice_uninf, u_audio_text_uninf):
    rows = []
    for g, ua in (("none", 0.5), ("voice_uninformative", u_audio_voice_uninf), ("text_uninformative",
                                                                                  u_audio_text_uninf)):
        rows.append({"conflict": g, "n_items": 40, "u_audio": ua, "u_audio_ci": 0.03, "D_audio": 0.1,
                     "u_text": 1 - ua, "u_text_ci": 0.03, "D_text": 0.1})
    return pd.DataFrame(rows)


def test_expert_sentences_check_the_informative_channel():
    good = expert_sentences(_weights(0.3, 0.7), "conflict", ["audio", "text"])
    assert good[0].startswith("On `none` items (n = 40) the loss weights the experts equally")
    assert good[1] == ("On `voice_uninformative` items (n = 40) the loss weights the text expert more "
                       "(u_text = 0.70 ± 0.03 vs u_audio = 0.30), the text channel being the one that carries "
                       "the emotion there.")
    assert "the 95 % intervals do not overlap): the loss shifts weight toward the channel" in good[3]
    bad = expert_sentences(_weights(0.6, 0.45), "conflict", ["audio", "text"])
    assert "weights the audio expert more" in bad[1]
    assert "even though the text channel is the one that carries the emotion there" in bad[1]
    assert "is lower on text-uninformative than on voice-uninformative items (0.45 vs 0.60" in bad[3]
    assert "the loss shifts weight away from the channel" in bad[3]
    close = expert_sentences(_weights(0.48, 0.52), "conflict", ["audio", "text"])
    assert "intervals overlap" in close[3]


def test_confusion_and_grid_sentences():
    cm_a = np.array([[8, 2], [1, 9]])
    cm_b = np.array([[6, 4], [3, 7]])
    out = confusion_sentences({"baseline_fusion": cm_b, "amber2": cm_a}, ["sad", "happy"])
    assert out[0] == ("The baseline (A+T): mean per-class recall (UAR) 0.65; the most frequent confusion is "
                      "sad → happy (40 % of the sad items).")
    assert out[2] == "AmbER²'s mean per-class recall is higher than the baseline's (0.85 vs 0.65)."
    out = confusion_sentences({"baseline_fusion": cm_a, "amber2": cm_b}, ["sad", "happy"])
    assert out[2].startswith("AmbER²'s mean per-class recall is lower")
    grid = pd.DataFrame({"objective": ["a", "b", "a", "b"], "fold": [0, 0, 1, 1], "val_score": [0.2, 0.3, 0.25, 0.2],
                         "chosen": [True, False, False, True]})
    assert grid_sentences(grid, "js")[0].startswith("No single grid point dominates")
    grid["chosen"] = [True, False, True, False]
    assert grid_sentences(grid, "js")[0] == "The grid point chosen most often is `a` (2 of 2 folds)."


def test_grid_sentences_count_fold_seed_choices():
    grid = pd.DataFrame({"objective": ["a", "b", "a", "b"], "fold": [0, 0, 1, 1], "val_score": [0.2, 0.3, 0.25, 0.2],
                         "n_seeds": 3, "chosen_seeds": [3, 0, 1, 2], "chosen": [True, False, True, True]})
    assert grid_sentences(grid, "js", per_seed=True)[0] == (
        "The grid point chosen most often is `a` (4 of 6 (fold, seed) choices).")
