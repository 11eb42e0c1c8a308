"""The page of a profile folder: ranked clips, metric distributions, one curve plot per clip.

::

    OUT/clips.parquet, spans.parquet, run/results.parquet  ->  OUT/index.html, OUT/report.css
                                                               OUT/plots/clip-<hash>.png
                                                               OUT/plots/metrics-<hash>.png

Text from the clips (file and data-set names) is escaped by the template (jinja2 autoescape).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from noiseloss.figures.common import literal_text

#: Columns of the ranked table besides rank, data set and item (the full table is clips.csv).
SHOWN = ("mean_loss", "probe_peak", "probe_after", "excess_surprisal", "spike_rate",
         "rate_confident_surprised")


def _name(*parts) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:12]


@literal_text
def plot_clip(nll, entropy, *, seconds, spans, onsets_seconds, path: Path, baseline) -> None:
    """NLL, entropy and running baseline of one clip against time; spans and probes marked.

    ``seconds``: the start of each column (the results row's ``time_s``).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 2.4), layout="constrained")
    ax = fig.subplots()
    ax.plot(seconds, nll, lw=0.7, color="black", label="NLL")
    if entropy is not None:
        ax.plot(seconds, entropy, lw=0.7, color="tab:blue", alpha=0.8, label="entropy")
    ax.plot(seconds, baseline, lw=1.0, color="tab:orange", label="baseline")
    for start, end in spans:
        ax.axvspan(start, end, color="tab:red", alpha=0.25, lw=0)
    for onset in onsets_seconds:
        ax.axvline(onset, color="tab:green", lw=0.6, ls=":")
    ax.set_xlabel("time (s); red: flagged spans, green: probe onsets")
    ax.set_ylabel("nats per token")
    ax.legend(loc="upper right", fontsize=7, ncols=3)
    fig.savefig(path, dpi=90, metadata={"Software": None})


@literal_text
def write_profile_page(out_dir: str | Path, clips: pd.DataFrame, spans: pd.DataFrame, *,
                       options) -> Path:
    """Draw the plots and write ``OUT/index.html``; return its path."""
    from noiseloss.analysis.profile import PROFILE_METRICS, frame_curves, metrics_of, running_baseline
    from noiseloss.analysis.run import read_results
    from noiseloss.figures.profile import draw_profile
    from noiseloss.report.html import _environment, cell, copy_static

    out = Path(out_dir)
    plots = out / "plots"
    shutil.rmtree(plots, ignore_errors=True)
    plots.mkdir(parents=True)
    results = read_results(out / "run").set_index("key")
    onsets = options.onset_fractions()
    models = []
    for model, part in clips.groupby("model", sort=True):
        figure = f"plots/metrics-{_name(model)}.png"
        (drawn,) = draw_profile(part, table="clips")
        drawn.figure.savefig(out / figure, dpi=90, metadata={"Software": None})
        entries = []
        for _, clip in part.iterrows():
            row = results.loc[clip["key"]]
            nll, entropy = frame_curves(row)
            mine = spans[(spans["model"] == model) & (spans["dataset"] == clip["dataset"])
                         & (spans["item"] == clip["item"])]
            anchor = "clip-" + _name(model, clip["dataset"], clip["item"])
            plot = f"plots/{anchor}.png"
            plot_clip(nll, entropy, seconds=np.asarray(row["time_s"], dtype=np.float64),
                      spans=list(zip(mine["start_s"], mine["end_s"], strict=True)),
                      onsets_seconds=[f * float(row["duration_seconds"]) for f in onsets],
                      path=out / plot,
                      baseline=running_baseline(nll, window_frames=options.baseline_frames))
            entries.append({
                "anchor": anchor, "rank": int(clip["rank"]), "dataset": clip["dataset"],
                "item": clip["item"], "cells": [cell(clip[c]) for c in SHOWN], "plot": plot,
                "spans": [f"{a:.2f}-{b:.2f} s (+{h:.2f} nats)" for a, b, h in
                          zip(mine["start_s"], mine["end_s"], mine["peak_nats"], strict=True)]})
        models.append({"name": model, "figure": figure, "clips": entries})
    metrics = [PROFILE_METRICS.get(m) for m in (*metrics_of("clip"), *metrics_of("probe"))]
    html = _environment().get_template("profile.html").render(
        root="", models=models, shown=SHOWN, metrics=metrics, ranking=options.ranking,
        onsets=onsets, options=options, n_clips=len(clips),
        symbolic=bool((results["modality"] == "symbolic").any()))
    copy_static(out, "report.css")
    page = out / "index.html"
    page.write_text(html, encoding="utf-8")
    return page
