"""The report's gallery: per data set, example clips with their perturbed versions.

Everything shown comes from the analysis tables (``noiseloss.analysis``): the delta curves from
``deltas``, the losses from ``sequence``, the Peak / Assimilation / Recovery intervals from
``regions`` (the detector's output; nothing is re-detected here).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from noiseloss.analysis.regions import REGION_NAMES
from noiseloss.errors import check_range
from noiseloss.figures.common import literal_text
from noiseloss.figures.curves import draw_delta_panel, time_label, unit_axis
from noiseloss.report.assets import AssetFolder, inside, playable_clip
from noiseloss.timeaxis import TimeAxis

#: A perturbed unit and its clean partner agree on these columns (see ``analysis.run``).
EXAMPLE_COLUMNS = ("model", "dataset", "item", "prompt", "alignment")

#: Order of the perturbed versions of one example.
VARIANT_ORDER = ("family", "length_frames", "seed", "perturbation", "key")


@dataclass(frozen=True)
class Region:
    """One region of a delta curve: ``[start_frame, end_frame)``; NaN statistics when not found."""

    name: str
    found: bool
    start_frame: int | None
    end_frame: int | None
    mean_delta: float


@dataclass(frozen=True)
class PlotAxis:
    """Where a curve plot's x axis lies in its image, so that a page can map time to pixels.

    ``time0`` seconds are drawn at ``x0`` and ``time1`` at ``x1`` (fractions of the image
    width).
    """

    x0: float
    x1: float
    time0: float
    time1: float


@dataclass(frozen=True)
class Variant:
    """A perturbed version of an example clip.

    Attributes:
        perturbation: The runner's label (``noise/color=white,.../seed=0``).
        kind: Perturbation kind.
        onset_frame: First perturbed frame, None for a perturbation without a span.
        length_frames: Span length in frames, or None.
        loss_perturbed: Whole-item loss, nats/token.
        loss_delta: ``loss_perturbed - loss_clean``, nats/token.
        audio: Clip path relative to the report folder, or None.
        audio_note: Why there is no clip (when ``audio`` is None).
        plot: PNG of the delta curve, relative to the report folder.
        axis: Where the plot's x axis lies (for the cursor that follows the audio).
        regions: Peak, Assimilation, Recovery (empty for a perturbation without a span).
    """

    perturbation: str
    kind: str
    onset_frame: int | None
    length_frames: int | None
    loss_perturbed: float
    loss_delta: float
    audio: str | None
    audio_note: str
    plot: str
    axis: PlotAxis
    regions: tuple[Region, ...]


@dataclass(frozen=True)
class Example:
    """A clean clip of one data set, scored by one model, with its perturbed versions."""

    dataset: str
    item: str
    model: str
    prompt: str
    alignment: str
    loss_clean: float
    audio: str | None
    audio_note: str
    variants: tuple[Variant, ...]


def pick_examples(deltas: pd.DataFrame, *, examples_per_dataset: int) -> pd.DataFrame:
    """The rows of ``deltas`` that the gallery shows.

    Per data set, the first ``examples_per_dataset`` items in name order, items whose clean clip
    has audio first (the runner saves audio for a few items per data set only). Every model,
    prompt and perturbation of a chosen item is kept.

    Args:
        deltas: The ``deltas`` table of the analysis (one row per perturbed unit).
        examples_per_dataset: Items per data set (0: no gallery).

    Returns:
        The chosen rows, ordered by data set, item, model, prompt, alignment, then
        ``VARIANT_ORDER``; a new frame (``deltas`` is not modified).
    """
    check_range("examples_per_dataset", examples_per_dataset, low=0)
    if deltas.empty or examples_per_dataset == 0:
        return deltas.iloc[:0]
    items = (deltas.assign(_silent=deltas["clean_audio"].isna())
             .groupby(["dataset", "item"], sort=False)["_silent"].min().reset_index()
             .sort_values(["dataset", "_silent", "item"], kind="stable")
             .groupby("dataset", sort=True).head(examples_per_dataset))
    chosen = deltas.merge(items[["dataset", "item"]], on=["dataset", "item"])
    return chosen.sort_values([*EXAMPLE_COLUMNS, *VARIANT_ORDER], kind="stable",
                              na_position="last").reset_index(drop=True)


@literal_text
def plot_delta(delta, *, axis: TimeAxis, onset_frame: int | None, length_frames: int | None,
               regions: tuple[Region, ...], smooth_frames: int, label: str,
               losses: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[bytes, PlotAxis]:
    """PNG of one loss-difference curve with the perturbed span and the regions shaded.

    The panel is ``noiseloss.figures.curves.draw_delta_panel`` (the same as Fig. 4); with
    ``losses`` the two frame-loss curves are drawn faintly on a second y axis (same x axis).

    Args:
        delta: ``[T]`` per-column loss difference, perturbed - clean (nats).
        axis: The time axis of the ``T`` columns.
        onset_frame: First perturbed column, or None (no span drawn).
        length_frames: Span length in columns, or None.
        regions: From the ``regions`` table.
        smooth_frames: Moving-average window of the region detector (1: no smoothed curve).
        label: The x axis label (``figures.curves.time_label``).
        losses: ``(clean, perturbed)`` ``[T]`` losses on the same columns (nats), or None.

    Returns:
        PNG bytes, 640 x 240 pixels, without a time stamp (equal inputs give equal bytes), and
        the position of its x axis in the image.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 2.4))
    ax = fig.subplots()
    draw_delta_panel(ax, delta, axis=axis, onset_frame=onset_frame, length_frames=length_frames,
                     smooth_frames=smooth_frames,
                     regions=[(r.name, r.start_frame, r.end_frame) for r in regions if r.found])
    ax.set_xlabel(label)
    ax.set_ylabel("Δℓ (nats)")
    handles, labels = ax.get_legend_handles_labels()
    if losses is not None:
        twin = ax.twinx()
        for curve, color, name in zip(losses, ("tab:blue", "tab:purple"),
                                      ("loss, original", "loss, perturbed"), strict=True):
            twin.plot(axis.seconds, curve, color=color, linewidth=0.5, alpha=0.45, label=name)
        twin.set_ylabel("loss (nats)", fontsize="small")
        extra = twin.get_legend_handles_labels()
        handles, labels = handles + extra[0], labels + extra[1]
        ax.set_zorder(twin.get_zorder() + 1)  # Δℓ on top, its background see-through
        ax.patch.set_visible(False)
    ax.legend(handles, labels, fontsize="x-small", loc="upper right", ncols=3)
    fig.tight_layout(pad=0.4)  # fits the tick labels; the figure keeps its size
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    time0, time1 = ax.get_xlim()
    box = ax.get_position()  # figure fractions, after tight_layout
    return buffer.getvalue(), PlotAxis(float(box.x0), float(box.x1), float(time0), float(time1))


def _optional_int(value) -> int | None:
    return None if pd.isna(value) else int(value)


def _regions_by_key(regions: pd.DataFrame) -> dict[str, tuple[Region, ...]]:
    """Unit key -> its regions in ``REGION_NAMES`` order (a run without spans has none)."""
    if regions.empty or "key" not in regions.columns:
        return {}
    found = {}
    for key, part in regions.groupby("key", sort=False):
        rows = {r["region"]: r for _, r in part.iterrows()}
        found[key] = tuple(
            Region(name, bool(rows[name]["found"]), _optional_int(rows[name]["start_frame"]),
                   _optional_int(rows[name]["end_frame"]), float(rows[name]["mean_delta"]))
            for name in REGION_NAMES if name in rows)
    return found


class _Clips:
    """Copies clips of the run folder into the report until ``budget_bytes`` is spent."""

    def __init__(self, run_dir: Path, assets: AssetFolder, *, compression_level: float,
                 budget_bytes: int):
        self.run_dir, self.assets, self.compression_level = run_dir, assets, compression_level
        self.budget_bytes, self.spent_bytes = budget_bytes, 0
        self._stored: dict[str, str] = {}  # content hash -> path in the report

    def __call__(self, relative, *, absent: str) -> tuple[str | None, str]:
        """``(path in the report or None, why not)`` for a clip path of the run folder."""
        if relative is None or pd.isna(relative):
            return None, absent
        source = inside(self.run_dir, relative)
        if source is None:
            return None, "audio file missing from the run folder"
        data, suffix = playable_clip(source, compression_level=self.compression_level)
        digest = hashlib.sha256(data).hexdigest()
        if digest not in self._stored:
            if self.spent_bytes + len(data) > self.budget_bytes:
                return None, (f"clip left out: the report's audio budget of "
                              f"{self.budget_bytes / 1e6:g} MB is spent (run folder: {relative})")
            self._stored[digest] = self.assets.put(data, folder="audio", stem=source.stem,
                                                   suffix=suffix)
            self.spent_bytes += len(data)
        return self._stored[digest], ""


def build_gallery(tables: dict[str, pd.DataFrame], *, run_dir: Path, assets: AssetFolder,
                  examples_per_dataset: int, smooth_frames: int, compression_level: float,
                  audio_budget_bytes: int) -> list[tuple[str, list[Example]]]:
    """Examples per data set, with their clips and delta plots written into ``assets``.

    Clips are copied in priority order until ``audio_budget_bytes`` is spent: the originals of
    all examples first, then the first perturbed version of every example, then the second...,
    alternating between data sets, so that a long grid never crowds out a data set.

    Args:
        tables: ``deltas``, ``sequence`` and ``regions`` of the analysis.
        run_dir: The run folder (clip paths in the tables are relative to it).
        assets: The report folder being built.
        examples_per_dataset: Items per data set (see ``pick_examples``).
        smooth_frames: Moving-average window of the region detector, frames.
        compression_level: Vorbis setting for clips that are not Ogg already.
        audio_budget_bytes: Most bytes of audio the report may hold.

    Returns:
        ``[(dataset, [Example, ...]), ...]`` in data-set order.
    """
    rows = pick_examples(tables["deltas"], examples_per_dataset=examples_per_dataset)
    groups = [part for _, part in rows.groupby(list(EXAMPLE_COLUMNS), sort=False)]
    datasets = list(dict.fromkeys(part["dataset"].iloc[0] for part in groups))
    rank_in_set: dict[str, int] = {}
    requests = []  # (priority, (group, variant or -1), clip path, note when absent)
    for g, part in enumerate(groups):
        dataset = part["dataset"].iloc[0]
        rank = rank_in_set[dataset] = rank_in_set.get(dataset, -1) + 1
        requests.append(((-1, rank, datasets.index(dataset)), (g, -1),
                         part["clean_audio"].iloc[0], "no audio stored for this item"))
        requests += [((v, rank, datasets.index(dataset)), (g, v), audio,
                      "no audio stored (token-domain perturbation, or not one of the run's audio "
                      "examples)") for v, audio in enumerate(part["audio"])]
    clip = _Clips(run_dir, assets, compression_level=compression_level,
                  budget_bytes=audio_budget_bytes)
    clips = {slot: clip(path, absent=note) for _, slot, path, note in sorted(
        requests, key=lambda r: r[0])}

    losses = tables["sequence"].set_index("key")
    regions = _regions_by_key(tables["regions"])
    plots: dict[tuple, str] = {}  # equal curves and regions are drawn once
    gallery: dict[str, list[Example]] = {}
    for g, part in enumerate(groups):
        variants = []
        for v, (_, unit) in enumerate(part.iterrows()):
            onset, length = _optional_int(unit["onset_frame"]), _optional_int(unit["length_frames"])
            found = regions.get(unit["key"], ())
            delta = np.asarray(unit["delta"], dtype=np.float32)
            curves = (np.asarray(unit["clean_curve"], dtype=np.float32),
                      np.asarray(unit["perturbed_curve"], dtype=np.float32))
            args = dict(onset_frame=onset, length_frames=length, regions=found,
                        smooth_frames=smooth_frames, label=time_label(unit))
            time_axis = unit_axis(unit)
            drawn = (delta.tobytes(), curves[0].tobytes(), curves[1].tobytes(),
                     time_axis.seconds.tobytes(), time_axis.end_seconds, repr(args))
            if drawn not in plots:
                png, axis = plot_delta(delta, losses=curves, axis=time_axis, **args)
                plots[drawn] = (assets.put(png, folder="plots", stem="delta", suffix=".png"),
                                axis)
            audio, note = clips[(g, v)]
            variants.append(Variant(
                perturbation=str(unit["perturbation"]), kind=str(unit["kind"]), onset_frame=onset,
                length_frames=length, loss_perturbed=float(losses.at[unit["key"], "loss_perturbed"]),
                loss_delta=float(losses.at[unit["key"], "loss_delta"]), audio=audio,
                audio_note=note, plot=plots[drawn][0], axis=plots[drawn][1], regions=found))
        first = part.iloc[0]
        audio, note = clips[(g, -1)]
        gallery.setdefault(str(first["dataset"]), []).append(Example(
            **{c: str(first[c]) for c in EXAMPLE_COLUMNS},
            loss_clean=float(losses.at[first["key"], "loss_clean"]), audio=audio,
            audio_note=note, variants=tuple(variants)))
    return list(gallery.items())
