"""Loss difference against perturbation length: Fig. 2 (noise), Fig. 5 (shuffles), colours."""

from __future__ import annotations

import pandas as pd

from noiseloss.analysis.run import METRICS, family_of
from noiseloss.analysis.stats import length_points
from noiseloss.figures.common import METRIC_LABELS, Drawn, panels, slug

#: What ``perturbation_frames`` measures, when it is not the span (see ``analysis.run``).
LENGTH_NAMES = {"swap": "block", "permute": "block"}

#: Figure-name prefix per perturbation kind (the paper's numbering).
PAPER_FIGURES = {"noise": "fig2", "swap": "fig5", "permute": "fig5"}


def delta_vs_length(sequence: pd.DataFrame, *, hue: str) -> object:
    """Mean +- std across units of each metric against length.

    Rows: ``METRICS`` (whole item, outside the span); columns: models; one line per ``hue``
    value. The x axis is logarithmic with a tick at every length; y limits are automatic.

    Args:
        sequence: Rows of the ``sequence`` table to draw (one perturbation family, or one
            family per colour).
        hue: Column that separates the lines (``dataset``, ``color``).

    Returns:
        The ``Figure``.
    """
    points = length_points(sequence, metrics=METRICS, by=("model", hue))
    models = sorted(points["model"].unique())
    fig, axes = panels(len(METRICS), len(models))
    lengths = sorted(points["perturbation_frames"].unique())
    for row, metric in enumerate(METRICS):
        for col, model in enumerate(models):
            ax = axes[row, col]
            part = points[(points["metric"] == metric) & (points["model"] == model)]
            for value, line in part.groupby(hue, sort=True, dropna=False):
                line = line.sort_values("perturbation_frames")
                x, mean, std = (line[c].to_numpy(float) for c in ("perturbation_frames", "mean", "std"))
                drawn = ax.plot(x, mean, marker="o", label=f"{value} (n={line['n_items'].max()})")
                ax.fill_between(x, mean - std, mean + std, alpha=0.2, linewidth=0,
                                color=drawn[0].get_color())
            ax.axhline(0.0, color="0.5", linewidth=0.8, linestyle="--")
            ax.set_xscale("log")
            ax.set_xticks(lengths, [str(v) for v in lengths], rotation=45)
            ax.minorticks_off()
            ax.set_title(model if row == 0 else "")
            ax.set_xlabel("perturbation length (frames)")
            ax.set_ylabel(METRIC_LABELS[metric] if col == 0 else "")
            if row == 0 and col == len(models) - 1:
                ax.legend(fontsize="small", title=hue)
    return fig


def draw_lengths(sequence: pd.DataFrame) -> list[Drawn]:
    """Delta-vs-length figures of every family with two lengths or more, and colour comparisons.

    Noise families give Fig. 2, swap/permute families Fig. 5; noise families that differ only in
    colour also give one per-colour comparison.
    """
    with_length = sequence.dropna(subset=["perturbation_frames"])
    drawn = []
    for family, part in with_length.groupby("family", sort=True):
        if part["perturbation_frames"].nunique() < 2:
            continue
        kind = part["kind"].iloc[0]
        name = f"{PAPER_FIGURES.get(kind, 'length')}-delta-vs-length-{slug(family)}"
        drawn.append(Drawn(
            name, delta_vs_length(part, hue="dataset"), "sequence",
            f"Loss difference against perturbation length ({LENGTH_NAMES.get(kind, 'span')} "
            f"length, frames) for {family}: mean +- std (ddof 1) "
            "across clips, one line per data set, one panel per model. Top: whole-item loss "
            "(loss_delta, includes the perturbed span, the paper's statistic); bottom: frames "
            "outside the span (mean_outside_delta)."))
    noise = with_length[with_length["kind"] == "noise"]
    if not noise.empty:
        noise = noise.assign(colour_group=[family_of(s, kind="noise", ignore=("color",))
                                           for s in noise["spec"]])
        for group, part in noise.groupby("colour_group", sort=True):
            if part["color"].nunique() < 2:
                continue
            colours = ", ".join(sorted(map(str, part["color"].unique())))
            drawn.append(Drawn(
                f"colors-delta-vs-length-{slug(group)}", delta_vs_length(part, hue="color"),
                "sequence",
                f"Per-colour comparison ({colours}) for {group}: mean +- std (ddof 1) across "
                "clips of all data sets, one line per colour, one panel per model. Top: "
                "whole-item loss difference; bottom: outside the span."))
    return drawn
