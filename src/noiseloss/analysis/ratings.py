"""Metrics against listeners: is a metric better than the mean loss, and does it pick the winner?

- ``compare_to_loss``: per model, each metric's Spearman correlation with the ratings against
  mean loss's on the same clips, both taken in their degraded direction (so larger is better
  aligned): the difference with a paired bootstrap interval, Williams' test for two dependent
  correlations that share the ratings, and Holm-adjusted p-values over the metrics.
- ``pairwise_accuracy``: preferences ``file_a, file_b, winner``; per metric, the share of pairs
  whose winner the metric prefers (ties 1/2), with a bootstrap interval over pairs.
- ``read_musiceval``: a MusicEval-style folder (``wav/`` and ``sets/*mos_list.txt``) as ratings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from noiseloss.analysis.stats import bootstrap_interval, correlation
from noiseloss.errors import ParameterError

#: The reference every metric is compared with.
REFERENCE = "mean_loss"


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of ``pvalues`` (family-wise error); NaN stays NaN.

    Sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``, ``m`` the
    number of finite p-values. (scipy has Benjamini-Hochberg only, hence written here.)
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def williams_test(r12: float, r13: float, r23: float, n: int) -> tuple[float, float]:
    """Williams' t for ``r12 = r13`` where variables 2 and 3 are measured on the same ``n`` cases.

    With ``|R| = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23`` and ``rbar = (r12 + r13) / 2``::

        t = (r12 - r13) sqrt((n - 1)(1 + r23))
            / sqrt(2 |R| (n - 1) / (n - 3) + rbar^2 (1 - r23)^3),     df = n - 3

    Returns:
        ``(t, two-sided p)``; NaN for ``n < 4`` or undefined correlations.
    """
    if n < 4 or not np.all(np.isfinite([r12, r13, r23])):
        return np.nan, np.nan
    det = 1 - r12 ** 2 - r13 ** 2 - r23 ** 2 + 2 * r12 * r13 * r23
    rbar = (r12 + r13) / 2
    denominator = 2 * det * (n - 1) / (n - 3) + rbar ** 2 * (1 - r23) ** 3
    if denominator <= 0:
        return np.nan, np.nan
    t = (r12 - r13) * np.sqrt((n - 1) * (1 + r23)) / np.sqrt(denominator)
    return float(t), float(2 * stats.t.sf(abs(t), df=n - 3))


def _oriented(values, degraded: str) -> np.ndarray:
    """The metric with larger = better (a degraded-higher metric is negated)."""
    values = np.asarray(values, dtype=np.float64)
    return -values if degraded == "higher" else values


def compare_to_loss(joined: pd.DataFrame, metrics, *, directions: dict[str, str],
                    seed: int) -> pd.DataFrame:
    """Each metric against ``mean_loss`` on the same rated clips, per model (Spearman).

    Args:
        joined: One row per rating and model with the metric columns and ``rating``
            (``match_ratings``).
        metrics: Metric columns to compare (``mean_loss`` itself is skipped).
        directions: Degraded direction per metric (``higher`` or ``lower``).
        seed: Seeds the intervals.

    Returns:
        One row per (model, metric): ``rho_metric`` and ``rho_loss`` (oriented: positive when
        better clips are rated higher), ``difference`` with ``ci_low`` / ``ci_high``,
        Williams' ``t`` and ``p``, ``p_holm`` over the metrics of the model, ``n``.
    """
    columns = ["model", "metric", "rho_metric", "rho_loss", "difference", "ci_low", "ci_high",
               "t", "p", "p_holm", "n"]
    rows = []
    for model, part in joined.groupby("model", sort=True):
        if REFERENCE not in part:
            continue
        first = len(rows)
        for metric in metrics:
            if metric == REFERENCE or metric not in part:
                continue
            data = np.column_stack([_oriented(part[metric], directions[metric]),
                                    _oriented(part[REFERENCE], directions[REFERENCE]),
                                    part["rating"].to_numpy(float)])
            data = data[np.isfinite(data).all(axis=1)]
            a, b, y = data.T

            def difference(a, b, y):
                return (correlation(a, y, method="spearman")
                        - correlation(b, y, method="spearman"))

            rho_a, rho_b = (correlation(a, y, method="spearman"),
                            correlation(b, y, method="spearman"))
            t, p = williams_test(rho_a, rho_b, correlation(a, b, method="spearman"), len(y))
            low, high = bootstrap_interval((a, b, y), difference, seed=seed + len(rows))
            rows.append({"model": model, "metric": metric, "rho_metric": rho_a,
                         "rho_loss": rho_b, "difference": rho_a - rho_b, "ci_low": low,
                         "ci_high": high, "t": t, "p": p, "n": len(y)})
        adjusted = holm([r["p"] for r in rows[first:]])
        for row, value in zip(rows[first:], adjusted, strict=True):
            row["p_holm"] = value
    return pd.DataFrame(rows, columns=columns)


def read_preferences(path: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Preferences ``file_a, file_b, winner`` (``a``, ``b`` or one of the two file names).

    Returns:
        The table with ``winner`` normalised to ``a`` / ``b``.

    Raises:
        ParameterError: Unreadable, columns missing, or a winner that names neither file.
    """
    if isinstance(path, pd.DataFrame):
        table, where = path.copy(), "preferences"
    else:
        where = str(path)
        try:
            table = pd.read_csv(path, dtype=str)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ParameterError(f"cannot read the preferences file {path}: {exc}") from exc
    missing = {"file_a", "file_b", "winner"} - set(table.columns)
    if missing:
        raise ParameterError(f"{where} lacks the column(s) {sorted(missing)}; it needs "
                             f"file_a, file_b, winner, got {list(table.columns)}")
    table = table.astype({"file_a": str, "file_b": str, "winner": str})
    winner = np.where(table["winner"].isin(["a", "A"]) | (table["winner"] == table["file_a"]),
                      "a", np.where(table["winner"].isin(["b", "B"])
                                    | (table["winner"] == table["file_b"]), "b", ""))
    bad = table.loc[winner == "", "winner"].tolist()
    if bad:
        raise ParameterError(f"{where}: winner must be a, b or one of the pair's files; got "
                             f"{bad[:5]}")
    return table.assign(winner=winner)


def pairwise_accuracy(a: pd.DataFrame, b: pd.DataFrame, winner, metrics, *,
                      directions: dict[str, str], seed: int) -> pd.DataFrame:
    """Share of pairs whose winner each metric prefers, with a bootstrap interval over pairs.

    Args:
        a: The clip rows of each pair's first file (``model`` and the metric columns).
        b: Those of its second file, row for row.
        winner: ``a`` or ``b`` per pair.
        metrics: Metric columns.
        directions: Degraded direction per metric; the preferred clip is the less degraded.
        seed: Seeds the intervals.

    Returns:
        One row per (model, metric): ``accuracy`` (ties 1/2), ``ci_low``, ``ci_high``, ``n``.
    """
    rows = []
    first_wins = np.asarray(winner) == "a"
    for model in sorted(a["model"].unique()):
        mine = (a["model"] == model).to_numpy()
        for metric in metrics:
            x = _oriented(a.loc[mine, metric], directions[metric])
            y = _oriented(b.loc[mine, metric], directions[metric])
            keep = np.isfinite(x) & np.isfinite(y)
            says_a = np.sign(x - y)[keep]
            credit = np.where(says_a == 0, 0.5, (says_a > 0) == first_wins[mine][keep])
            low, high = bootstrap_interval((credit.astype(float),), np.mean,
                                           seed=seed + len(rows))
            rows.append({"model": model, "metric": metric,
                         "accuracy": float(credit.mean()) if credit.size else np.nan,
                         "ci_low": low, "ci_high": high, "n": int(credit.size)})
    return pd.DataFrame(rows, columns=["model", "metric", "accuracy", "ci_low", "ci_high", "n"])


def read_musiceval(folder: str | Path, *, split: str | None = None,
                   score: str = "overall") -> pd.DataFrame:
    """Ratings of a MusicEval-style folder: ``wav/`` plus ``sets/<split>_mos_list.txt``.

    Each list line is ``wavID,overall,textual`` (no header); the system is the part of the
    id before its first ``_`` (without an ``audiomos2025-track1-`` style prefix up to the last
    ``-``). Profile the ``wav`` folder, then correlate with these ratings.

    Args:
        folder: The data set folder.
        split: Which list (``train``, ``dev``, ...); None: every ``*mos_list.txt``.
        score: ``overall`` (musical quality) or ``textual`` (alignment with the prompt).

    Returns:
        ``file`` (``wav/<id>``), ``rating``, ``system``.
    """
    folder = Path(folder)
    if score not in ("overall", "textual"):
        raise ParameterError(f"score must be overall or textual, got {score!r}")
    pattern = f"{split}_mos_list.txt" if split else "*mos_list.txt"
    lists = sorted((folder / "sets").glob(pattern))
    if not (folder / "wav").is_dir() or not lists:
        raise ParameterError(f"{folder} is not a MusicEval-style folder: it needs wav/ and "
                             f"sets/{pattern}")
    parts = []
    for path in lists:
        try:
            table = pd.read_csv(path, header=None, names=["id", "overall", "textual"],
                                dtype={"id": str})
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ParameterError(f"cannot read {path}: {exc}") from exc
        values = pd.to_numeric(table[score], errors="coerce")
        if values.isna().any():
            raise ParameterError(f"{path}: {score} is not a number for "
                                 f"{table.loc[values.isna(), 'id'].tolist()[:5]}")
        parts.append(pd.DataFrame({
            "file": "wav/" + table["id"], "rating": values,
            "system": table["id"].map(lambda i: Path(i).stem.rsplit("-", 1)[-1].split("_")[0])}))
    return pd.concat(parts, ignore_index=True).drop_duplicates("file")


__all__ = ["REFERENCE", "compare_to_loss", "holm", "pairwise_accuracy", "read_musiceval",
           "read_preferences", "williams_test"]
