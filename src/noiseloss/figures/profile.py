"""Distributions of the clip-level profile metrics per data set, one figure per model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from noiseloss.figures.common import Drawn, panels, slug


def draw_profile(clips: pd.DataFrame, *, table: str = "profile_clips") -> list[Drawn]:
    """One figure per model: a panel per clip metric with a box and the clips per data set.

    Args:
        clips: A clip table (``profile_clips`` of a run, or ``clips.parquet`` of a profile).
        table: The table it is drawn from (for the caption and the index).
    """
    from noiseloss.analysis.profile import metrics_of

    if clips.empty:
        return []
    names = [m for m in (*metrics_of("clip"), *metrics_of("probe"))
             if m in clips and clips[m].notna().any()]
    drawn = []
    for model, part in clips.groupby("model", sort=True):
        cols = min(4, len(names))
        fig, axes = panels(-(-len(names) // cols), cols, width_inches=2.6, height_inches=2.0)
        datasets = sorted(part["dataset"].unique())
        for ax, name in zip(axes.flat, names, strict=False):
            values = [part.loc[part["dataset"] == d, name].dropna().to_numpy(float)
                      for d in datasets]
            ax.boxplot([v if v.size else [np.nan] for v in values], showfliers=False)
            for i, v in enumerate(values, start=1):
                ax.plot(np.full(v.size, i), v, ".", ms=3, alpha=0.6, color="tab:blue")
            ax.set_xticks(range(1, len(datasets) + 1), datasets, rotation=30, fontsize=7)
            ax.set_title(name, fontsize=8)
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        fig.suptitle(f"profile metrics per data set: {model}", fontsize=9)
        drawn.append(Drawn(f"profile-{slug(str(model))}", fig, table,
                           f"Clip-level profile metrics of {model} per data set (box: quartiles; "
                           "points: clips; empty metrics are not drawn)."))
    return drawn


def draw_model_comparison(model: pd.DataFrame) -> list[Drawn]:
    """With two models or more: each model metric per data set, one marker and interval per model.

    Args:
        model: The ``profile_model`` table.
    """
    from noiseloss.analysis.profile import PROFILE_METRICS, metrics_of

    if model.empty or model["model"].nunique() < 2:
        return []
    names = [m for m in metrics_of("model") if model.loc[model["metric"] == m, "value"].notna().any()]
    fig, axes = panels(1, len(names), width_inches=2.8, height_inches=2.4)
    models = sorted(model["model"].unique())
    datasets = sorted(model["dataset"].unique())
    width = 0.8 / len(models)
    for ax, name in zip(axes.flat, names, strict=True):
        rows = model[model["metric"] == name]
        for i, m in enumerate(models):
            part = rows[rows["model"] == m].groupby("dataset")[["value", "ci_low", "ci_high"]].mean()
            part = part.reindex(datasets)
            x = np.arange(len(datasets)) - 0.4 + width * (i + 0.5)
            ax.errorbar(x, part["value"], yerr=[part["value"] - part["ci_low"],
                                               part["ci_high"] - part["value"]],
                        fmt="o", ms=4, capsize=2, label=str(m))
        ax.set_xticks(range(len(datasets)), datasets, rotation=30, fontsize=7)
        ax.set_title(f"{name} ({PROFILE_METRICS.get(name).unit})", fontsize=8)
    axes.flat[0].legend(fontsize=7)
    return [Drawn("profile-models", fig, "profile_model",
                  "Model-level profile metrics per model and data set: value and 95 % bootstrap "
                  "interval over clips (families averaged when a data set has several).")]
