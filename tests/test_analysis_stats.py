"""The length-vs-delta statistics equal scipy's; the one-sided p is for a negative trend.

The p-values are permutation p-values (exact values in tests/test_stats_exact.py); 18 points
are past the exact limit, so they are Monte Carlo with PERMUTATIONS = 9999: p >= 1 / 10000.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from noiseloss.analysis import length_points, length_trend, trend_tables
from noiseloss.analysis.stats import PERMUTATIONS

LENGTHS = np.array([5, 10, 50, 100, 150, 200] * 3, dtype=float)
VALUES = np.array([0.02, 0.01, -0.05, -0.11, -0.13, -0.2, 0.0, 0.03, -0.02, -0.09, -0.16, -0.15,
                   0.05, -0.01, -0.07, -0.08, -0.19, -0.24])


def test_equals_scipy_on_fixed_data():
    got = length_trend(LENGTHS, VALUES)
    r = stats.pearsonr(LENGTHS, VALUES).statistic
    rho = stats.spearmanr(LENGTHS, VALUES).statistic
    fit = stats.linregress(LENGTHS, VALUES)
    assert got["n_points"] == 18
    assert got["pearson_r"] == pytest.approx(r, rel=1e-12)
    assert got["spearman_rho"] == pytest.approx(rho, rel=1e-12)
    assert got["slope"] == pytest.approx(fit.slope, rel=1e-12)
    assert got["intercept"] == pytest.approx(fit.intercept, rel=1e-12)
    assert got["slope_stderr"] == pytest.approx(fit.stderr, rel=1e-12)
    assert got["r_squared"] == pytest.approx(fit.rvalue ** 2, rel=1e-12)
    # golden values of this data set (numpy's corrcoef and polyfit agree)
    assert got["pearson_r"] == pytest.approx(-0.957421, abs=1e-6)
    assert got["pearson_r"] == pytest.approx(np.corrcoef(LENGTHS, VALUES)[0, 1], rel=1e-12)
    assert got["slope"] == pytest.approx(-1.13237e-3, rel=1e-5)
    assert got["slope"] == pytest.approx(np.polyfit(LENGTHS, VALUES, 1)[0], rel=1e-9)
    # no permutation of 18 points beats the observed trend: the Monte Carlo floor, not 0
    assert got["p_method"] == "monte-carlo (9999 permutations)"
    for name in ("pearson", "spearman", "slope"):
        assert got[f"{name}_p_less"] == 1 / (PERMUTATIONS + 1)
        assert got[f"{name}_p"] == 2 / (PERMUTATIONS + 1)


def test_one_sided_p_is_for_a_negative_trend():
    down = length_trend(LENGTHS, VALUES)
    # two-sided p is twice the smaller one-sided p: p_less = p / 2 for a falling trend ...
    for name in ("pearson", "spearman", "slope"):
        assert down[f"{name}_p_less"] == pytest.approx(down[f"{name}_p"] / 2, rel=1e-12)
    # ... while a rising trend is no evidence for "less": every permutation is at most as
    # large, p_less = (M + 1) / (M + 1) = 1, and the two-sided p is unchanged
    up = length_trend(LENGTHS, -VALUES)
    for name in ("pearson", "spearman", "slope"):
        assert up[f"{name}_p_less"] == 1.0
        assert up[f"{name}_p"] == down[f"{name}_p"]


def test_too_few_points_or_constant_values_are_missing():
    assert np.isnan(length_trend([5, 10], [0.1, 0.0])["pearson_r"])
    assert np.isnan(length_trend([5, 5, 5], [0.1, 0.0, 0.2])["slope"])
    flat = length_trend([5, 10, 50], [0.0, 0.0, 0.0])
    assert np.isnan(flat["pearson_r"]) and flat["n_points"] == 3
    # NaN points are dropped, not zero-filled
    assert length_trend([5, 10, 50, 100], [0.1, np.nan, -0.1, -0.3])["n_points"] == 3


def test_settings_large_small_group():
    rows = []
    for model, offset in (("a", 0.0), ("b", 0.1)):
        for dataset, scale in (("x", 1.0), ("y", 2.0)):
            for length, value in zip(LENGTHS[:6], VALUES[:6], strict=True):
                for clip in range(3):
                    rows.append({"family": "noise", "kind": "noise",
                                 "prompt": "unconditional", "alignment": "delayed",
                                 "model": model, "dataset": dataset,
                                 "perturbation_seconds": length / 50,
                                 "loss_delta": scale * value + offset + 0.01 * clip})
    points = length_points(pd.DataFrame(rows), metrics=("loss_delta",))
    assert len(points) == 24 and (points["n_items"] == 3).all()
    first = points.iloc[0]  # model a, data set x, length 5: mean of value + 0, 0.01, 0.02
    assert first["mean"] == pytest.approx(VALUES[0] + 0.01)
    assert first["std"] == pytest.approx(0.01)
    tables = trend_tables(points)
    large = tables["stats_large"].iloc[0]
    assert large["n_points"] == 24
    assert large["pearson_r"] == pytest.approx(
        stats.pearsonr(points["perturbation_seconds"], points["mean"]).statistic)
    small = tables["stats_small"].iloc[0]
    means = points.groupby("perturbation_seconds")["mean"].mean()
    assert small["n_points"] == 6 and small["lengths"] == "0.1,0.2,1,2,3,4"
    assert small["slope"] == pytest.approx(stats.linregress(means.index, means.values).slope)
    # 6 points: exact; the small-sample means fall strictly with length, 1 of 720 pairings
    assert small["p_method"] == "exact" and small["spearman_p_less"] == pytest.approx(1 / 720)
    assert large["p_method"] == "monte-carlo (9999 permutations)"
    assert set(tables["stats_group"]["p_method"]) == {"exact"}
    assert len(tables["stats_group"]) == 4
