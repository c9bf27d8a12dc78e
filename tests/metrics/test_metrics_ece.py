"""ECE: 5 equal-width bins (lower, upper] on max(pred), checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

import amber2.metrics as am


def test_ece_by_hand():
    truth = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)
    pred = np.array(
        [
            [0.95, 0.03, 0.02],  # conf .95 bin 4, correct
            [0.85, 0.10, 0.05],  # conf .85 bin 4, correct
            [0.60, 0.30, 0.10],  # conf .60 exactly: bin 2 (0.4, 0.6], wrong
            [0.35, 0.30, 0.35],  # tie 0/2 -> argmax 0, conf .35 bin 1 (0.2, 0.4], wrong
            [0.45, 0.40, 0.15],  # conf .45 bin 2, correct
            [0.30, 0.70, 0.00],  # conf .70 bin 3, correct
        ]
    )
    # bin 1: |0 - .35| * 1; bin 2: |0.5 - .525| * 2; bin 3: |1 - .7| * 1; bin 4: |1 - .9| * 2
    expected = (0.35 + 0.025 * 2 + 0.3 + 0.1 * 2) / 6
    assert am.expected_calibration_error(truth, pred) == pytest.approx(expected, abs=1e-12)
    table = am.calibration_table(truth, pred)
    assert table["size"].tolist() == [0, 1, 2, 1, 2]
    assert table["accuracy"].iloc[2] == pytest.approx(0.5)
    assert table["confidence"].iloc[2] == pytest.approx(0.525)
    assert np.isnan(table["accuracy"].iloc[0])
    weighted = np.nansum(table["size"] / 6 * table["gap"])
    assert weighted == pytest.approx(expected)


def test_ece_bins_option_and_perfect_calibration():
    truth = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert am.expected_calibration_error(truth, truth) == 0.0
    pred = np.array([[0.55, 0.45], [0.45, 0.55]])
    # one bin: accuracy 1, confidence .55
    assert am.expected_calibration_error(truth, pred, n_bins=1) == pytest.approx(0.45)
    assert am.evaluate(truth, pred, metrics=("ece",))["ece"] == pytest.approx(0.45)
