"""Peak / Assimilation / Recovery regions of a loss-difference curve (paper Sec. 4.2).

Regions are half-open frame intervals ``[start, end)`` of the frame curve
``delta[t] = loss_perturbed[t] - loss_clean[t]``. An empty region is ``None`` and every statistic
of it is missing (NaN), never 0. Detectors are registered in ``DETECTORS``; each takes the curve
first and the keyword options ``onset_frame, length_frames, lead_frames, smooth_frames,
run_frames, peak_window_frames`` (a detector documents the ones it ignores). The defaults of the
options live in ``DetectorOptions`` only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from noiseloss.analysis.curves import moving_average
from noiseloss.errors import check_int, check_range
from noiseloss.registry import Registry

REGION_NAMES = ("peak", "assimilation", "recovery")

#: The sign a region's mean delta must have to count as found (paper Sec. 4.2): the Peak is
#: the loss rising ABOVE clean, Assimilation the loss falling BELOW clean. Recovery is defined
#: by its place (after the span and the Peak), not by a sign: the loss returns towards clean
#: from either side, so any mean counts (0: no requirement).
REGION_SIGNS = {"peak": 1, "assimilation": -1, "recovery": 0}

#: ``status`` of a region in ``region_stats``.
REGION_STATUSES = ("found", "wrong-sign", "empty")

DETECTORS: Registry = Registry("region detector")


@dataclass(frozen=True)
class Regions:
    """The three regions of one curve.

    Attributes:
        peak: ``(start, end)`` frames, end exclusive, or None when empty.
        assimilation: Likewise.
        recovery: Likewise.
        params: The detector's name and the parameters it actually used.
    """

    peak: tuple[int, int] | None
    assimilation: tuple[int, int] | None
    recovery: tuple[int, int] | None
    params: dict = field(default_factory=dict)

    def items(self) -> list[tuple[str, tuple[int, int] | None]]:
        """``(name, interval)`` in the order peak, assimilation, recovery."""
        return [(name, getattr(self, name)) for name in REGION_NAMES]


@dataclass(frozen=True)
class DetectorOptions:
    """How regions are detected: the detector and its options (the one home of their defaults).

    Attributes:
        detector: Registered region detector (``DETECTORS``): ``zero-crossing`` (the paper's
            rule) or ``fixed-anchor`` (the authors' scripts).
        smooth_frames: Moving-average window, frames.
        run_frames: Frames a zero crossing must hold to count as a region boundary.
        peak_window_frames: The peak must start within this many frames after the onset.
        lead_frames: Frames a change may show before the onset, for every unit; None: each
            unit's own, the ``lead_frames`` its results carry from the layout that scored it
            (``Layout.lead_frames``: largest delay - 1 under a delay pattern, 0 without
            delays); stores without that column get ``delay_lead_frames``.
    """

    detector: str = "zero-crossing"
    smooth_frames: int = 5
    run_frames: int = 5
    peak_window_frames: int = 5
    lead_frames: int | None = None

    def __post_init__(self):
        DETECTORS.check(self.detector)
        for name in ("smooth_frames", "run_frames", "peak_window_frames"):
            check_int(name, getattr(self, name), low=1)
        if self.lead_frames is not None:
            check_int("lead_frames", self.lead_frames, low=0)

    def to_dict(self) -> dict:
        """The options as plain data (recorded with the tables)."""
        return dataclasses.asdict(self)


def _interval(start: int, end: int) -> tuple[int, int] | None:
    return (int(start), int(end)) if end > start else None


def _first_run(mask: np.ndarray, *, start: int, run_frames: int) -> int | None:
    """First frame ``t >= start`` with ``mask[t : t + run_frames]`` all true (whole runs only)."""
    tail = mask[max(start, 0):].astype(np.int64)
    if tail.size < run_frames:
        return None
    hits = np.flatnonzero(np.convolve(tail, np.ones(run_frames, np.int64), "valid") == run_frames)
    return max(start, 0) + int(hits[0]) if hits.size else None


def _snap(mask: np.ndarray, guess: int, *, low: int, half_frames: int) -> int:
    """First frame within ``guess +- half_frames`` (and ``>= low``) where ``mask`` holds, else guess.

    Moves a boundary found on the smoothed curve onto the raw curve: a centred moving average
    shifts a step edge by up to half its window.
    """
    lo, hi = max(low, guess - half_frames), min(guess + half_frames + 1, mask.size)
    hits = np.flatnonzero(mask[lo:hi])
    return lo + int(hits[0]) if hits.size else guess


def _check(delta, *, onset_frame, length_frames, lead_frames, smooth_frames, run_frames,
           peak_window_frames) -> np.ndarray:
    check_range("onset_frame", onset_frame, low=0)
    check_range("length_frames", length_frames, low=0)
    check_range("lead_frames", lead_frames, low=0)
    check_range("smooth_frames", smooth_frames, low=1)
    check_range("run_frames", run_frames, low=1)
    check_range("peak_window_frames", peak_window_frames, low=1)
    return np.asarray(delta, dtype=np.float64)


@DETECTORS.register("zero-crossing", help="moving average + zero crossings held for run_frames "
                    "(the paper's Sec. 4.2 rule, default)")
def zero_crossing(delta, *, onset_frame: int, length_frames: int, lead_frames: int,
                  smooth_frames: int, run_frames: int, peak_window_frames: int) -> Regions:
    r"""The paper's rule done right: moving average, zero crossings that hold, no fixed anchors.

    ::

        frame   onset-lead  onset             onset+length                    T
        delta   _______/'''''\_____________________/~~\/~~~~\/~~~~~~~~~~~~~~~~
                       [peak )[assimilation       )[recovery                  )

    1. ``s`` = centred moving average of ``delta`` over ``smooth_frames``.
    2. Peak start: the first frame from ``onset - lead_frames`` on (the layout lets a
       change show up to ``lead_frames`` early) where ``s > 0``. The boundary is moved to the
       first raw ``delta > 0`` within half a window. No peak if it starts at or after
       ``onset + peak_window_frames``.
    3. Peak end: the first later frame from which ``s <= 0`` for ``run_frames`` consecutive
       frames (the crossing "stays across"), moved to the first raw ``delta <= 0`` within half a
       window; the end of the curve if the curve never settles.
    4. Assimilation: from the peak end (the onset without a peak) to the end of the perturbed
       span; Recovery: from the later of span end and peak end to the end of the curve. A peak
       longer than the span leaves Assimilation empty, and Recovery never overlaps the Peak.

    Args:
        delta: ``[T]`` loss difference per frame (nats); NaN frames break runs.
        onset_frame: First perturbed frame.
        length_frames: Perturbed span length in frames (0: a deletion point).
        lead_frames: Frames a change can show before the onset (the unit's resolved lead,
            see ``DetectorOptions.lead_frames``).
        smooth_frames: Moving-average window (1 = none).
        run_frames: Consecutive frames a crossing must hold.
        peak_window_frames: The peak must start within this many frames after the onset.

    Returns:
        ``Regions`` with the parameters used.
    """
    d = _check(delta, onset_frame=onset_frame, length_frames=length_frames,
               lead_frames=lead_frames, smooth_frames=smooth_frames, run_frames=run_frames,
               peak_window_frames=peak_window_frames)
    frames, half = d.size, smooth_frames // 2
    s = moving_average(d, window_frames=smooth_frames)
    low = max(onset_frame - lead_frames, 0)
    span_end = min(onset_frame + length_frames, frames)
    latest = onset_frame + peak_window_frames

    peak, after_peak = None, min(onset_frame, frames)
    guess = _first_run(s > 0, start=low, run_frames=1)
    if guess is not None and guess < latest + half:
        start = _snap(d > 0, guess, low=low, half_frames=half)
        if start < latest:
            settle = _first_run(s <= 0, start=start + 1, run_frames=run_frames)
            end = frames if settle is None else _snap(d <= 0, settle, low=start + 1,
                                                      half_frames=half)
            peak, after_peak = _interval(start, end), end
    return Regions(
        peak=peak,
        assimilation=_interval(after_peak, span_end),
        recovery=_interval(max(span_end, after_peak), frames),
        params={"detector": "zero-crossing", "smooth_frames": smooth_frames,
                "run_frames": run_frames, "peak_window_frames": peak_window_frames,
                "lead_frames": lead_frames})


@DETECTORS.register("fixed-anchor", help="the authors' rule: peak from onset-4, assimilation to "
                    "onset+length+4 (their published script; for comparison only)")
def fixed_anchor(delta, *, onset_frame: int, length_frames: int, lead_frames: int,
                 smooth_frames: int, run_frames: int, peak_window_frames: int) -> Regions:
    """The authors' region rule (``phase5_region_analysis_boxplot_3areas.py``), named as such.

    Their per-token CSV row ``i`` holds the loss of frame ``i + 1`` (onset at row 249 = frame
    250); translated to frames and to any onset::

        baseline     = mean delta over frames [1, onset - 49)         (their diff[:200])
        peak         = [onset - 4, f)   f = first frame >= onset - 4 from which run_frames
                                        consecutive delta <= baseline  (else onset + 46)
        assimilation = [f, onset + length + 4)
        recovery     = [onset + length + 4, T - 1)                   (last frame left out)

    Kept as they had it: no moving average (``smooth_frames`` is ignored), a fixed 4-frame anchor
    (``lead_frames`` and ``peak_window_frames`` are ignored), a peak of length 0 when the rise
    comes one frame late, and a Recovery that may start inside a long Peak. One departure: an
    empty region is ``None`` (missing) where their script recorded 0.

    Returns:
        ``Regions`` with the parameters used (including the baseline).
    """
    d = _check(delta, onset_frame=onset_frame, length_frames=length_frames,
               lead_frames=lead_frames, smooth_frames=smooth_frames, run_frames=run_frames,
               peak_window_frames=peak_window_frames)
    frames, anchor = d.size, 4
    base = d[1:max(onset_frame - 49, 1)]
    baseline = float(np.nanmean(base)) if np.isfinite(base).any() else 0.0
    start = max(onset_frame - anchor, 0)
    settle = _first_run(d <= baseline, start=start, run_frames=run_frames)
    end = onset_frame + 46 if settle is None else settle
    tail = onset_frame + length_frames + anchor
    return Regions(
        peak=_interval(start, min(end, frames)),
        assimilation=_interval(end, min(tail, frames)),
        recovery=_interval(tail, frames - 1),
        params={"detector": "fixed-anchor", "smooth_frames": 1, "run_frames": run_frames,
                "anchor_frames": anchor, "baseline": baseline})


def detect_regions(delta, *, onset_frame: int, length_frames: int, lead_frames: int,
                   options: DetectorOptions | None = None) -> Regions:
    """Run the detector of ``options`` on one ``[T]`` loss-difference curve (see ``DETECTORS``).

    ``lead_frames`` is the resolved lead of this curve (``options.lead_frames`` overrides it).
    """
    options = options or DetectorOptions()
    lead = lead_frames if options.lead_frames is None else options.lead_frames
    return DETECTORS.get(options.detector)(
        delta, onset_frame=onset_frame, length_frames=length_frames, lead_frames=lead,
        smooth_frames=options.smooth_frames, run_frames=options.run_frames,
        peak_window_frames=options.peak_window_frames)


def region_stats(delta, regions: Regions, *, onset_frame: int) -> list[dict]:
    """Statistics of each region on the raw curve; an empty region gives NaN everywhere.

    A detector finds stretches by position and crossings; whether a stretch is the region the
    paper means depends on its sign (``REGION_SIGNS``). ``status`` is ``"empty"`` (no frame
    measured: every statistic NaN), ``"wrong-sign"`` (measured, but the mean delta is not
    > 0 for the Peak or not < 0 for Assimilation, e.g. a curve that rises above clean again
    after the first crossing; statistics given) or ``"found"``; ``found`` is True only for
    ``"found"``.

    Args:
        delta: ``[T]`` loss difference per frame (nats).
        regions: Output of a detector on this curve.
        onset_frame: First perturbed frame (latencies are counted from it).

    Returns:
        One dict per region: ``region``, ``found``, ``status``, ``start_frame``, ``end_frame``
        (exclusive), ``region_frames``, ``mean_delta``, ``peak_delta`` (largest delta) and
        ``peak_latency_frames`` (its frame minus the onset).
    """
    d = np.asarray(delta, dtype=np.float64)
    rows = []
    for name, interval in regions.items():
        seg = d[interval[0]:interval[1]] if interval else d[:0]
        measured = bool(np.isfinite(seg).any())
        mean = float(np.nanmean(seg)) if measured else np.nan
        sign = REGION_SIGNS[name]
        status = ("empty" if not measured else
                  "found" if sign == 0 or np.sign(mean) == sign else "wrong-sign")
        top = int(np.nanargmax(seg)) if measured else 0
        rows.append({
            "region": name,
            "found": status == "found",
            "status": status,
            "start_frame": interval[0] if measured else np.nan,
            "end_frame": interval[1] if measured else np.nan,
            "region_frames": interval[1] - interval[0] if measured else np.nan,
            "mean_delta": mean,
            "peak_delta": float(seg[top]) if measured else np.nan,
            "peak_latency_frames": interval[0] + top - onset_frame if measured else np.nan,
        })
    return rows
