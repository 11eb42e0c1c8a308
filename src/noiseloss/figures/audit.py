"""The audit's small multiples: each metric's response against severity, one panel per family."""

from __future__ import annotations

import numpy as np
import pandas as pd

from noiseloss.figures.common import Drawn, literal_text, panels


@literal_text
def draw_audit(severity: pd.DataFrame) -> Drawn:
    """One panel per damage family: ``shift_sd`` of every metric against severity 0, 1, 2, 3.

    Args:
        severity: The audit's severity table (``analysis.audit.audit_tables``).

    Returns:
        The figure: one line per metric (the same colour in every panel), 0 = the clean mean,
        up = the direction a damaged clip should move the metric, in standard deviations.
    """
    families = list(pd.unique(severity["family"]))
    metrics = list(pd.unique(severity["metric"]))
    cols = min(4, max(len(families), 1))
    fig, axes = panels(-(-max(len(families), 1) // cols), cols, width_inches=2.8,
                       height_inches=2.3)
    colors = {m: f"C{i % 10}" for i, m in enumerate(metrics)}
    styles = {m: ("-", "--", ":")[i // 10 % 3] for i, m in enumerate(metrics)}
    for ax, family in zip(axes.flat, families, strict=False):
        part = severity[severity["family"] == family]
        for metric, rows in part.groupby("metric", sort=False):
            ax.plot(rows["severity"], rows["shift_sd"], marker=".", lw=1.0, color=colors[metric],
                    ls=styles[metric], label=metric)
        ax.axhline(0.0, color="black", lw=0.5)
        ax.set_xticks(np.arange(4))
        ax.set_title(family, fontsize=9)
        ax.set_xlabel("severity (0 = clean)", fontsize=7)
        ax.set_ylabel("shift toward worse (sd)", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(families):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels) or 1),
               fontsize=7)
    return Drawn("audit", fig, "severity",
                 "Mean of each metric per severity, as its shift from the clean mean in standard "
                 "deviations of the family's values, signed so that up is the direction a "
                 "damaged clip should move it.")
