"""Analysis of a run folder: pair each perturbed unit with its clean unit, then derive the tables.

``DIR/results.parquet`` (one row per model x item x perturbation x prompt, from the runner) becomes
``DIR/tables/*.parquet`` (+ ``.csv`` for the tables without array columns) and
``DIR/tables/index.json``, which says what every column is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from noiseloss.analysis.curves import align_to_perturbed, delay_lead_frames, frame_curve
from noiseloss.analysis.profile import (
    PROFILE_METRICS,
    ProfileOptions,
    clip_tables,
    metrics_of,
    model_metrics,
)
from noiseloss.analysis.regions import DetectorOptions, detect_regions, region_stats
from noiseloss.analysis.sequence import METRICS, sequence_stats
from noiseloss.analysis.stats import length_points, trend_tables
from noiseloss.errors import NoiselossError, ParameterError
from noiseloss.models import alignments
from noiseloss.perturb import RESULT_COLUMNS
from noiseloss.store.results import with_times
from noiseloss.timeaxis import TimeAxis

#: A perturbed row pairs with the clean row that agrees on these columns.
PAIR_COLUMNS = ("model", "dataset", "item", "prompt", "alignment")

#: Spec keys of the length a family varies, by priority: the block of swap / permute (the
#: paper's shuffle length), then the span length; each as (frames key, seconds key).
LENGTH_KEYS = (("block_frames", "block_seconds"), ("length_frames", "length_seconds"))

#: Columns of a perturbed unit repeated in the deltas, sequence and regions tables.
UNIT_COLUMNS = ("key", "clean_key", "model", "dataset", "item", "perturbation", "kind", "spec",
                "family", "perturbation_frames", "perturbation_seconds", *RESULT_COLUMNS, "onset_frame",
                "length_frames", "onset_seconds", "length_seconds", "seed", "prompt",
                "alignment", "modality", "num_codebooks", "frame_rate", "lead_frames", "audio",
                "clean_audio")

COLUMN_HELP = {
    "key": "content hash of the perturbed unit (results.parquet)",
    "clean_key": "content hash of the clean unit it is compared with",
    "model": "model name as registered or loaded",
    "dataset": "data set name from the experiment config",
    "item": "item id within the data set",
    "perturbation": "readable label of the perturbation (clean, or kind/params/seed)",
    "kind": "perturbation kind (noise, swap, note-delete, ...)",
    **{name: text for name, (_, text) in RESULT_COLUMNS.items()},
    "onset_frame": "first perturbed token column: a frame of an audio model, an event of a "
                   "symbolic one (missing for edits without a span)",
    "length_frames": "perturbed span length in token columns (missing for edits without a span)",
    "onset_seconds": "start of the perturbed span, seconds into the excerpt",
    "length_seconds": "length of the perturbed span, seconds",
    "modality": "what the model reads: audio (frames) or symbolic (events of a score)",
    "times": "start of each column of the perturbed unit, seconds (the curves' time axis)",
    "duration_seconds": "seconds of the perturbed unit: the end of its time axis",
    "start_seconds": "start of the region, seconds into the excerpt",
    "end_seconds": "end of the region, seconds into the excerpt",
    "seed": "seed of the perturbation",
    "prompt": "text condition: unconditional, text=... or text=...,cfg=... (guided: not a "
              "likelihood)",
    "alignment": "the layout that scored the unit (its backend's; noiseloss models lists them): "
                 + "; ".join(f"{k}: {v}" for k, v in alignments().items()),
    "num_codebooks": "K, codebooks per frame",
    "frame_rate": "frames per second (missing for symbolic models: their columns are events)",
    "spec": "JSON of the perturbation spec",
    "family": "the perturbation spec without its length and seed: units of one family differ "
              "only in perturbation_frames (and seed)",
    "perturbation_frames": "the length a family varies, frames: the block length L of swap and "
                           "permute (the paper's shuffle length), else the span length in the "
                           "spec (missing for score edits, which have no length, and for "
                           "lengths in seconds on a model without frames)",
    "perturbation_seconds": "the length a family varies, seconds (perturbation_frames over the "
                            "frame rate, or the spec's length in seconds): the length axis of "
                            "the trend tests and figures, common to audio and symbolic models",
    "lead_frames": "frames a change can show before the onset in the codebook-averaged curve, "
                   "from the model's layout (mono MusicGen delay pattern: 2; stereo: 2; legacy "
                   "and YuE: 0)",
    "audio": "excerpt actually scored, relative to the run folder",
    "clean_audio": "clean excerpt actually scored, relative to the run folder",
    "frames": "frames of the perturbed unit; the curves are aligned on them",
    "clean_curve": "per-frame loss of the clean unit on the perturbed unit's frames (frames "
                   "after the span shifted when the edit changes the length; NaN where none), "
                   "nats (mean over codebooks)",
    "perturbed_curve": "per-frame loss of the perturbed unit, nats (mean over codebooks)",
    "delta": "per-frame loss difference perturbed - clean, nats, aligned on frames",
    "loss_clean": "whole-item loss of the clean unit (mean over codebooks of per-codebook means)",
    "loss_perturbed": "whole-item loss of the perturbed unit, same definition",
    "loss_delta": METRICS.describe("loss_delta"),
    "frames_all": "frames counted in the *_all_* columns (finite in both curves)",
    "frames_outside": "frames counted in the *_outside_* columns: frames_all minus the span",
    "mean_all_clean": "mean of the clean frame curve over all frames (includes the span)",
    "mean_all_perturbed": "mean of the perturbed frame curve over all frames (includes the span)",
    "mean_all_delta": "mean of delta over all frames (includes the span)",
    "sum_all_clean": "sum of the clean frame curve over all frames",
    "sum_all_perturbed": "sum of the perturbed frame curve over all frames",
    "sum_all_delta": "sum of delta over all frames (includes the span)",
    "mean_outside_clean": "mean of the clean frame curve outside the perturbed span",
    "mean_outside_perturbed": "mean of the perturbed frame curve outside the perturbed span",
    "mean_outside_delta": METRICS.describe("mean_outside_delta"),
    "sum_outside_clean": "sum of the clean frame curve outside the perturbed span",
    "sum_outside_perturbed": "sum of the perturbed frame curve outside the perturbed span",
    "sum_outside_delta": "sum of delta outside the perturbed span (EXCLUDES the span)",
    "detector": "region detector (noiseloss.analysis.DETECTORS)",
    "detector_params": "JSON of the parameters the detector used",
    "region": "peak, assimilation or recovery",
    "found": "true only when status is 'found': the region is not empty and its mean delta "
             "has the region's sign (peak > 0, assimilation < 0, recovery any)",
    "status": "'found'; 'wrong-sign': a stretch was detected but its mean delta has the wrong "
              "sign (statistics are given, found is false); 'empty': no stretch, statistics "
              "missing, never 0",
    "start_frame": "first frame of the region",
    "end_frame": "frame after the last frame of the region",
    "region_frames": "region length in frames",
    "mean_delta": "mean delta over the region, nats",
    "peak_delta": "largest delta in the region, nats",
    "peak_latency_frames": "frame of the largest delta minus the onset frame",
    "metric": "the per-unit column summarised or tested (loss_delta includes the span, "
              "mean_outside_delta excludes it)",
    "n_items": "units (clips x seeds) averaged into the point",
    "mean": "mean of the metric over the units, nats",
    "std": "sample standard deviation (ddof = 1) of the metric over the units, nats",
    "lengths": "perturbation lengths (seconds) present in the test",
    "n_points": "points in the test",
    "pearson_r": "Pearson correlation of length and mean metric",
    "pearson_p": "two-sided permutation p of pearson_r (twice the smaller one-sided p, at "
                 "most 1; see p_method)",
    "pearson_p_less": "one-sided permutation p for a negative correlation (alternative='less'; "
                      "see p_method)",
    "spearman_rho": "Spearman rank correlation of length and mean metric",
    "spearman_p": "two-sided permutation p of spearman_rho (average ranks on ties; see "
                  "p_method)",
    "spearman_p_less": "one-sided permutation p for a negative rank correlation (see p_method)",
    "slope": "least-squares slope of mean metric against length, nats per second of length",
    "intercept": "least-squares intercept, nats",
    "slope_stderr": "standard error of the slope",
    "slope_p": "two-sided permutation p of the slope (orders pairings as pearson_p does, so "
               "equals it; see p_method)",
    "slope_p_less": "one-sided permutation p for a negative slope (see p_method)",
    "r_squared": "coefficient of determination of the regression",
    "p_method": "how the p columns were computed: 'exact' (all n! pairings of lengths and "
                "values, n <= 8; p >= 1/n!) or 'monte-carlo (M permutations)' (seeded; p = "
                "(b + 1)/(M + 1), never below 1/(M + 1))",
    "reason": "why the unit is not in the other tables",
    "note": "why the row has no statistic or no interval, in one sentence (e.g. 'needs ≥ 3 "
            "lengths (has 2)', 'no injection of ≤ 10 frames in this run', 'fixed by "
            "construction under fixed-anchor'); empty when every number of the row is given",
    "rank": "1 = most suspect clip of its model by the ranking metric (excess_surprisal)",
    **{name: PROFILE_METRICS.describe(name) for name in PROFILE_METRICS},
    "value": "the model metric (see metric), in unit",
    "ci_low": "lower end of the 95 % bootstrap interval over clips (seeded)",
    "ci_high": "upper end of the 95 % bootstrap interval over clips (seeded)",
    "n_clips": "clips the metric averages (clips where the region was not found are left out)",
    "unit": "unit of value",
}

TABLE_HELP = {
    "deltas": "one row per perturbed unit: aligned clean/perturbed frame curves and delta",
    "sequence": "one row per perturbed unit: sequence losses (sum, mean; all frames and outside "
                "the span) of clean, perturbed and their difference",
    "regions": "one row per perturbed unit with a span x region (peak, assimilation, recovery)",
    "points": "large-sample points: per family x model x data set x length, mean/std over clips",
    "stats_large": "length vs mean metric, one point per (model, data set, length)",
    "stats_small": "length vs mean metric, one point per length (mean of the large points)",
    "stats_group": "length vs mean metric per (model, data set): the authors' 6-point tests",
    "skipped": "units left out of the analysis, with the reason",
    "profile_clips": "one row per clean unit: absolute loss and the blind profile metrics of its "
                     "NLL and entropy curves (noiseloss.analysis.profile)",
    "profile_model": "model-level profile metrics per model x data set x family, with 95 % "
                     "bootstrap intervals over clips",
}


def read_results(run_dir: str | Path) -> pd.DataFrame:
    """Read ``run_dir/results.parquet`` (any store version); nullable integers stay ``Int64``."""
    from noiseloss.store.results import read_results_table

    path = Path(run_dir) / "results.parquet"
    if not path.is_file():
        raise ParameterError(f"run_dir must hold results.parquet; not found: {path}")
    try:
        results = read_results_table(path).to_pandas()
    except (KeyError, ValueError, TypeError) as exc:  # pyarrow: a column of another type
        raise ParameterError(f"{path} is not a noiseloss results table ({exc})") from exc
    for column in ("onset_frame", "length_frames", "seed"):
        results[column] = results[column].astype("Int64")
    return with_times(results.drop_duplicates("key").reset_index(drop=True))




def _spec(spec: str | None) -> dict:
    try:
        params = json.loads(spec) if spec else {}
    except (TypeError, ValueError):
        return {}
    return params if isinstance(params, dict) else {}


def _length_keys(params: dict) -> tuple[str, str] | None:
    return next((keys for keys in LENGTH_KEYS if any(params.get(k) is not None for k in keys)),
                None)


def family_params(spec: str | None, *, ignore: tuple[str, ...] = ()) -> dict:
    """The parameters a family shares: the spec without kind, seed, length and ``ignore`` keys."""
    params = _spec(spec)
    return {k: v for k, v in params.items()
            if k not in ("kind", "seed", *ignore, *(_length_keys(params) or ()))}


def family_of(spec: str | None, *, kind: str, ignore: tuple[str, ...] = ()) -> str:
    """Readable family label: ``kind`` and ``family_params`` (sorted keys, JSON values).

    Example: ``noise color="white" level_db=-20 mode="replace" onset_frames=250``.
    """
    rest = family_params(spec, ignore=ignore)
    return " ".join([kind, *(f"{k}={json.dumps(rest[k], sort_keys=True)}" for k in sorted(rest))])


def _length(spec: str | None) -> tuple:
    """``(frames, seconds)`` of the length a family varies, as its spec gives them."""
    params = _spec(spec)
    keys = _length_keys(params)
    return (None, None) if keys is None else tuple(params.get(k) for k in keys)


def perturbation_frames(spec: str | None, *, frame_rate: float) -> int | None:
    """The length a family varies, in frames (see ``LENGTH_KEYS``).

    None for a family without a length (score edits, whose span is wherever the notes they
    change lie) and for lengths in seconds on a model without frames.
    """
    frames, seconds = _length(spec)
    if frames is not None:
        return int(frames)
    return None if seconds is None or not frame_rate > 0 else round(float(seconds) * frame_rate)


def perturbation_seconds(spec: str | None, *, frame_rate: float) -> float | None:
    """The length a family varies, in seconds (see ``LENGTH_KEYS``); None without a length.

    A length in frames is converted with ``frame_rate`` (None on a model without frames).
    """
    frames, seconds = _length(spec)
    if seconds is not None:
        return float(seconds)
    return None if frames is None or not frame_rate > 0 else float(frames) / frame_rate


def _optional_int(value) -> int | None:
    return None if pd.isna(value) else int(value)


def _skip(row, reason: str) -> dict:
    return {**{c: row[c] for c in ("key", *PAIR_COLUMNS, "perturbation")}, "reason": reason}


def _curve(row) -> np.ndarray:
    return frame_curve(row["nll"], num_codebooks=int(row["num_codebooks"]),
                       num_frames=int(row["num_frames"]))


def analyze_results(results: pd.DataFrame, *, options: DetectorOptions | None = None,
                    profile: bool = True) -> dict[str, pd.DataFrame]:
    """All tables of the analysis from the results table (no files read or written).

    Args:
        results: ``results.parquet`` as read by ``read_results``.
        options: Region detection (None: ``DetectorOptions()``, the paper's rule).
        profile: Also the profile tables (their bootstrap intervals are most of the time).

    Returns:
        ``deltas``, ``sequence``, ``regions``, ``points``, ``stats_large``, ``stats_small``,
        ``stats_group``, ``skipped`` and, with ``profile``, ``profile_clips`` and
        ``profile_model`` (see ``TABLE_HELP``).
    """
    options = options or DetectorOptions()
    results = with_times(results)
    clean = results[results["kind"] == "clean"]
    twins = clean[clean.duplicated(list(PAIR_COLUMNS), keep=False)]
    if not twins.empty:
        raise ParameterError(
            f"results hold several clean units for one {PAIR_COLUMNS}: "
            f"{twins[list(PAIR_COLUMNS)].drop_duplicates().to_dict('records')[:3]}")
    clean_by_pair = {tuple(r[c] for c in PAIR_COLUMNS): r for _, r in clean.iterrows()}
    deltas, sequence, regions, skipped = [], [], [], []
    perturbed = results[results["kind"] != "clean"].sort_values(
        ["model", "dataset", "item", "kind", "perturbation", "key"])
    for _, row in perturbed.iterrows():
        partner = clean_by_pair.get(tuple(row[c] for c in PAIR_COLUMNS))
        if partner is None:
            skipped.append(_skip(row, "no clean unit with the same " + ", ".join(PAIR_COLUMNS)))
            continue
        onset, length = _optional_int(row["onset_frame"]), _optional_int(row["length_frames"])
        lead = options.lead_frames if options.lead_frames is not None else (
            int(row["lead_frames"]) if pd.notna(row.get("lead_frames")) else delay_lead_frames(
                num_codebooks=int(row["num_codebooks"]), alignment=str(row["alignment"])))
        unit = {c: row[c] for c in UNIT_COLUMNS if c in row.index}
        unit.update(clean_key=partner["key"], clean_audio=partner["audio"], lead_frames=lead,
                    family=family_of(row["spec"], kind=row["kind"]),
                    perturbation_frames=perturbation_frames(
                        row["spec"], frame_rate=float(row["frame_rate"])),
                    perturbation_seconds=perturbation_seconds(
                        row["spec"], frame_rate=float(row["frame_rate"])))
        unit = {c: unit.get(c) for c in UNIT_COLUMNS}
        try:
            curve = _curve(row)
            clean_curve = align_to_perturbed(_curve(partner), num_frames=curve.size,
                                             onset_frame=onset, length_frames=length)
            delta = curve - clean_curve
            seq = sequence_stats(clean_curve, curve, onset_frame=onset, length_frames=length)
            found = None if onset is None or length is None else detect_regions(
                delta, onset_frame=onset, length_frames=length, lead_frames=lead,
                options=options)
        except NoiselossError as exc:
            skipped.append(_skip(row, str(exc)))
            continue
        times = np.asarray(row["time_s"], dtype=np.float64)
        deltas.append({**unit, "frames": curve.size, "times": times,
                       "duration_seconds": float(row["duration_seconds"]),
                       "clean_curve": clean_curve, "perturbed_curve": curve, "delta": delta})
        sequence.append({**unit, "loss_clean": float(partner["loss"]),
                         "loss_perturbed": float(row["loss"]),
                         "loss_delta": float(row["loss"]) - float(partner["loss"]), **seq})
        if found is not None:
            params = json.dumps(found.params, sort_keys=True)
            axis = TimeAxis(times, float(row["duration_seconds"]))
            for stats in region_stats(delta, found, onset_frame=onset):
                start, end = stats["start_frame"], stats["end_frame"]
                onset_s, length_s = (None, None) if pd.isna(start) else axis.span_seconds(
                    int(start), int(end - start))
                regions.append({**unit, "detector": options.detector, "detector_params": params,
                                **stats, "start_seconds": onset_s,
                                "end_seconds": None if onset_s is None else onset_s + length_s})
    tables = {
        "deltas": pd.DataFrame(deltas, columns=[*UNIT_COLUMNS, "frames", "times",
                                                "duration_seconds", "clean_curve",
                                                "perturbed_curve", "delta"]),
        "sequence": pd.DataFrame(sequence),
        "regions": pd.DataFrame(regions),
        "skipped": pd.DataFrame(skipped, columns=["key", *PAIR_COLUMNS, "perturbation",
                                                  "reason"]),
    }
    if tables["sequence"].empty:
        tables["sequence"] = pd.DataFrame(columns=[*UNIT_COLUMNS, *METRICS])
    for name, column in (("deltas", "perturbation_frames"), ("sequence", "perturbation_frames"),
                         ("regions", "perturbation_frames"), ("regions", "start_frame"),
                         ("regions", "end_frame"), ("regions", "region_frames"),
                         ("regions", "peak_latency_frames")):
        if column in tables[name]:
            tables[name][column] = tables[name][column].astype("Int64")
    tables["points"] = length_points(tables["sequence"], metrics=METRICS)
    tables.update(trend_tables(tables["points"]))
    if not profile:
        return tables
    # the run's perturbations are not probes: blind metrics of the clean units only
    blind = ProfileOptions(probes=0)
    clips = clip_tables(results, deltas=None, options=blind)[0]
    tables["profile_clips"] = clips.drop(columns=["n_probes", *metrics_of("probe")])
    tables["profile_model"] = model_metrics(
        tables["sequence"], tables["regions"], short_frames=blind.short_frames, seed=blind.seed,
        kl=results.set_index("key")["kl"] if "kl" in results else None)
    return tables


def _has_arrays(frame: pd.DataFrame) -> bool:
    return any(isinstance(v, np.ndarray) for c in frame.columns
               for v in frame[c].head(1) if frame[c].dtype == object)


def write_tables(tables: dict[str, pd.DataFrame], directory: str | Path, *,
                 options: dict) -> Path:
    """Write each table as Parquet (+ CSV when it has no array columns) and ``index.json``.

    Returns:
        The path of ``index.json``: table -> files, description, column descriptions; plus the
        analysis options.
    """
    import pyarrow as pa

    from noiseloss.store.io import write_csv, write_json, write_parquet

    directory = Path(directory)
    index: dict = {"options": options, "tables": {}}
    for name, frame in tables.items():
        files = {"parquet": f"{name}.parquet"}
        write_parquet(pa.Table.from_pandas(frame, preserve_index=False),
                      directory / files["parquet"])
        if not _has_arrays(frame):
            files["csv"] = f"{name}.csv"
            write_csv(frame, directory / files["csv"])
        index["tables"][name] = {
            **files, "description": TABLE_HELP.get(name, ""),
            "columns": {c: COLUMN_HELP.get(c, "") for c in frame.columns}}
    return write_json(index, directory / "index.json")


def analyze_run(run_dir: str | Path, *,
                options: DetectorOptions | None = None) -> dict[str, pd.DataFrame]:
    """Analyse a run folder: read ``results.parquet``, write ``tables/``, return the tables.

    ``tables/index.json`` records the options (``read_options`` reads them back).

    Args:
        run_dir: Folder holding ``results.parquet``.
        options: Region detection (None: ``DetectorOptions()``, the paper's rule).

    Returns:
        ``dict[str, pandas.DataFrame]`` as ``analyze_results``.
    """
    from noiseloss.store.lock import run_lock

    options = options or DetectorOptions()
    tables = analyze_results(read_results(run_dir), options=options)
    with run_lock(run_dir):
        write_tables(tables, Path(run_dir) / "tables",
                     options={**options.to_dict(), "metrics": list(METRICS)})
    return tables


def read_options(index: dict) -> DetectorOptions | None:
    """The ``DetectorOptions`` recorded in a ``tables/index.json`` mapping (None if absent)."""
    import dataclasses

    recorded = index.get("options") or {}
    names = {f.name for f in dataclasses.fields(DetectorOptions)}
    try:
        return DetectorOptions(**{k: v for k, v in recorded.items() if k in names})
    except (NoiselossError, TypeError):
        return None


def refresh_command(run_dir: str | Path, options: DetectorOptions) -> str:
    """The ``noiseloss analyze`` command that rewrites the tables of ``run_dir`` with ``options``."""
    flags = [f"--{k.replace('_', '-')} {v}" for k, v in options.to_dict().items() if v is not None]
    return f"noiseloss analyze {run_dir} " + " ".join(flags)
