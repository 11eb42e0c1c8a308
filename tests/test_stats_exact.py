"""Permutation p-values of the length trends: exact up to 8 points, seeded Monte Carlo above."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from noiseloss.analysis import length_points, length_trend, trend_tables
from noiseloss.analysis.stats import EXACT_MAX_POINTS, PERMUTATIONS, permutation_pvalues

P_COLUMNS = ("pearson_p", "pearson_p_less", "spearman_p", "spearman_p_less", "slope_p",
             "slope_p_less")
LENGTHS = np.array([5, 10, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500], dtype=float)

# not monotone, ties in both lengths and values
TIED_X = np.array([5, 10, 10, 50, 100, 150], dtype=float)
TIED_Y = np.array([0.1, -0.2, 0.05, -0.2, 0.3, -0.4])


def _scipy(x, y, alternative, *, n_resamples, seed=0):
    """The three p-values straight from scipy.stats.permutation_test, one statistic at a time."""
    tests = {"pearson": lambda v: stats.pearsonr(x, v).statistic,
             "spearman": lambda v: stats.spearmanr(x, v).statistic,
             "slope": lambda v: stats.linregress(x, v).slope}
    return {name: stats.permutation_test((y,), statistic, permutation_type="pairings",
                                         vectorized=False, alternative=alternative,
                                         n_resamples=n_resamples,
                                         rng=np.random.default_rng(seed)).pvalue
            for name, statistic in tests.items()}


@pytest.mark.parametrize("n", [3, 6, 8])
def test_a_perfectly_monotone_sample_gives_one_of_n_factorial(n):
    x = LENGTHS[:n]
    y = -np.sqrt(x)  # strictly falling, not linear: only the observed pairing is as extreme
    got = length_trend(x, y)
    assert got["p_method"] == "exact"
    assert got["spearman_rho"] == -1.0  # the statistics themselves are scipy's, unchanged
    assert got["pearson_r"] == pytest.approx(stats.pearsonr(x, y).statistic, rel=1e-12)
    for name in ("pearson", "spearman", "slope"):
        assert got[f"{name}_p_less"] == pytest.approx(1 / math.factorial(n), rel=1e-12)
        assert got[f"{name}_p"] == pytest.approx(2 / math.factorial(n), rel=1e-12)
    # n = 3: 1/6 and 1/3; n = 6: 1/720 (the asymptotic test said 0); n = 8: 1/40320
    assert {3: 1 / 6, 6: 1 / 720, 8: 1 / 40320}[n] == pytest.approx(got["spearman_p_less"])
    assert min(got[c] for c in P_COLUMNS) >= 1 / math.factorial(n) * (1 - 1e-12)
    # a rising trend: nothing is evidence for "less"
    up = length_trend(x, -y)
    assert all(up[f"{name}_p_less"] == pytest.approx(1.0) for name in ("pearson", "spearman"))


def test_equals_scipy_permutation_test_with_ties():
    got = permutation_pvalues(TIED_X, TIED_Y)
    assert got["p_method"] == "exact"
    for alternative, suffix in (("two-sided", "_p"), ("less", "_p_less")):
        want = _scipy(TIED_X, TIED_Y, alternative, n_resamples=np.inf)
        for name, p in want.items():
            assert got[name + suffix] == pytest.approx(p, rel=1e-12), (name, alternative)
    # counts of the 6! = 720 pairings at least as extreme (two-sided: twice the smaller side)
    assert got["pearson_p_less"] == pytest.approx(198 / 720)
    assert got["pearson_p"] == pytest.approx(396 / 720)
    assert got["spearman_p_less"] == pytest.approx(172 / 720)
    assert got["spearman_p"] == pytest.approx(344 / 720)
    assert got["slope_p"] == got["pearson_p"] and got["slope_p_less"] == got["pearson_p_less"]
    # Spearman on ties: average ranks, rho as scipy's
    trend = length_trend(TIED_X, TIED_Y)
    assert trend["spearman_rho"] == pytest.approx(stats.spearmanr(TIED_X, TIED_Y).statistic)
    assert trend["spearman_p"] == got["spearman_p"]


def test_monte_carlo_above_eight_points_is_seeded_and_floored():
    n = 12
    assert n > EXACT_MAX_POINTS
    x = LENGTHS[:n]
    y = np.sin(x / 40) - x / 300
    first, again = permutation_pvalues(x, y), permutation_pvalues(x, y)
    assert first == again
    assert first["p_method"] == f"monte-carlo ({PERMUTATIONS} permutations)"
    assert first["p_method"] == "monte-carlo (9999 permutations)"
    # the same random pairings as scipy.stats.permutation_test with the same seed (999 of
    # them: scipy's one-statistic-at-a-time reference is slow)
    fewer = permutation_pvalues(x, y, n_resamples=999, seed=0)
    assert fewer["p_method"] == "monte-carlo (999 permutations)"
    for alternative, suffix in (("two-sided", "_p"), ("less", "_p_less")):
        want = _scipy(x, y, alternative, n_resamples=999, seed=0)
        for name, p in want.items():
            assert fewer[name + suffix] == pytest.approx(p, rel=1e-12), (name, alternative)
    assert (fewer["pearson_p_less"], fewer["spearman_p_less"]) == pytest.approx((0.003, 0.002))
    # never below 1 / (M + 1): a perfect trend of 12 points gets (0 + 1) / (M + 1)
    perfect = permutation_pvalues(x, -np.sqrt(x))
    for name in ("pearson", "spearman", "slope"):
        assert perfect[f"{name}_p_less"] == 1 / (PERMUTATIONS + 1) == 1e-4
        assert perfect[f"{name}_p"] == 2 / (PERMUTATIONS + 1)
    coarse = permutation_pvalues(x, -np.sqrt(x), n_resamples=99, seed=3)
    assert coarse["p_method"] == "monte-carlo (99 permutations)"
    assert min(coarse[c] for c in P_COLUMNS) == 1 / 100
    assert coarse == permutation_pvalues(x, -np.sqrt(x), n_resamples=99, seed=3)


def test_constant_values_have_no_test():
    got = length_trend([5, 10, 50, 100], [0.2, 0.2, 0.2, 0.2])
    assert all(np.isnan(got[c]) for c in P_COLUMNS) and got["p_method"] == "exact"
    assert np.isnan(length_trend([5, 10], [0.1, 0.0])["pearson_p"])


def test_every_statistics_table_says_how_its_p_was_computed():
    rows = [{"family": "noise", "kind": "noise", "prompt": "unconditional",
             "alignment": "delayed", "model": model, "dataset": "x",
             "perturbation_seconds": length / 50,
             "loss_delta": -length / 1000 + offset}
            for model, offset in (("a", 0.0), ("b", 0.1)) for length in LENGTHS[:6]]
    tables = trend_tables(length_points(pd.DataFrame(rows), metrics=("loss_delta",)))
    assert set(tables) == {"stats_large", "stats_small", "stats_group"}
    for name, table in tables.items():
        assert "p_method" in table.columns, name
    large = tables["stats_large"].iloc[0]  # 12 points: Monte Carlo
    assert large["n_points"] == 12 and large["p_method"] == "monte-carlo (9999 permutations)"
    assert large["pearson_p_less"] >= 1 / (PERMUTATIONS + 1)
    small = tables["stats_small"].iloc[0]  # 6 points, falling in a straight line
    assert small["p_method"] == "exact" and small["pearson_p_less"] == pytest.approx(1 / 720)
    assert list(tables["stats_group"]["pearson_p"]) == pytest.approx([2 / 720, 2 / 720])
