"""Token-wise curves of one example clip: Fig. 3 (losses), Fig. 4 (regions), region box plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from noiseloss.analysis.curves import moving_average
from noiseloss.analysis.regions import REGION_NAMES
from noiseloss.figures.common import REGION_COLORS, Drawn, grouped_boxes, panels
from noiseloss.timeaxis import TimeAxis

#: Length of the Fig. 3 example, seconds, as on the paper's demo page (100 frames at 50 frames/s).
EXAMPLE_LENGTH_SECONDS = 2.0


def example_family(deltas: pd.DataFrame) -> str | None:
    """The family drawn in Figs. 3-4 (None when no unit has a span after frame 0).

    White noise if any, else the first noise family, else the first family with a span, in
    sorted order.
    """
    spans = deltas.dropna(subset=["onset_frame", "length_frames"])
    spans = spans[spans["onset_frame"] > 0]
    if spans.empty:
        return None
    for rows in (spans[(spans["kind"] == "noise") & (spans["color"] == "white")],
                 spans[spans["kind"] == "noise"], spans):
        if not rows.empty:
            return sorted(rows["family"].unique())[0]
    return None


def _example_rows(deltas: pd.DataFrame, family: str) -> pd.DataFrame:
    """Rows of ``family`` for its first (dataset, item) in sorted order."""
    rows = deltas[(deltas["family"] == family) & (deltas["onset_frame"] > 0)]
    dataset, item = min(zip(rows["dataset"], rows["item"], strict=True))
    return rows[(rows["dataset"] == dataset) & (rows["item"] == item)]


def _pure_noise(deltas: pd.DataFrame, *, model: str, color) -> pd.Series | None:
    """A noise unit of ``model`` whose span covers its whole clip (same colour first)."""
    noise = deltas[(deltas["kind"] == "noise") & (deltas["model"] == model)
                   & (deltas["onset_frame"] == 0) & (deltas["length_frames"] >= deltas["frames"])]
    if noise.empty:
        return None
    same = noise[noise["color"] == color]
    return (same if not same.empty else noise).sort_values("key").iloc[0]


def unit_axis(row: pd.Series) -> TimeAxis:
    """The time axis of a ``deltas`` row (its ``times`` and ``duration_seconds``)."""
    return TimeAxis(np.asarray(row["times"], dtype=np.float64), float(row["duration_seconds"]))


def _shade_span(ax, row: pd.Series) -> None:
    onset, length = unit_axis(row).span_seconds(int(row["onset_frame"]), int(row["length_frames"]))
    ax.axvspan(onset, onset + length, color="0.85", zorder=0, label="perturbed span")


def length_label(row: pd.Series) -> str:
    """``length N`` of a family with a length, else where its span lies in seconds."""
    if pd.notna(row["perturbation_seconds"]):
        return f"length {row['perturbation_seconds']:g} s"
    return f"span {row['onset_seconds']:.2f}-{row['onset_seconds'] + row['length_seconds']:.2f} s"


def time_label(row: pd.Series) -> str:
    """The x label of a unit's curves: seconds, and what a column is."""
    rate = row.get("frame_rate")
    return "time (s; one event per note)" if pd.isna(rate) else \
        f"time (s; {float(rate):g} frames per second)"


def draw_token_losses(deltas: pd.DataFrame, family: str) -> Drawn:
    """Fig. 3: token-wise loss of the original, pure noise and music + perturbation.

    One panel per model, for the example clip of ``family`` at the length closest to
    ``EXAMPLE_LENGTH_SECONDS``; the pure-noise line is drawn only if the run has such a unit.
    """
    rows = _example_rows(deltas, family)
    models = sorted(rows["model"].unique())
    fig, axes = panels(1, len(models), width_inches=5.0)
    noted = []
    for col, model in enumerate(models):
        ax, mine = axes[0, col], rows[rows["model"] == model]
        gap = (mine["perturbation_seconds"] - EXAMPLE_LENGTH_SECONDS).abs()
        row = mine.loc[gap.sort_values(kind="stable").index[0]]
        times = unit_axis(row).seconds
        _shade_span(ax, row)
        ax.plot(times, row["clean_curve"], linewidth=0.8, label="original")
        noise = _pure_noise(deltas, model=model, color=row["color"])
        if noise is not None:
            ax.plot(unit_axis(noise).seconds, noise["perturbed_curve"], linewidth=0.8,
                    label="pure noise")
        ax.plot(times, row["perturbed_curve"], linewidth=0.8, label="music + perturbation")
        ax.set_title(f"{model}: {length_label(row)}")
        ax.set_xlabel(time_label(row))
        ax.set_ylabel("loss (nats, mean over codebooks)" if col == 0 else "")
        ax.legend(fontsize="small")
        noted.append(f"{model}: {row['dataset']}/{row['item']} ({row['perturbation']}, "
                     + ("pure noise " + str(noise["item"]) if noise is not None
                        else "no pure-noise clip in this run: that line is omitted") + ")")
    return Drawn("fig3-token-loss", fig, "deltas",
                 f"Token-wise loss (mean over codebooks) of the original clip and of music + "
                 f"perturbation for {family}, length closest to {EXAMPLE_LENGTH_SECONDS:g} s; "
                 "grey: perturbed span. " + "; ".join(noted) + ".")


def draw_delta_panel(ax, delta, *, axis: TimeAxis, onset_frame: int | None,
                     length_frames: int | None, regions, smooth_frames: int) -> None:
    """Draw one loss-difference curve on ``ax`` against time, with its span and regions.

    ::

        delta (nats)   raw curve (grey), moving average (black), 0 (dashed)
        time   0 ...  onset ....... onset+length ............ end
                       :  [peak)[assimilation):[recovery        )   shaded half-open intervals
                       :.......................:                    dotted: span edges

    Each value is drawn at the start of its column (``axis.seconds``); a region or span of
    columns ``[start, end)`` is shaded from the start of ``start`` to the start of ``end``
    (``TimeAxis.span_seconds``), so it covers the columns it holds.

    Args:
        ax: Matplotlib axes.
        delta: ``[T]`` per-column loss difference, perturbed - clean (nats).
        axis: The time axis of the ``T`` columns.
        onset_frame: First perturbed column, or None (no span drawn).
        length_frames: Span length in columns, or None.
        regions: ``(name, start, end)`` columns of the regions found (others are not shaded).
        smooth_frames: Moving-average window of the region detector (1: no smoothed curve).
    """
    curve = np.asarray(delta, dtype=np.float64)
    for name, start, end in regions:
        onset, length = axis.span_seconds(int(start), int(end - start))
        ax.axvspan(onset, onset + length, alpha=0.25, linewidth=0, color=REGION_COLORS[name],
                   label=name)
    ax.plot(axis.seconds, curve, color="0.6", linewidth=0.6, label="Δℓ")
    if smooth_frames > 1:
        ax.plot(axis.seconds, moving_average(curve, window_frames=smooth_frames), color="k",
                linewidth=1.0, label=f"moving average ({smooth_frames})")
    if onset_frame is not None and length_frames is not None:
        onset, length = axis.span_seconds(onset_frame, length_frames)
        for edge in (onset, onset + length):
            ax.axvline(edge, color="0.3", linewidth=0.6, linestyle=":")
    ax.axhline(0.0, color="0.5", linewidth=0.6, linestyle="--")
    ax.set_xlim(0.0, max(axis.end_seconds, 1e-3))


def draw_region_curves(deltas: pd.DataFrame, regions: pd.DataFrame, family: str) -> Drawn:
    """Fig. 4: delta curves of the example clip with the three regions shaded.

    Rows: models; columns: up to four of the longest lengths of ``family``.
    """
    rows = _example_rows(deltas, family)
    models = sorted(rows["model"].unique())
    lengths = sorted(rows["perturbation_seconds"].dropna().unique())[-4:] or [None]
    fig, axes = panels(len(models), len(lengths), width_inches=4.0)
    params = "no regions"
    for r, model in enumerate(models):
        for c, length in enumerate(lengths):
            ax = axes[r, c]
            unit = rows[(rows["model"] == model) & ((rows["perturbation_seconds"] == length)
                                                    if length is not None else True)]
            if unit.empty:
                ax.set_axis_off()
                continue
            unit = unit.sort_values("key").iloc[0]
            found = regions[(regions["key"] == unit["key"]) & regions["found"]]
            smooth = 1
            if not found.empty:
                params = found["detector_params"].iloc[0]
                smooth = int(json.loads(params).get("smooth_frames", 1))
            draw_delta_panel(ax, unit["delta"], axis=unit_axis(unit),
                             onset_frame=int(unit["onset_frame"]),
                             length_frames=int(unit["length_frames"]), smooth_frames=smooth,
                             regions=[(r["region"], r["start_frame"], r["end_frame"])
                                      for _, r in found.iterrows()])
            ax.set_title(f"{model}: {length_label(unit)}")
            ax.set_xlabel(time_label(unit))
            ax.set_ylabel("Δℓ (nats)" if c == 0 else "")
    handles = [Patch(color=color, alpha=0.25, label=name) for name, color in REGION_COLORS.items()]
    axes[0, 0].legend(handles=handles + axes[0, 0].get_lines()[:2], fontsize="small")
    example = rows.iloc[0]
    return Drawn("fig4-regions", fig, "regions",
                 f"Per-token loss difference of {example['dataset']}/{example['item']} for "
                 f"{family}, raw (grey) and smoothed (black), with the detected Peak (red), "
                 f"Assimilation (blue) and Recovery (green); dotted lines: span start and end. "
                 f"Detector: {params}. An empty region is not shaded.")


def draw_region_boxes(regions: pd.DataFrame, family: str) -> Drawn:
    """Box plots of each region's mean delta per data set, one panel per model.

    All clips and lengths of ``family``; empty regions are left out, never counted as 0.
    """
    rows = regions[(regions["family"] == family) & regions["found"]]
    models = sorted(regions.loc[regions["family"] == family, "model"].unique())
    datasets = sorted(regions.loc[regions["family"] == family, "dataset"].unique())
    fig, axes = panels(1, len(models), width_inches=4.5)
    for col, model in enumerate(models):
        ax = axes[0, col]
        series = {}
        for dataset in datasets:
            part = rows[(rows["model"] == model) & (rows["dataset"] == dataset)]
            series[dataset] = [part.loc[part["region"] == name, "mean_delta"].to_numpy(float)
                               for name in REGION_NAMES]
        grouped_boxes(ax, list(REGION_NAMES), series)
        ax.set_title(model)
        ax.set_ylabel("mean Δℓ in region (nats)" if col == 0 else "")
    return Drawn("fig4b-region-boxes", fig, "regions",
                 f"Mean loss difference per region for {family}, all clips and lengths; one box "
                 "per data set, one panel per model. n = clips with that region found "
                 "(peak/assimilation/recovery); missing regions are left out, never counted as 0.")
