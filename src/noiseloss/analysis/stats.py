"""The paper's length-vs-loss statistics: Pearson, Spearman and linear regression.

Each test is run on points ``(perturbation length, mean loss difference)``:

- "large sample": one point per (model, data set, length), the mean over clips;
- "small sample": one point per length, the mean of the large-sample points of that length
  (each model x data set weighs the same, whatever its number of clips);
- "group": the authors' per-(model, data set) tests, one point per length.

Every test reports the two-sided p and the one-sided p for a NEGATIVE trend
(``alternative="less"``), never halved by hand. The p-values are permutation p-values
(``permutation_pvalues``, ``scipy.stats.permutation_test``): exact over all n! pairings up to
``EXACT_MAX_POINTS`` points, seeded Monte Carlo above; ``p_method`` says which. Asymptotic
p-values are not used: they reach 0 on a perfectly monotone handful of points.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

TREND_KEYS = ("n_points", "pearson_r", "pearson_p", "pearson_p_less", "spearman_rho",
              "spearman_p", "spearman_p_less", "slope", "intercept", "slope_stderr", "slope_p",
              "slope_p_less", "r_squared", "p_method", "note")

#: Fewest points and distinct lengths of a trend test.
MIN_POINTS, MIN_LENGTHS = 3, 2

#: Columns that make a family of perturbations whose only varying parameter is the length.
FAMILY_COLUMNS = ("family", "kind", "prompt", "alignment")


#: Permutation tests: exact over all n! pairings up to this many points ...
EXACT_MAX_POINTS = 8
#: ... else this many seeded random pairings: p is then never below 1 / (PERMUTATIONS + 1).
PERMUTATIONS = 9999
PERMUTATION_SEED = 0
_P_KEYS = ("pearson_p", "pearson_p_less", "spearman_p", "spearman_p_less", "slope_p",
           "slope_p_less")


def p_method(n_points: int, *, n_resamples: int = PERMUTATIONS) -> str:
    """How ``permutation_pvalues`` computes the p of ``n_points`` points (the ``p_method`` column).

    ``"exact"`` (all n! pairings; p >= 1 / n!) or ``"monte-carlo (M permutations)"`` (p is the
    estimate (b + 1) / (M + 1), b = permutations at least as extreme; never below 1 / (M + 1)).
    """
    if n_points <= EXACT_MAX_POINTS or math.factorial(n_points) <= n_resamples:
        return "exact"
    return f"monte-carlo ({n_resamples} permutations)"


def _centred(a, axis=-1):
    return a - a.mean(axis=axis, keepdims=True)


def _associations(x, ranks_x, sample, axis=-1):
    """Pearson r of (x, y), Spearman rho as Pearson r of (rank x, rank y), least-squares slope.

    ``sample`` is ``[..., 3, N]`` (``axis`` the N points): rows y, rank y, y, permuted together.
    Returns ``[..., 3]``: r, rho, slope (NaN r or rho when y is constant).
    """
    sample = np.moveaxis(sample, axis, -1)
    xc, rc = _centred(x), _centred(ranks_x)
    y, ry = _centred(sample[..., 0, :]), _centred(sample[..., 1, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (y @ xc) / np.sqrt((y * y).sum(axis=-1) * (xc @ xc))
        rho = (ry @ rc) / np.sqrt((ry * ry).sum(axis=-1) * (rc @ rc))
    slope = (_centred(sample[..., 2, :]) @ xc) / (xc @ xc)
    return np.stack([r, rho, slope], axis=-1)


def permutation_pvalues(x, y, *, n_resamples: int = PERMUTATIONS,
                        seed: int = PERMUTATION_SEED) -> dict:
    """Permutation p-values of Pearson r, Spearman rho and the slope of ``y`` against ``x``.

    One ``scipy.stats.permutation_test`` per alternative (``permutation_type="pairings"``, y
    permuted against x): exact over all n! pairings when n <= ``EXACT_MAX_POINTS`` (p = share of
    pairings at least as extreme, never below 1 / n!), else ``n_resamples`` random pairings from
    ``seed`` (p = (b + 1) / (M + 1), never below 1 / (M + 1)). Two-sided p is scipy's: twice
    the smaller one-sided p, at most 1. Ties are kept: Spearman uses average ranks. The slope's
    test orders the pairings as Pearson's does, so their p-values agree; it is computed anyway.

    Args:
        x: ``[N]`` finite values with at least 2 distinct (N >= 2).
        y: ``[N]`` finite values.
        n_resamples: Monte Carlo permutations above ``EXACT_MAX_POINTS`` points.
        seed: Seeds the Monte Carlo permutations.

    Returns:
        ``{pearson,spearman,slope}_p`` (two-sided), ``..._p_less`` (one-sided, negative trend),
        all NaN for a constant ``y`` (every pairing is the same: no test); and ``p_method``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    method = p_method(x.size, n_resamples=n_resamples)
    if np.ptp(y) == 0:
        return {**dict.fromkeys(_P_KEYS, np.nan), "p_method": method}
    ranks_x = stats.rankdata(x)
    sample = np.stack([y, stats.rankdata(y), y])

    def statistic(sample, axis=-1):
        return _associations(x, ranks_x, sample, axis=axis)

    out = {"p_method": method}
    for alternative, suffix in (("two-sided", "_p"), ("less", "_p_less")):
        result = stats.permutation_test(
            (sample,), statistic, permutation_type="pairings", vectorized=True, axis=-1,
            n_resamples=np.inf if method == "exact" else n_resamples,
            alternative=alternative, rng=np.random.default_rng(seed))
        for name, p in zip(("pearson", "spearman", "slope"), result.pvalue, strict=True):
            out[name + suffix] = float(p)
    return out


def length_trend(lengths, values, *, n_resamples: int = PERMUTATIONS,
                 seed: int = PERMUTATION_SEED) -> dict:
    """Correlation and regression of ``values`` against ``lengths`` (finite pairs only).

    Args:
        lengths: ``[N]`` perturbation lengths (``perturbation_seconds``).
        values: ``[N]`` mean loss differences (nats).
        n_resamples: Monte Carlo permutations of the p-values (``permutation_pvalues``).
        seed: Seeds them.

    Returns:
        ``n_points`` and the ``TREND_KEYS`` statistics; NaN when fewer than ``MIN_POINTS``
        points or fewer than ``MIN_LENGTHS`` distinct lengths (a test needs them), or when a
        correlation is undefined (constant values). r, rho and the regression are scipy's;
        every p is a permutation p-value (``permutation_pvalues``) and ``p_method`` says how it
        was computed. ``note`` is empty for a test, else the one sentence that says why there
        is none (``undefined_trend``).
    """
    x = np.asarray(lengths, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = dict.fromkeys(TREND_KEYS, np.nan)
    out["n_points"] = int(x.size)
    out["note"] = undefined_trend(x, y)
    if x.size < MIN_POINTS or np.unique(x).size < MIN_LENGTHS:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        out["pearson_r"] = float(stats.pearsonr(x, y).statistic)
        out["spearman_rho"] = float(stats.spearmanr(x, y).statistic)
        fit = stats.linregress(x, y)
    out.update(slope=float(fit.slope), intercept=float(fit.intercept),
               slope_stderr=float(fit.stderr), r_squared=float(fit.rvalue ** 2))
    out.update(permutation_pvalues(x, y, n_resamples=n_resamples, seed=seed))
    return out


def undefined_trend(lengths, values) -> str:
    """Why a trend test of these finite points is undefined, in one sentence; "" when it is not.

    ``"needs ≥ 3 lengths (has 2)"`` where each point is one length (the small-sample and group
    settings), ``"needs ≥ 3 points (has 2)"`` or ``"needs ≥ 2 lengths (has 1)"`` otherwise, and
    ``"constant values: no correlation and no p"`` when every value is the same.
    """
    x, y = np.asarray(lengths, dtype=np.float64), np.asarray(values, dtype=np.float64)
    distinct = int(np.unique(x).size)
    if x.size < MIN_POINTS:
        what = "lengths" if distinct == x.size else "points"
        return f"needs ≥ {MIN_POINTS} {what} (has {x.size})"
    if distinct < MIN_LENGTHS:
        return f"needs ≥ {MIN_LENGTHS} lengths (has {distinct})"
    if np.ptp(y) == 0:
        return "constant values: no correlation and no p"
    return ""


def length_points(sequence: pd.DataFrame, *, metrics,
                  by: tuple[str, ...] = (*FAMILY_COLUMNS, "model", "dataset")) -> pd.DataFrame:
    """Mean, std and count over units per group and length (the large-sample points by default).

    Args:
        sequence: The per-unit table of ``analyze_run`` (``perturbation_seconds`` and metrics).
        metrics: Columns of ``sequence`` to summarise.
        by: Grouping columns besides ``perturbation_seconds``.

    Returns:
        One row per (``by``, perturbation_seconds, metric) with ``n_items``, ``mean`` and ``std``
        (sample standard deviation, ddof = 1; NaN for one unit).
    """
    keys = [*by, "perturbation_seconds"]
    rows = sequence.dropna(subset=["perturbation_seconds"])
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "metric", "n_items", "mean", "std"])
    long = rows.melt(id_vars=keys, value_vars=list(metrics), var_name="metric")
    long = long.dropna(subset=["value"])
    points = (long.groupby([*keys, "metric"], dropna=False, sort=True)["value"]
              .agg(n_items="count", mean="mean", std="std").reset_index())
    points["perturbation_seconds"] = points["perturbation_seconds"].astype("float64")
    return points


def trend_tables(points: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three settings of tests from the large-sample ``points`` of ``length_points``.

    Returns:
        ``{"stats_large", "stats_small", "stats_group"}``: one row per test, with its grouping
        columns, ``metric``, ``lengths`` (the lengths used, comma-separated) and ``TREND_KEYS``.
    """
    family = [*FAMILY_COLUMNS, "metric"]
    small = (points.groupby([*family, "perturbation_seconds"], dropna=False)["mean"].mean()
             .reset_index())
    settings = {
        "stats_large": (points, family),
        "stats_small": (small, family),
        "stats_group": (points, [*family, "model", "dataset"]),
    }
    tables = {}
    for name, (data, keys) in settings.items():
        rows = []
        for group, part in data.groupby(keys, dropna=False, sort=True):
            lengths = ",".join(f"{v:g}" for v in sorted(part["perturbation_seconds"].unique()))
            rows.append({**dict(zip(keys, group, strict=True)), "lengths": lengths,
                         **length_trend(part["perturbation_seconds"], part["mean"])})
        tables[name] = pd.DataFrame(rows, columns=[*keys, "lengths", *TREND_KEYS])
    return tables


#: Bootstrap defaults: resamples and confidence level of every interval ``noiseloss`` reports.
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


def bootstrap_interval(samples, statistic, *, seed: int, paired: bool = True,
                       n_resamples: int = BOOTSTRAP_RESAMPLES,
                       confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*samples)`` (``scipy.stats.bootstrap``).

    Args:
        samples: Tuple of 1-D arrays: one (clip values), two paired (metric, rating) or two
            independent (positives, negatives; ``paired=False`` resamples each on its own).
        statistic: Function of the resampled arrays returning a float (NaN allowed).
        seed: Seeds the resampling (the interval is reproducible).
        paired: Resample the arrays' rows together.
        n_resamples: Bootstrap resamples.
        confidence: Coverage of the interval.

    Returns:
        ``(low, high)``; NaN, NaN when a sample has fewer than 2 values or the statistic is
        undefined on most resamples.
    """
    arrays = tuple(np.asarray(s, dtype=np.float64) for s in samples)
    if any(a.size < 2 for a in arrays):
        return np.nan, np.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = stats.bootstrap(arrays, statistic, n_resamples=n_resamples,
                                 confidence_level=confidence, method="percentile",
                                 vectorized=False, paired=paired and len(arrays) > 1,
                                 rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return float(low), float(high)


def auroc(positives, negatives) -> float:
    """Area under the ROC curve of scores where ``positives`` should be higher; ties count 1/2.

    Equals the Mann-Whitney U of the positives divided by ``n_pos * n_neg`` (scipy). NaN
    values are dropped; NaN when either side is empty.
    """
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if not pos.size or not neg.size:
        return np.nan
    return float(stats.mannwhitneyu(pos, neg).statistic / (pos.size * neg.size))


CORRELATIONS = {"spearman": stats.spearmanr, "pearson": stats.pearsonr,
                "kendall": stats.kendalltau}


def correlation(x, y, *, method: str) -> float:
    """``CORRELATIONS[method]`` statistic of the finite pairs; NaN below 3 pairs or if constant."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(CORRELATIONS[method](a, b).statistic)
