"""Audit statistics: does a metric notice graded damage, and does it move the right way?

The input is one value per file of an audit and metric (``values``: ``item``, ``family``,
``severity``, ``metric``, ``value``; severity 0 is the clean clip, family ``clean``; 1, 2, 3 its
damaged versions, mildest first) and each metric's declared ``degraded`` direction. Every number
is computed on the *oriented* metric (negated when a degraded clip lowers it), so that for every
metric alike::

    auroc > 0.5      the damaged versions score worse than the clean clips
    spearman > 0     the metric worsens as severity grows (0 clean, then 1, 2, 3)
    wrong_way        the Spearman interval lies entirely below 0: the metric *improves* as
                     the damage grows (the paper's finding for the loss under noise)

Intervals are seeded percentile bootstraps (``stats.bootstrap_interval``) over source clips: a
drawn clip brings its clean and all its damaged versions, which are not independent of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from noiseloss.analysis.stats import BOOTSTRAP_RESAMPLES, auroc, bootstrap_interval, correlation
from noiseloss.errors import check_choice

#: The family and severity of the clean clips.
CLEAN = "clean"

AUDIT_COLUMNS = ("metric", "family", "degraded", "n_clean", "n_damaged", "auroc", "auroc_low",
                 "auroc_high", "spearman", "spearman_low", "spearman_high", "wrong_way",
                 "verdict")
SEVERITY_COLUMNS = ("metric", "family", "severity", "level", "n", "mean", "std", "auroc",
                    "shift_sd")

#: Verdicts of one metric x family, from the intervals.
VERDICTS = {
    "notices": "the AUROC interval lies above 0.5 (damaged worse than clean)",
    "misses": "the AUROC interval reaches 0.5 and the metric does not move the wrong way",
    "wrong way": "the Spearman interval lies below 0 (the metric improves as damage grows)",
    "no values": "fewer than 2 clean clips or no damaged version has a value",
}


def oriented(values, *, degraded: str) -> np.ndarray:
    """``values`` as float64, negated when ``degraded`` is ``lower``: larger is always worse."""
    check_choice("degraded", degraded, ("higher", "lower"))
    values = np.asarray(values, dtype=np.float64)
    return values if degraded == "higher" else -values


def damage_statistics(items, severity, values, *, seed: int,
                      n_resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """AUROC of damaged vs clean and Spearman against severity, with clip-bootstrap intervals.

    Args:
        items: ``[N]`` the source clip of each value (its clean version and damaged ones share it).
        severity: ``[N]`` integers: 0 clean, 1.. damaged (mildest first).
        values: ``[N]`` oriented metric values (``oriented``: larger is worse); NaN are left out.
        seed: Seeds both intervals (the Spearman interval uses ``seed + 1``).
        n_resamples: Bootstrap resamples.

    Returns:
        ``n_clean``, ``n_damaged``, ``auroc`` (``stats.auroc`` of damaged over clean), its
        ``auroc_low``/``auroc_high``, ``spearman`` (``stats.correlation``) and its
        ``spearman_low``/``spearman_high``; NaN where undefined (no interval below 2 clips).
    """
    items = np.asarray(items)
    severity = np.asarray(severity, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values)
    items, severity, values = items[keep], severity[keep], values[keep]
    clips = {name: np.flatnonzero(items == name) for name in pd.unique(items)}
    rows_of = list(clips.values())

    def drawn(index):
        rows = np.concatenate([rows_of[int(i)] for i in index])
        return severity[rows], values[rows]

    def area(index):
        level, value = drawn(index)
        return auroc(value[level > 0], value[level == 0])

    def rho(index):
        return correlation(*drawn(index), method="spearman")

    every = np.arange(len(rows_of), dtype=np.float64)
    out = {"n_clean": int((severity == 0).sum()), "n_damaged": int((severity > 0).sum())}
    for name, statistic, offset in (("auroc", area, 0), ("spearman", rho, 1)):
        value = statistic(every) if rows_of else np.nan
        low, high = (np.nan, np.nan) if not np.isfinite(value) else bootstrap_interval(
            (every,), statistic, seed=seed + offset, n_resamples=n_resamples)
        out.update({name: value, f"{name}_low": low, f"{name}_high": high})
    return out


def verdict(row) -> str:
    """The ``VERDICTS`` key of one row of the audit table (``wrong_way`` first)."""
    if row["n_clean"] < 2 or row["n_damaged"] < 1 or not np.isfinite(row["auroc"]):
        return "no values"
    if row["wrong_way"]:
        return "wrong way"
    return "notices" if row["auroc_low"] > 0.5 else "misses"


def audit_tables(values: pd.DataFrame, degraded: dict[str, str], *, seed: int,
                 n_resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The audit table (metric x family) and the severity table (metric x family x severity).

    Args:
        values: One row per file and metric: ``item``, ``family`` (``CLEAN`` for the clean
            clips), ``severity`` (0 clean), ``level`` (the family's parameter), ``metric``,
            ``value``.
        degraded: Metric -> ``higher`` or ``lower``, the direction a damaged clip should move
            it; the metrics are audited in this order.
        seed: Base seed of the intervals (row ``i`` uses ``seed + 2 i`` and ``seed + 2 i + 1``).
        n_resamples: Bootstrap resamples of each interval.

    Returns:
        ``audit``: ``AUDIT_COLUMNS``, one row per metric and damage family (``damage_statistics``
        of the family's versions and the clean clips, ``wrong_way`` when the Spearman interval
        lies below 0, ``verdict``); ``severity``: ``SEVERITY_COLUMNS``, one row per metric,
        family and severity 0.. (0: the clean clips): count, mean and standard deviation of
        the raw values, AUROC against the clean clips and ``shift_sd``, the oriented shift of
        the mean from the clean mean in standard deviations of the family's values (clean
        included; 0 at severity 0; the figure's y axis).
    """
    families = [f for f in pd.unique(values["family"]) if f != CLEAN]
    audit, per_severity = [], []
    for metric, direction in degraded.items():
        mine = values[values["metric"] == metric]
        clean = mine[mine["family"] == CLEAN]
        for family in families:
            part = pd.concat([clean, mine[mine["family"] == family]])
            value = oriented(part["value"], degraded=direction)
            stats = damage_statistics(part["item"].to_numpy(), part["severity"].to_numpy(), value,
                                      seed=seed + 2 * len(audit), n_resamples=n_resamples)
            row = {"metric": metric, "family": family, "degraded": direction, **stats,
                   "wrong_way": bool(stats["spearman_high"] < 0)}
            audit.append({**row, "verdict": verdict(row)})
            per_severity += _severity_rows(part, value, metric=metric, family=family)
    return (pd.DataFrame(audit, columns=list(AUDIT_COLUMNS)),
            pd.DataFrame(per_severity, columns=list(SEVERITY_COLUMNS)))


def _severity_rows(part: pd.DataFrame, value: np.ndarray, *, metric: str,
                   family: str) -> list[dict]:
    """The severity-table rows of one metric and family (``value``: ``part``'s, oriented)."""
    severity = part["severity"].to_numpy()
    finite = np.isfinite(value)
    clean = value[finite & (severity == 0)]
    base = float(clean.mean()) if clean.size else np.nan
    spread = float(np.std(value[finite], ddof=1)) if finite.sum() > 1 else np.nan
    rows = []
    for level in sorted(np.unique(severity)):
        at = finite & (severity == level)
        raw = part["value"].to_numpy(np.float64)[at]
        rows.append({
            "metric": metric, "family": family, "severity": int(level),
            "level": part["level"].to_numpy()[severity == level][0], "n": int(at.sum()),
            "mean": float(raw.mean()) if raw.size else np.nan,
            "std": float(raw.std(ddof=1)) if raw.size > 1 else np.nan,
            "auroc": auroc(value[at], clean) if level > 0 else np.nan,
            "shift_sd": (float(value[at].mean()) - base) / spread
            if at.any() and spread > 0 else np.nan})
    return rows


def metric_verdicts(audit: pd.DataFrame) -> dict[str, str]:
    """One line per metric: how many families it notices, and where it moves the wrong way.

    ``"mean_loss: notices 3 of 7 families (noise, loop, shuffle); moves the wrong way under
    clipping"``; ``"probe_peak: no values"`` when no family gives one.
    """
    lines = {}
    for metric, rows in audit.groupby("metric", sort=False):
        measured = rows[rows["verdict"] != "no values"]
        if measured.empty:
            lines[metric] = f"{metric}: no values"
            continue
        noticed = measured.loc[measured["verdict"] == "notices", "family"].tolist()
        line = f"{metric}: notices {len(noticed)} of {len(measured)} families" + (
            f" ({', '.join(noticed)})" if noticed else "")
        wrong = measured.loc[measured["wrong_way"], "family"].tolist()
        if wrong:
            line += f"; moves the wrong way under {', '.join(wrong)}"
        lines[metric] = line
    return lines
