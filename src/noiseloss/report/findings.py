"""What a run found, in words: the report's first section, and short labels for families.

Every number in a finding is read from the analysis tables (``sequence``, ``stats_group``,
``regions``, ``profile_model``); nothing is computed anew.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pandas as pd

from noiseloss.analysis.profile import MODEL_KEYS as GROUP
from noiseloss.analysis.profile import PROFILE_METRICS, metrics_of
from noiseloss.analysis.regions import DETECTORS, REGION_NAMES, REGION_SIGNS

#: Significance level the summary words ("significant") refer to.
ALPHA = 0.05


@dataclass
class Finding:
    """One model x data set x family x prompt: a title and one line per kind of result.

    ``undefined`` holds what could not be measured, one sentence each with the reason (a test
    with too few lengths, a metric without a value or fixed by construction); the page states
    the sentences many findings share once (``shared_undefined``).
    """

    model: str
    dataset: str
    family: str
    label: str
    prompt: str
    lines: list[str] = field(default_factory=list)
    undefined: list[str] = field(default_factory=list)


def family_labels(sequence: pd.DataFrame) -> dict[str, str]:
    """Family -> a short label: its kind, plus the parameters that tell it from its siblings.

    Families of one kind that differ only in, say, colour become ``noise color=pink`` and
    ``noise color=white``; a kind with one family is just ``noise``. Labels are unique (a
    number is appended when parameters cannot tell two apart).
    """
    if sequence.empty:
        return {}
    from noiseloss.analysis.run import family_params

    firsts = sequence.drop_duplicates("family")
    specs = {row["family"]: (row["kind"], family_params(row["spec"]))
             for _, row in firsts.iterrows()}
    labels: dict[str, str] = {}
    for kind in sorted({k for k, _ in specs.values()}):
        members = {f: p for f, (k, p) in specs.items() if k == kind}
        keys = sorted({key for p in members.values() for key in p})
        varying = [key for key in keys
                   if len({json.dumps(p.get(key), sort_keys=True) for p in members.values()}) > 1]
        for family, params in sorted(members.items()):
            parts = [kind, *(f"{key}={_short(params.get(key))}" for key in varying)]
            labels[family] = " ".join(parts)
    seen: dict[str, int] = {}
    for family in sorted(labels):
        label = labels[family]
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[family] = f"{label} #{seen[label]}"
    return labels


def _short(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _num(value: float, digits: int = 3) -> str:
    return "NaN" if value is None or not math.isfinite(value) else f"{value:+.{digits}f}"


def _p(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "NaN"
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def detector_summary(regions: pd.DataFrame) -> str:
    """Which detector made the regions, with the options it used: one sentence ("" if none).

    Read from the ``regions`` table (``detector``, ``detector_params``: what the detector
    actually used, which may differ from the options given: ``fixed-anchor`` ignores the
    smoothing). A parameter with one value over the units is shown as ``key=value``; one that
    varies (the fixed-anchor baseline, a lead that differs by layout) as ``key per unit``.
    """
    if regions.empty or "detector" not in regions:
        return ""
    units = regions.drop_duplicates("key")
    parts = []
    for detector, rows in units.groupby("detector", sort=True):
        params = [json.loads(p) if isinstance(p, str) and p else {}
                  for p in rows.get("detector_params", pd.Series(dtype=object))]
        options = []
        for key in sorted({k for p in params for k in p} - {"detector"}):
            values = {json.dumps(p.get(key), sort_keys=True) for p in params}
            options.append(f"{key}={_short(params[0].get(key))}" if len(values) == 1
                           else f"{key} per unit")
        help_text = DETECTORS.describe(detector) if detector in DETECTORS else ""
        parts.append(f"{detector} ({', '.join(options)})"
                     + (f": {help_text}" if help_text else ""))
    return "Regions by the detector " + "; ".join(parts) + "."


def _matching(table: pd.DataFrame, key: dict) -> pd.DataFrame:
    """The rows of ``table`` whose ``GROUP`` columns equal ``key`` (all rows of an empty one)."""
    return table if table.empty else table[(table[list(GROUP)] == pd.Series(key)).all(axis=1)]


def build_findings(tables: dict[str, pd.DataFrame]) -> list[Finding]:
    """One ``Finding`` per model x data set x family x prompt with a perturbed unit."""
    sequence = tables.get("sequence", pd.DataFrame())
    if sequence.empty:
        return []
    labels = family_labels(sequence)
    trends = tables.get("stats_group", pd.DataFrame())
    regions = tables.get("regions", pd.DataFrame())
    model = tables.get("profile_model", pd.DataFrame())
    out = []
    for group, units in sequence.groupby(list(GROUP), sort=True, dropna=False):
        key = dict(zip(GROUP, group, strict=True))
        finding = Finding(key["model"], key["dataset"], key["family"],
                          labels.get(key["family"], key["family"]), key["prompt"])
        lengths = sorted(units["perturbation_seconds"].dropna().unique())
        effect = []
        for length in lengths:
            part = units[units["perturbation_seconds"] == length]
            fell, n, mean = int((part["loss_delta"] < 0).sum()), len(part), float(
                part["loss_delta"].mean())
            what = "clips" if n == part["item"].nunique() else "units (clips x seeds)"
            effect.append(f"{length:g} s: loss fell in {fell} of {n} {what}, mean Δℓ "
                          f"{_num(mean)} nats")
        if not lengths:  # edits without a length
            fell, n, mean = int((units["loss_delta"] < 0).sum()), len(units), float(
                units["loss_delta"].mean())
            effect.append(f"loss fell in {fell} of {n} units, mean Δℓ {_num(mean)} nats")
        finding.lines.append("; ".join(effect) + ".")
        trend = _matching(trends, key)
        trend = trend[trend["metric"] == "loss_delta"] if not trend.empty else trend
        note = _note(trend.iloc[0]) if not trend.empty else ""
        if note:
            finding.undefined.append(f"length vs Δℓ — no test, {note}")
        elif not trend.empty and math.isfinite(trend["pearson_r"].iloc[0]):
            r, p, n = (trend[c].iloc[0] for c in ("pearson_r", "pearson_p", "n_points"))
            verdict = "significant" if p < ALPHA else "not significant"
            finding.lines.append(f"Length vs Δℓ: Pearson r = {_num(r, 2)}, p = {_p(p)} over "
                                 f"{int(n)} lengths, {verdict} at {ALPHA:g}.")
        mine = regions[regions["key"].isin(units["key"])] if not regions.empty else regions
        if not mine.empty:
            parts = []
            for name in REGION_NAMES:
                rows = mine[mine["region"] == name]
                found = rows[rows["found"].astype(bool)]
                mean = float(found["mean_delta"].mean()) if len(found) else math.nan
                wrong = (f", wrong sign in {int((rows['status'] == 'wrong-sign').sum())}"
                         if REGION_SIGNS[name] and "status" in rows else "")
                where = f" (mean Δℓ where found {_num(mean)})" if len(found) else ""
                parts.append(f"{name} found in {len(found)} of {len(rows)}{wrong}{where}")
            finding.lines.append(f"Regions ({_detector(mine)} detector): "
                                 + ", ".join(parts) + ".")
        if not model.empty:
            measured, unmeasured = _profile_lines(_matching(model, key), _detector(mine))
            finding.lines.extend(measured)
            finding.undefined.extend(unmeasured)
        out.append(finding)
    return out


def _note(row: pd.Series) -> str:
    """The ``note`` of a statistics row ("" when absent: tables of older versions)."""
    note = row.get("note", "")
    return note if isinstance(note, str) else ""


def _detector(regions: pd.DataFrame) -> str:
    """The detector(s) named in ``regions`` ("unknown" for tables written without the column)."""
    if regions.empty or "detector" not in regions:
        return "unknown"
    return ", ".join(sorted(map(str, regions["detector"].dropna().unique()))) or "unknown"


def shared_undefined(findings: list[Finding]) -> list[tuple[str, int]]:
    """The ``undefined`` sentences of more than one finding, with how many findings have each.

    The report states these once, above the findings, and leaves them out of each finding.
    """
    counts: dict[str, int] = {}
    for finding in findings:
        for sentence in dict.fromkeys(finding.undefined):
            counts[sentence] = counts.get(sentence, 0) + 1
    return [(sentence, n) for sentence, n in counts.items() if n > 1]


def _profile_lines(rows: pd.DataFrame, detector: str) -> tuple[list[str], list[str]]:
    """The "Profile: ..." line and the sentences of the model metrics not measured.

    Measured: value and interval, or value and the reason for no interval. Not measured:
    undefined, or the same for every clip by construction under ``detector``.
    """
    measured, unmeasured = [], []
    for name in metrics_of("model"):
        row = rows[rows["metric"] == name]
        if row.empty:
            continue
        metric = PROFILE_METRICS.get(name)
        label = name.replace("_", " ")
        value, low, high = (float(row[c].iloc[0]) for c in ("value", "ci_low", "ci_high"))
        note = _note(row.iloc[0])
        fixed = dict(metric.fixed_by).get(detector)
        if fixed:
            unmeasured.append(f"{label} — {fixed}; {_num(value)} {metric.unit}")
        elif not math.isfinite(value):
            unmeasured.append(f"{label} — {note or 'undefined'}")
        elif math.isfinite(low) and math.isfinite(high):
            measured.append(f"{label} {_num(value)} [{_num(low)}, {_num(high)}] {metric.unit}")
        else:
            measured.append(f"{label} {_num(value)} {metric.unit} ({note or 'no interval'})")
    return [f"Profile: {'; '.join(measured)}."] if measured else [], unmeasured
