"""Profile metrics: scores of clips and models from the shape of their loss curves.

The paper's proposal made measurable: absolute loss is a poor quality signal, the *shape* of the
per-frame curve carries it. Three levels, registered in ``PROFILE_METRICS``:

- ``clip``: blind descriptors of one clip's NLL curve ``n[t]`` and entropy curve ``h[t]``
  (frame means over codebooks, nats), no reference and no probe;
- ``probe``: a clip's response to short noise probes at seeded positions (``Δℓ[t]`` of each
  probed copy against the clip);
- ``model``: from the paper's controlled injections over a data set (the run tables).

Every metric declares ``degraded``, the direction in which a worse clip or model moves it, fixed
before any validation (``benchmarks/profile_validation.py`` measures whether it holds). A metric
of an empty selection is NaN, never 0.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from noiseloss.analysis.curves import moving_average
from noiseloss.analysis.stats import bootstrap_interval
from noiseloss.errors import ParameterError, check_choice, check_int, check_number, check_range
from noiseloss.registry import Registry

#: Smallest spread of the spike test, nats: a rise below z times this is never a spike (a
#: perfectly flat curve has MAD 0, and a jump on it must still count).
SCALE_FLOOR_NATS = 0.01
#: Added to each row's spread in ``local_bump_z``, nats: a row that hardly varies (a model sure
#: of it everywhere) must not turn a small rise into a large z.
LOCAL_FLOOR_NATS = 0.05


@dataclass(frozen=True)
class ProfileMetric:
    """One profile metric: what it is, and how it is computed.

    Attributes:
        name: Column of the profile tables.
        level: ``clip`` (blind), ``probe`` (clip, needs probes) or ``model`` (injection runs).
        unit: ``nats``, ``nats/s``, ``s`` or ``1`` (a rate).
        degraded: ``higher`` or ``lower``: where a worse clip or model moves it.
        formula: The definition, as in the README.
        compute: Clip and probe metrics: ``Clip -> float``, the value of one clean unit (the
            ``Clip`` computes the shared curves once). Model metrics: the value of one clip
            from its injection units (``units``: a DataFrame with ``peak_short``, ``depth``,
            ``recovery``, ``loss_clean`` per unit); the table gives the mean over clips with a
            bootstrap interval. ``pooled`` model metrics: the value itself, from the list of
            every clip's ``pooled`` contribution.
        pooled: A model metric that is one statistic of the units of all clips (a fit, a
            median curve), not a mean over clips: what one clip contributes, from its units
            (with ``perturbation_seconds``, ``mean_outside_delta``, ``kl``, ``end_frame``,
            ``frame_rate``), computed once; the interval resamples the clips all the same.
        why: A pooled metric's own reason when it is undefined (same input as ``compute``).
        region: Model metrics read from one region: the region (a clip counts only where it
            was found; the table says so when it was found in none).
        fixed_by: ``(detector, why)`` pairs: the region detectors under which this model
            metric is the same for every clip by construction. Under them the table keeps the
            value, gives no interval and says ``why`` in ``note``.
    """

    name: str
    level: str
    unit: str
    degraded: str
    formula: str
    compute: Callable | None = None
    pooled: Callable | None = None
    why: Callable | None = None
    region: str | None = None
    fixed_by: tuple[tuple[str, str], ...] = ()


@dataclass
class Clip:
    """A clean unit as its metrics read it; each shared computation runs once.

    Attributes:
        row: Its row of the results table.
        options: Spike, bump and probe-window settings.
        probes: ``(peak, after)`` of each probe of it (``probe_response``).
    """

    row: pd.Series
    options: ProfileOptions
    probes: list[tuple[float, float]]

    @functools.cached_property
    def curves(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Frame NLL and entropy ``[T]`` (``frame_curves``)."""
        return frame_curves(self.row)

    @functools.cached_property
    def spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """``spike_frames`` of the NLL curve: residual and spike mask."""
        return spike_frames(self.curves[0], window_frames=self.options.baseline_frames,
                            z=self.options.spike_z)

    @functools.cached_property
    def spike_stats(self) -> dict:
        """``spike_metrics`` of ``spikes``."""
        return spike_metrics(*self.spikes)

    @functools.cached_property
    def entropy_stats(self) -> dict:
        """``entropy_metrics`` of the curves."""
        return entropy_metrics(*self.curves)

    def probe_mean(self, which: int) -> float:
        """Mean over probes of ``probe_response``'s value ``which`` (0: peak, 1: after)."""
        return _mean([p[which] for p in self.probes])


def _rows(clip: Clip) -> np.ndarray:
    return np.asarray(clip.row["nll"], dtype=np.float64).reshape(
        int(clip.row["num_codebooks"]), int(clip.row["num_frames"]))


def _after_ends(units: pd.DataFrame) -> tuple[list[np.ndarray], float]:
    """A clip's part of the context-memory metrics, from its units.

    Returns:
        Each unit's KL curve from its injection's end on (units without one, or ending with
        their sequence, left out), and the frame rate.
    """
    after = [np.asarray(k, dtype=np.float64)[int(e):] for k, e in zip(
        units["kl"], units["end_frame"], strict=True) if k is not None and np.size(k) > e]
    return after, float(units["frame_rate"].iloc[0])


def _memory(parts: list[tuple[list[np.ndarray], float]]) -> dict:
    """``memory_after`` of the clips' ``_after_ends``.

    Returns:
        ``tau_half_s``, ``tau_mem_s`` and ``note`` (why they are NaN, or ``""``).
    """
    from noiseloss.analysis.memory import memory_after

    after = [a for curves, _ in parts for a in curves]
    undefined = {"tau_half_s": np.nan, "tau_mem_s": np.nan}
    if not after:
        return {**undefined, "note": "no injection kept its clean unit's length and ended "
                                     "before it (or the run predates context memory)"}
    rate = parts[0][1]
    if not np.isfinite(rate):
        return {**undefined, "note": "the model's columns are events: no time per column"}
    return memory_after(after, frame_rate=rate)


_METRICS = (
    ProfileMetric("mean_loss", "clip", "nats", "higher",
                  "absolute loss: mean over codebooks of each codebook's mean NLL (the baseline "
                  "every profile metric is compared with)",
                  lambda clip: float(clip.row["loss"])),
    ProfileMetric("excess_surprisal", "clip", "nats", "higher",
                  "mean_t (n[t] - h[t]): how much more surprising the clip is than the model "
                  "itself expects (0 for a calibrated model on its own samples)",
                  lambda clip: clip.entropy_stats["excess_surprisal"]),
    ProfileMetric("spike_rate", "clip", "1", "higher",
                  "fraction of the frames with a baseline (all but the first W/4) where "
                  "n[t] - b[t] > z * s, b[t] the median of n over the previous W frames, "
                  "s = max(1.4826 * MAD of n - b over the clip, 0.01 nats)",
                  lambda clip: clip.spike_stats["spike_rate"]),
    ProfileMetric("spike_height", "clip", "nats", "higher",
                  "mean of n[t] - b[t] over the spike frames (NaN without spikes)",
                  lambda clip: clip.spike_stats["spike_height"]),
    ProfileMetric("coarse_bump", "clip", "nats", "higher",
                  "max over windows of B frames of the mean NLL of the first (coarsest) "
                  "codebook row, minus that row's median NLL over the clip (B = 25)",
                  lambda clip: coarse_bump(_rows(clip)[0],
                                           window_frames=clip.options.bump_frames)),
    ProfileMetric("local_bump_z", "clip", "1", "higher",
                  "max over rows r (codebooks; a symbolic model's event attributes) of the "
                  "largest B-frame mean of row r's NLL minus its median, over 1.4826 * MAD of "
                  "row r + 0.05 nats: a local rise in one row, in that row's own spread (B = 25)",
                  lambda clip: local_bump_z(_rows(clip), window_frames=clip.options.bump_frames)),
    ProfileMetric("rate_confident_surprised", "clip", "1", "higher",
                  "fraction of frames with h[t] < median(h) and n[t] > h[t]: the model was "
                  "sure and wrong (the confident, unsurprised quadrant is about 1/2 minus it)",
                  lambda clip: clip.entropy_stats["rate_confident_surprised"]),
    ProfileMetric("rate_uncertain_surprised", "clip", "1", "higher",
                  "fraction of frames with h[t] >= median(h) and n[t] > h[t] (the uncertain, "
                  "unsurprised quadrant is about 1/2 minus it)",
                  lambda clip: clip.entropy_stats["rate_uncertain_surprised"]),
    ProfileMetric("probe_peak", "probe", "nats", "lower",
                  "mean over probes of max Δℓ over [onset - lead, onset + length): how sharply "
                  "the model notices a short noise burst (a model holding no context hardly "
                  "does)",
                  lambda clip: clip.probe_mean(0)),
    ProfileMetric("probe_after", "probe", "nats", "higher",
                  "mean over probes of mean Δℓ over [onset + length, onset + length + A): "
                  "negative when the probe lowers the loss after it (context amnesia)",
                  lambda clip: clip.probe_mean(1)),
    ProfileMetric("onset_sensitivity", "model", "nats", "lower",
                  "mean over clips of the Peak region's largest Δℓ, injections of at most "
                  "short_frames frames",
                  lambda units: _mean(units["peak_short"]), region="peak"),
    ProfileMetric("assimilation_depth", "model", "nats", "higher",
                  "mean over clips of -(mean Δℓ over the Assimilation region), where found: "
                  "how far the loss falls below clean once the model has taken the noise in",
                  lambda units: _mean(units["depth"]), region="assimilation"),
    ProfileMetric("recovery_time", "model", "s", "higher",
                  "mean over clips of (start of Recovery - end of the injection) in seconds, "
                  "where found",
                  lambda units: _mean(units["recovery"]), region="recovery",
                  fixed_by=(("fixed-anchor", "fixed by construction under fixed-anchor: "
                             "Recovery starts 4 frames after the injection in every clip"),)),
    ProfileMetric("length_slope", "model", "nats/s", "lower",
                  "least-squares slope of mean Δℓ outside the span against the injection "
                  "length, over all units, per second of injection",
                  lambda parts: _slope(np.concatenate([x for x, _ in parts]),
                                       np.concatenate([y for _, y in parts])),
                  pooled=lambda units: (units["perturbation_seconds"].to_numpy(float),
                                        units["mean_outside_delta"].to_numpy(float))),
    ProfileMetric("tau_half", "model", "s", "lower",
                  "context memory: time after the end of an injection until K(d), the median "
                  "over units of the KL from the clean context's next-token distributions to "
                  "the injected context's (mean over codebooks), first falls to half its peak",
                  lambda parts: _memory(parts)["tau_half_s"], pooled=_after_ends,
                  why=lambda parts: _memory(parts)["note"]),
    ProfileMetric("tau_mem", "model", "s", "lower",
                  "context memory: time after the end of an injection from which K(d) stays "
                  "below 1 % of its peak (a model that sees only its last W frames: W / frame "
                  "rate)",
                  lambda parts: _memory(parts)["tau_mem_s"], pooled=_after_ends,
                  why=lambda parts: _memory(parts)["note"]),
    ProfileMetric("clean_loss", "model", "nats", "higher",
                  "mean over clips of the clean loss (the absolute baseline)",
                  lambda units: _mean(units["loss_clean"])),
)
PROFILE_METRICS: Registry[ProfileMetric] = Registry("profile metric")
for _m in _METRICS:
    PROFILE_METRICS.register(_m.name, _m, help=_m.formula)


def metrics_of(level: str) -> list[str]:
    """Names of the registered metrics of one level, in the order they were registered."""
    return [name for name in PROFILE_METRICS.ordered()
            if PROFILE_METRICS.get(name).level == level]


def running_baseline(curve, *, window_frames: int) -> np.ndarray:
    """Median of the previous ``window_frames`` finite values, per frame (causal).

    ``b[t] = median(curve[t - W : t])``; NaN while fewer than ``max(1, W // 4)`` of those are
    finite (the clip's first frames).

    Returns:
        float64 ``[T]``.
    """
    check_int("window_frames", window_frames, low=1)
    values = np.asarray(curve, dtype=np.float64)
    padded = np.concatenate([np.full(window_frames, np.nan), values])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window_frames)[:-1]  # [T, W]
    enough = np.isfinite(windows).sum(axis=1) >= max(1, window_frames // 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        median = np.nanmedian(windows, axis=1)
    return np.where(enough, median, np.nan)


def spike_frames(curve, *, window_frames: int, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Residual against the running baseline and the frames where it is a spike.

    Returns:
        ``residual`` float64 ``[T]`` (``curve - running_baseline``, NaN where undefined) and
        ``spikes`` bool ``[T]``: ``residual > z * max(1.4826 * MAD(residual),
        SCALE_FLOOR_NATS)`` (a robust z-score above ``z``).
    """
    check_range("z", z, low=0, low_open=True)
    residual = np.asarray(curve, dtype=np.float64) - running_baseline(
        curve, window_frames=window_frames)
    finite = residual[np.isfinite(residual)]
    if finite.size < 2:
        return residual, np.zeros(residual.shape, dtype=bool)
    scale = max(1.4826 * float(np.median(np.abs(finite - np.median(finite)))),
                SCALE_FLOOR_NATS)
    with np.errstate(invalid="ignore"):
        return residual, (residual > z * scale) & np.isfinite(residual)


def flag_spans(mask, *, merge_frames: int) -> list[tuple[int, int]]:
    """Runs of true frames ``[start, end)``, joining runs separated by at most ``merge_frames``."""
    check_int("merge_frames", merge_frames, low=0)
    frames = np.flatnonzero(np.asarray(mask, dtype=bool))
    spans: list[list[int]] = []
    for t in frames:
        if spans and t - spans[-1][1] <= merge_frames:
            spans[-1][1] = int(t) + 1
        else:
            spans.append([int(t), int(t) + 1])
    return [(a, b) for a, b in spans]


def spike_metrics(residual, spikes) -> dict:
    """``spike_rate`` and ``spike_height`` from ``spike_frames``' residual and spike mask."""
    scored = np.isfinite(residual)
    return {"spike_rate": float(spikes.sum() / scored.sum()) if scored.any() else np.nan,
            "spike_height": float(residual[spikes].mean()) if spikes.any() else np.nan}


def entropy_metrics(nll, entropy=None) -> dict:
    """``excess_surprisal`` and the two ``rate_*`` of frame curves (NaN without entropy)."""
    out = dict.fromkeys(("excess_surprisal", "rate_confident_surprised",
                         "rate_uncertain_surprised"), np.nan)
    if entropy is None:
        return out
    n, h = np.asarray(nll, dtype=np.float64), np.asarray(entropy, dtype=np.float64)
    both = np.isfinite(n) & np.isfinite(h)
    if not both.any():
        return out
    n, h = n[both], h[both]
    confident, surprised = h < np.median(h), n > h
    out.update(
        excess_surprisal=float((n - h).mean()),
        rate_confident_surprised=float((confident & surprised).mean()),
        rate_uncertain_surprised=float((~confident & surprised).mean()))
    return out


def coarse_bump(first_row, *, window_frames: int) -> float:
    """``coarse_bump``: the largest B-frame mean of the first codebook's NLL above its median.

    Args:
        first_row: ``[T]`` NLL of the first row of the NLL matrix (MusicGen: codebook 0; a
            stereo model: the first channel's codebook 0), nats.
        window_frames: B.

    Returns:
        Nats; NaN when no frame is scored.
    """
    row = np.asarray(first_row, dtype=np.float64)
    if not np.isfinite(row).any():
        return np.nan
    windows = moving_average(row, window_frames=window_frames)
    return float(np.nanmax(windows) - np.nanmedian(row))


def local_bump_z(nll, *, window_frames: int) -> float:
    """``local_bump_z``: the largest local rise of any row's NLL, in that row's robust spread.

    ::

        z[r] = (max_t mean(n[r, t-B/2 .. t+B/2]) - median(n[r])) / (1.4826 MAD(n[r]) + floor)

    A damaged stretch raises the loss of the rows it touches for a while (a transposed section:
    the pitch row; a splice: every row at the joins), which a clip-wide mean dilutes.

    Args:
        nll: ``[R, T]`` NLL matrix (codebooks, or a symbolic model's event attributes), nats.
        window_frames: B (the centred ``moving_average``).

    Returns:
        ``max_r z[r]`` over the rows with a finite value (``LOCAL_FLOOR_NATS`` is the floor);
        NaN when no row has one.
    """
    rows = np.atleast_2d(np.asarray(nll, dtype=np.float64))
    best = np.nan
    for row in rows:
        if not np.isfinite(row).any():
            continue
        median = np.nanmedian(row)
        spread = 1.4826 * np.nanmedian(np.abs(row - median)) + LOCAL_FLOOR_NATS
        z = (np.nanmax(moving_average(row, window_frames=window_frames)) - median) / spread
        best = np.fmax(best, z)
    return float(best)


def probe_response(delta, *, onset_frame: int, length_frames: int, lead_frames: int,
                   after_frames: int) -> tuple[float, float]:
    """One probe's ``(peak, after)``: max Δℓ over the span (with its lead), mean Δℓ after it.

    ::

        frames   onset-lead .. onset .. onset+length) [onset+length .. +after_frames)
                 |------------ peak -------------|    |------------ after ---------|

    Returns:
        Two floats, NaN where the window holds no finite value.
    """
    d = np.asarray(delta, dtype=np.float64)
    end = onset_frame + length_frames
    windows = (d[max(onset_frame - lead_frames, 0):end], d[end:end + after_frames])
    peak, after = (w[np.isfinite(w)] for w in windows)
    return (float(peak.max()) if peak.size else np.nan,
            float(after.mean()) if after.size else np.nan)


def _mean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else np.nan


def _slope(lengths, values) -> float:
    x, y = np.asarray(lengths, dtype=np.float64), np.asarray(values, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.unique(x).size < 2:
        return np.nan
    return float(np.polyfit(x, y, 1)[0])


def _region(regions: pd.DataFrame, name: str, column: str) -> pd.Series:
    """``column`` of region ``name`` per unit key (float; NaN where the region is empty)."""
    rows = regions[(regions["region"] == name) & regions["found"].astype(bool)]
    return rows.set_index("key")[column].astype("float64")


#: Columns that identify a family of injections in the model-level table.
MODEL_KEYS = ("model", "dataset", "family", "prompt", "alignment")


def model_metrics(sequence: pd.DataFrame, regions: pd.DataFrame, *, short_frames: int,
                  seed: int, kl: pd.Series | None = None) -> pd.DataFrame:
    """The ``model`` metrics per model x data set x injection family, with bootstrap intervals.

    Each metric is a statistic over clips (items); its 95 % interval resamples clips with
    replacement (``bootstrap_interval``, seeded per row), keeping all units of a drawn clip.

    Args:
        sequence: The analysis' ``sequence`` table (``perturbation_frames``,
            ``perturbation_seconds``, ``onset_seconds``, ``length_seconds``, ``loss_clean``,
            ``mean_outside_delta``).
        regions: The analysis' ``regions`` table (``region``, ``found``, ``start_seconds``,
            ``peak_delta``, ``mean_delta``).
        kl: Each unit's KL curve ``[T]`` from its clean unit (``results.parquet`` ``kl``) by
            key, for the context-memory metrics (None: they are undefined).
        short_frames: Longest injection counted by ``onset_sensitivity``, frames.
        seed: Base seed of the intervals.

    Returns:
        One row per (``MODEL_KEYS``, metric): ``value``, ``ci_low``, ``ci_high``, ``n_clips``,
        ``unit`` and ``note``: empty when value and interval are given, else the one sentence
        that says why not (``model_note``); families without a span (MIDI edits) are left out.
    """
    check_int("short_frames", short_frames, low=1)
    columns = [*MODEL_KEYS, "metric", "value", "ci_low", "ci_high", "n_clips", "unit", "note"]
    if sequence.empty or regions.empty:
        return pd.DataFrame(columns=columns)
    units = sequence.dropna(subset=["onset_frame", "length_frames"])
    per_unit = units[[*MODEL_KEYS, "key", "item", "perturbation_frames", "perturbation_seconds",
                      "onset_seconds", "length_seconds", "loss_clean", "mean_outside_delta",
                      "frame_rate"]].set_index("key")
    per_unit["kl"] = None if kl is None else kl.reindex(per_unit.index)
    per_unit["end_frame"] = (units["onset_frame"] + units["length_frames"]).to_numpy(int)
    end = per_unit["onset_seconds"] + per_unit["length_seconds"]
    per_unit["peak"] = _region(regions, "peak", "peak_delta")
    per_unit["depth"] = -_region(regions, "assimilation", "mean_delta")
    per_unit["recovery"] = _region(regions, "recovery", "start_seconds") - end
    short = per_unit["perturbation_frames"] <= short_frames
    per_unit["peak_short"] = per_unit["peak"].where(short)
    detectors = regions["detector"].dropna().unique() if "detector" in regions else ()
    detector = str(detectors[0]) if len(detectors) == 1 else None
    rows = []
    for number, (group, part) in enumerate(per_unit.groupby(list(MODEL_KEYS), dropna=False,
                                                            sort=True)):
        clips = [unit for _, unit in part.groupby("item")]
        for metric in metrics_of("model"):
            row_seed = seed + 1000 * number + len(rows)
            info = PROFILE_METRICS.get(metric)
            if info.pooled:
                parts = [info.pooled(c) for c in clips]

                def pooled(index, info=info, parts=parts):
                    return info.compute([parts[int(i)] for i in index])

                index = np.arange(len(clips), dtype=np.float64)
                value, count = pooled(index), len(clips)
                low, high = bootstrap_interval((index,), pooled, seed=row_seed)
            else:
                values = np.array([PROFILE_METRICS.get(metric).compute(c) for c in clips],
                                  dtype=np.float64)
                values = values[np.isfinite(values)]
                value, count = _mean(values), int(values.size)
                low, high = bootstrap_interval((values,), np.mean, seed=row_seed)
            note = model_note(metric, value=value, low=low, n_clips=count, detector=detector,
                              lengths=part["perturbation_frames"], short_frames=short_frames,
                              run_has_short=bool(short.any()),
                              why=info.why(parts) if info.why and not np.isfinite(value)
                              else None)
            if dict(PROFILE_METRICS.get(metric).fixed_by).get(detector):
                low = high = np.nan  # the same for every clip by construction: no interval
            rows.append({**dict(zip(MODEL_KEYS, group, strict=True)), "metric": metric,
                         "value": value, "ci_low": low, "ci_high": high, "n_clips": count,
                         "unit": PROFILE_METRICS.get(metric).unit, "note": note})
    return pd.DataFrame(rows, columns=columns)


def model_note(metric: str, *, value: float, low: float, n_clips: int, detector: str | None,
               lengths, short_frames: int, run_has_short: bool = True,
               why: str | None = None) -> str:
    """Why a model metric of one family has no value or no interval, in one sentence.

    Args:
        metric: A ``model`` metric of ``PROFILE_METRICS``.
        value: Its value (NaN: undefined).
        low: The lower end of its interval (NaN: no interval).
        n_clips: Clips it averages.
        detector: The region detector of the run (``fixed_by`` of the metric).
        lengths: The family's injection lengths, frames.
        short_frames: Longest injection counted by ``onset_sensitivity``.
        run_has_short: Whether any family of the run has an injection that short.
        why: The metric's own reason for an undefined value (``ProfileMetric.why``).

    Returns:
        ``""`` when value and interval are both given; else, first that applies: fixed by
        construction under ``detector``; "no injection of ≤ N frames in this run (family)";
        "REGION not found in any clip"; ``why``; too few lengths for ``length_slope``; "one
        clip: no interval"; undefined on most bootstrap resamples.
    """
    info = PROFILE_METRICS.get(metric)
    fixed = dict(info.fixed_by).get(detector)
    if fixed:
        return fixed
    lengths = pd.Series(lengths).dropna()
    if not np.isfinite(value):
        if metric == "onset_sensitivity" and not (lengths <= short_frames).any():
            where = "family" if run_has_short else "run"
            return f"no injection of ≤ {short_frames} frames in this {where}"
        if info.region is not None:
            return f"{info.region} not found in any clip"
        if why:
            return why
        if metric == "length_slope":
            return (f"needs ≥ 2 injection lengths (has {lengths.nunique()})"
                    if lengths.nunique() < 2 else f"needs ≥ 3 units (has {lengths.size})")
        return "undefined: no clip has a value"
    if not np.isfinite(low):
        return ("one clip: no interval" if n_clips < 2 else
                "no interval: undefined on most bootstrap resamples")
    return ""


#: Degraded direction of a metric -> sort order that puts the most suspect clips first.
_SUSPECT_FIRST = {"higher": False, "lower": True}


@dataclass(frozen=True)
class ProfileOptions:
    """What ``profile`` measures (the one home of its defaults).

    Attributes:
        probes: Noise probes per clip (0: blind metrics only).
        probe_frames: Length of each probe of an audio model, frames.
        probe_level_db: Probe level of an audio model, dB relative to the excerpt's RMS.
        score_probe_seconds: Length of each probe of a symbolic model, seconds: its notes
            replaced by random ones (``note-noise``, symbolic white noise).
        context_seconds: No probe starts before this in a full excerpt (the model needs a
            context to lose).
        tail_seconds: No probe starts within this of a full excerpt's end (room for its
            response). A shorter clip gets its probes at the same fractions of its length
            (``onset_fractions``).
        min_clip_seconds: Shorter clips are refused, each naming it (None: 3 s, or the
            excerpt if shorter; 0: any length; ``shortest_clip_seconds``).
        after_frames: A of ``probe_after``: frames after the probe that are averaged.
        excerpt_seconds: Seconds of each clip scored, from its start.
        baseline_frames: W of the running baseline of the spike metrics, frames.
        bump_frames: B of ``coarse_bump``, frames.
        spike_z: Spike threshold, robust z-score.
        merge_frames: Spike frames at most this far apart form one flagged span.
        short_frames: Longest injection counted by the model metric ``onset_sensitivity``.
        seed: Seeds the probe onsets, the noise and the bootstrap intervals.
        rank_by: Metric of the ranked table (None: ``probe_peak`` with probes, else
            ``excess_surprisal``).
    """

    probes: int = 8
    probe_frames: int = 8
    probe_level_db: float = -12.0
    score_probe_seconds: float = 1.0
    context_seconds: float = 2.0
    tail_seconds: float = 2.0
    min_clip_seconds: float | None = None
    after_frames: int = 50
    excerpt_seconds: float = 15.0
    baseline_frames: int = 50
    bump_frames: int = 25
    spike_z: float = 3.0
    merge_frames: int = 2
    short_frames: int = 10
    seed: int = 0
    rank_by: str | None = None

    def __post_init__(self):
        check_int("probes", self.probes, low=0)
        for name in ("probe_frames", "after_frames", "baseline_frames", "bump_frames",
                     "short_frames"):
            check_int(name, getattr(self, name), low=1)
        check_int("merge_frames", self.merge_frames, low=0)
        check_int("seed", self.seed, low=0, high=2 ** 63 - 1)
        check_number("probe_level_db", self.probe_level_db, high=40.0)
        check_number("score_probe_seconds", self.score_probe_seconds, low=0.0, low_open=True)
        check_number("spike_z", self.spike_z, low=0.0, low_open=True)
        check_number("excerpt_seconds", self.excerpt_seconds, low=0.0, low_open=True)
        for name in ("context_seconds", "tail_seconds"):
            check_number(name, getattr(self, name), low=0.0)
        if self.min_clip_seconds is not None:
            check_number("min_clip_seconds", self.min_clip_seconds, low=0.0,
                         high=self.excerpt_seconds)
        if self.probes and self.context_seconds >= self.excerpt_seconds - self.tail_seconds:
            raise ParameterError(
                f"no room for probes: context_seconds ({self.context_seconds}) must be below "
                f"excerpt_seconds - tail_seconds ({self.excerpt_seconds - self.tail_seconds})")
        if self.rank_by is not None:
            check_choice("rank_by", self.rank_by, [*metrics_of("clip"), *metrics_of("probe")])

    @property
    def ranking(self) -> str:
        """The metric the table is ranked by."""
        return self.rank_by or ("probe_peak" if self.probes else "excess_surprisal")

    @property
    def shortest_clip_seconds(self) -> float:
        """The shortest clip profiled, seconds (``min_clip_seconds`` resolved)."""
        return (self.min_clip_seconds if self.min_clip_seconds is not None
                else min(3.0, self.excerpt_seconds))

    def onset_fractions(self) -> list[float]:
        """The probe onsets as fractions of each clip's scored length (sorted; every clip).

        Drawn in ``[context_seconds, excerpt_seconds - tail_seconds] / excerpt_seconds``: a
        full excerpt gets its probes at those seconds, a shorter clip at the same fractions of
        its length (a 10 s clip of the defaults: between 1.33 s and 8.67 s)::

            full excerpt  |--context--|====== probes ======|--tail--|
            shorter clip  |-context'-|=== probes ===|-tail'-|          (same fractions)
        """
        rng = np.random.default_rng(self.seed)
        low, high = (self.context_seconds / self.excerpt_seconds,
                     1.0 - self.tail_seconds / self.excerpt_seconds)
        return sorted(round(float(t), 4) for t in rng.uniform(low, high, size=self.probes))

    def perturbations(self, modality: str = "audio") -> list[dict]:
        """The probe specs of the run config for a model of ``modality``.

        Audio: white noise replacing ``probe_frames`` frames at ``probe_level_db``; symbolic:
        random notes replacing those of ``score_probe_seconds`` (``note-noise``), seeded by the
        run's seed. Both start at ``onset_fractions`` of each clip.
        """
        check_choice("modality", modality, ("audio", "symbolic"))
        if modality == "symbolic":
            return [{"kind": "note-noise", "onset_fraction": onset,
                     "length_seconds": self.score_probe_seconds}
                    for onset in self.onset_fractions()]
        return [{"kind": "noise", "color": "white", "mode": "replace", "level_ref": "signal",
                 "level_db": self.probe_level_db, "onset_fraction": onset,
                 "length_frames": self.probe_frames} for onset in self.onset_fractions()]


def frame_curves(row) -> tuple[np.ndarray, np.ndarray | None]:
    """Frame NLL and entropy ``[T]`` of a results row (entropy None when not stored)."""
    from noiseloss.analysis.curves import frame_curve

    shape = {"num_codebooks": int(row["num_codebooks"]), "num_frames": int(row["num_frames"])}
    entropy = row.get("entropy")  # None in stores written before entropy was stored
    return (frame_curve(row["nll"], **shape),
            frame_curve(entropy, **shape) if entropy is not None else None)


CLIP_COLUMNS = ("model", "dataset", "item", "prompt", "key", "audio", "frames", "frame_rate",
                "n_probes")


def clip_tables(results: pd.DataFrame, *, deltas: pd.DataFrame | None,
                options: ProfileOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The clip table (metrics per clean unit) and the flagged spans, from a results table.

    Args:
        results: ``results.parquet`` (``read_results``); its clean units are the clips.
        deltas: The analysis' ``deltas`` table of the probes (``clean_key`` names the clip),
            or None: no probe metrics (NaN, ``n_probes`` 0).
        options: Spike and probe-window settings and the ranking.

    Returns:
        ``clips``: ``CLIP_COLUMNS``, every clip and probe metric and ``rank`` (1 = most suspect
        by ``options.ranking`` within its model); ``spans``: model, dataset, item, start_s,
        end_s, peak_nats (the largest residual above the running baseline in the span).
    """
    rows, spans = [], []
    metric_columns = [*metrics_of("clip"), *metrics_of("probe")]
    for _, row in results[results["kind"] == "clean"].iterrows():
        responses = []
        if deltas is not None:
            for _, probe in deltas[deltas["clean_key"] == row["key"]].iterrows():
                if pd.notna(probe["onset_frame"]):
                    responses.append(probe_response(
                        probe["delta"], onset_frame=int(probe["onset_frame"]),
                        length_frames=int(probe["length_frames"]),
                        lead_frames=int(probe["lead_frames"]),
                        after_frames=options.after_frames))
        clip = Clip(row, options, responses)
        rows.append({**{c: row.get(c) for c in CLIP_COLUMNS}, "frames": int(row["num_frames"]),
                     "n_probes": len(responses),
                     **{name: PROFILE_METRICS.get(name).compute(clip) for name in metric_columns}})
        residual, mask = clip.spikes
        seconds = np.asarray(row["time_s"], dtype=np.float64)
        for start, end in flag_spans(mask, merge_frames=options.merge_frames):
            spans.append({"model": row["model"], "dataset": row["dataset"], "item": row["item"],
                          "start_s": float(seconds[start]),
                          "end_s": float(seconds[end]) if end < seconds.size
                          else float(row["duration_seconds"]),
                          "peak_nats": float(np.nanmax(residual[start:end]))})
    clips = pd.DataFrame(rows, columns=[*CLIP_COLUMNS, *metric_columns])
    ranking = options.ranking
    ascending = _SUSPECT_FIRST[PROFILE_METRICS.get(ranking).degraded]
    clips = clips.sort_values(["model", ranking], ascending=[True, ascending],
                              na_position="last", kind="stable").reset_index(drop=True)
    clips.insert(0, "rank", clips.groupby("model").cumcount() + 1)
    return clips, pd.DataFrame(spans, columns=["model", "dataset", "item", "start_s", "end_s",
                                               "peak_nats"])
