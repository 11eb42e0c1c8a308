"""The paper's length-vs-loss statistics: Pearson, Spearman and linear regression.

Each test is run on points ``(perturbation length, mean loss difference)``:

- "large sample": one point per (model, data set, length), the mean over clips;
- "small sample": one point per length, the mean of the large-sample points of that length
  (each model x data set weighs the same, whatever its number of clips);
- "group": the authors' per-(model, data set) tests, one point per length.

Every test reports the two-sided p and the one-sided p for a NEGATIVE trend
(``alternative="less"``), computed by scipy, never halved by hand.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

TREND_KEYS = ("n_points", "pearson_r", "pearson_p", "pearson_p_less", "spearman_rho",
              "spearman_p", "spearman_p_less", "slope", "intercept", "slope_stderr", "slope_p",
              "slope_p_less", "r_squared")

#: Columns that make a family of perturbations whose only varying parameter is the length.
FAMILY_COLUMNS = ("family", "kind", "prompt", "alignment")


def length_trend(lengths, values) -> dict:
    """Correlation and regression of ``values`` against ``lengths`` (finite pairs only).

    Args:
        lengths: ``[N]`` perturbation lengths (``perturbation_frames``).
        values: ``[N]`` mean loss differences (nats).

    Returns:
        ``n_points`` and the ``TREND_KEYS`` statistics; NaN when fewer than 3 points or fewer
        than 2 distinct lengths (a test needs them), or when a correlation is undefined
        (constant values).
    """
    x = np.asarray(lengths, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = dict.fromkeys(TREND_KEYS, np.nan)
    out["n_points"] = int(x.size)
    if x.size < 3 or np.unique(x).size < 2:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, test in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
            two, less = test(x, y), test(x, y, alternative="less")
            out["pearson_r" if name == "pearson" else "spearman_rho"] = float(two.statistic)
            out[f"{name}_p"], out[f"{name}_p_less"] = float(two.pvalue), float(less.pvalue)
        fit, fit_less = stats.linregress(x, y), stats.linregress(x, y, alternative="less")
    out.update(slope=float(fit.slope), intercept=float(fit.intercept),
               slope_stderr=float(fit.stderr), slope_p=float(fit.pvalue),
               slope_p_less=float(fit_less.pvalue), r_squared=float(fit.rvalue ** 2))
    return out


def length_points(sequence: pd.DataFrame, *, metrics,
                  by: tuple[str, ...] = (*FAMILY_COLUMNS, "model", "dataset")) -> pd.DataFrame:
    """Mean, std and count over units per group and length (the large-sample points by default).

    Args:
        sequence: The per-unit table of ``analyze_run`` (``perturbation_frames`` and metrics).
        metrics: Columns of ``sequence`` to summarise.
        by: Grouping columns besides ``perturbation_frames``.

    Returns:
        One row per (``by``, perturbation_frames, metric) with ``n_items``, ``mean`` and ``std``
        (sample standard deviation, ddof = 1; NaN for one unit).
    """
    keys = [*by, "perturbation_frames"]
    rows = sequence.dropna(subset=["perturbation_frames"])
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "metric", "n_items", "mean", "std"])
    long = rows.melt(id_vars=keys, value_vars=list(metrics), var_name="metric")
    long = long.dropna(subset=["value"])
    points = (long.groupby([*keys, "metric"], dropna=False, sort=True)["value"]
              .agg(n_items="count", mean="mean", std="std").reset_index())
    points["perturbation_frames"] = points["perturbation_frames"].astype("int64")
    return points


def trend_tables(points: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three settings of tests from the large-sample ``points`` of ``length_points``.

    Returns:
        ``{"stats_large", "stats_small", "stats_group"}``: one row per test, with its grouping
        columns, ``metric``, ``lengths`` (the lengths used, comma-separated) and ``TREND_KEYS``.
    """
    family = [*FAMILY_COLUMNS, "metric"]
    small = (points.groupby([*family, "perturbation_frames"], dropna=False)["mean"].mean()
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
            lengths = ",".join(map(str, sorted(part["perturbation_frames"].unique())))
            rows.append({**dict(zip(keys, group, strict=True)), "lengths": lengths,
                         **length_trend(part["perturbation_frames"], part["mean"])})
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
