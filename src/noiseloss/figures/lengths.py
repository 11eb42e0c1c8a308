"""Loss difference per perturbation family.

Against perturbation length (Fig. 2 noise, Fig. 5 shuffles, colour comparisons), and as box plots
for families with one length or no span (MIDI edits).
"""

from __future__ import annotations

import pandas as pd

from noiseloss.analysis.run import family_of
from noiseloss.analysis.sequence import METRICS
from noiseloss.analysis.stats import length_points
from noiseloss.figures.common import Drawn, grouped_boxes, panels, slug

#: What ``perturbation_seconds`` measures, when it is not the span (see ``analysis.run``).
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
    lengths = sorted(points["perturbation_seconds"].unique())
    for row, metric in enumerate(METRICS):
        for col, model in enumerate(models):
            ax = axes[row, col]
            part = points[(points["metric"] == metric) & (points["model"] == model)]
            for value, line in part.groupby(hue, sort=True, dropna=False):
                line = line.sort_values("perturbation_seconds")
                x, mean, std = (line[c].to_numpy(float)
                                for c in ("perturbation_seconds", "mean", "std"))
                drawn = ax.plot(x, mean, marker="o", label=f"{value} (n={line['n_items'].max()})")
                ax.fill_between(x, mean - std, mean + std, alpha=0.2, linewidth=0,
                                color=drawn[0].get_color())
            ax.axhline(0.0, color="0.5", linewidth=0.8, linestyle="--")
            ax.set_xscale("log")
            ax.set_xticks(lengths, [f"{v:g}" for v in lengths], rotation=45)
            ax.minorticks_off()
            ax.set_title(model if row == 0 else "")
            ax.set_xlabel("perturbation length (s)")
            ax.set_ylabel(METRICS.get(metric).label if col == 0 else "")
            if row == 0 and col == len(models) - 1:
                ax.legend(fontsize="small", title=hue)
    return fig


def draw_lengths(sequence: pd.DataFrame) -> list[Drawn]:
    """Delta-vs-length figures of every family with two lengths or more, and colour comparisons.

    Noise families give Fig. 2, swap/permute families Fig. 5; noise families that differ only in
    colour also give one per-colour comparison.
    """
    with_length = sequence.dropna(subset=["perturbation_seconds"])
    drawn = []
    for family, part in with_length.groupby("family", sort=True):
        if part["perturbation_seconds"].nunique() < 2:
            continue
        kind = part["kind"].iloc[0]
        name = f"{PAPER_FIGURES.get(kind, 'length')}-delta-vs-length-{slug(family)}"
        drawn.append(Drawn(
            name, delta_vs_length(part, hue="dataset"), "sequence",
            f"Loss difference against perturbation length ({LENGTH_NAMES.get(kind, 'span')} "
            f"length, seconds) for {family}: mean +- std (ddof 1) "
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


def draw_families(sequence: pd.DataFrame) -> list[Drawn]:
    """Box plots of the whole-item loss difference of every family with fewer than two lengths.

    These are the families that ``draw_lengths`` cannot put on a length axis: MIDI edits (no
    span) and perturbations run at a single length. One panel per model, one box per family
    and data set.
    """
    lengths = sequence.groupby("family")["perturbation_seconds"].nunique()
    single = sequence[sequence["family"].isin(lengths[lengths < 2].index)]
    if single.empty:
        return []
    families = sorted(single["family"].unique())
    models = sorted(single["model"].unique())
    fig, axes = panels(1, len(models), width_inches=max(4.5, 1.6 * len(families)))
    for col, model in enumerate(models):
        part = single[single["model"] == model]
        series = {dataset: [rows.loc[rows["family"] == f, "loss_delta"].to_numpy(float)
                            for f in families]
                  for dataset, rows in part.groupby("dataset", sort=True)}
        ax = axes[0, col]
        grouped_boxes(ax, [f.replace(" ", "\n") for f in families], series)
        ax.tick_params(axis="x", labelsize="x-small")
        ax.set_title(model)
        ax.set_ylabel(METRICS.get("loss_delta").label if col == 0 else "")
    return [Drawn("families-delta", fig, "sequence",
                  "Whole-item loss difference (perturbed minus clean, nats per token) of each "
                  "perturbation family run at one length or without a span (MIDI edits): one "
                  "box per data set across clips, one panel per model; n = clips per family.")]
