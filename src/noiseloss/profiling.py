"""``noiseloss.profile``: profile metrics of clips, and ``noiseloss.correlate`` with ratings.

::

    SOURCES (folders, files, demo:NAME)           OUT/
      -> one data set each                          run/          the run folder (store,
      -> clean excerpt + M noise probes                           results.parquet, resumable)
         at seeded onsets (one shared prefix)       clips.parquet, clips.csv  one row per clip
      -> clip metrics (blind + probe)               spans.parquet, spans.csv  flagged spans
                                                    plots/*.png, index.html, profile.json

Probes are white-noise bursts of ``probe_frames`` frames that replace the music at
``ProfileOptions.probes`` onsets drawn once from ``seed`` in
``[context_seconds, excerpt_seconds - tail_seconds]``; every clip gets the same onsets (a clip too
short for one is listed in ``OUT/run/failed.json``). The metrics are defined in
``noiseloss.analysis.profile``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from noiseloss.analysis.profile import PROFILE_METRICS, ProfileOptions, clip_tables, metrics_of
from noiseloss.errors import ParameterError


@dataclass
class ProfileResult:
    """What ``profile`` wrote: the clip and span tables and the page."""

    clips: pd.DataFrame
    spans: pd.DataFrame
    out_dir: Path
    page: Path | None = None
    failed: dict = field(default_factory=dict)


def datasets_of(sources: Sequence[str | Path]):
    """One ``DatasetSpec`` per source: a built-in set (``demo:NAME``), a folder or one file.

    Built-in sets are those of ``noiseloss.sources.datasets.SOURCES`` (``demo-midi:ood``, ...).
    """
    from noiseloss.sources.datasets import SOURCES, DatasetSpec

    if not sources:
        raise ParameterError("give at least one source (a folder, a file or demo:NAME)")
    specs, names = [], set()
    for source in sources:
        text = str(source)
        path = Path(text)
        prefix, colon, which = text.partition(":")
        if path.is_dir():
            name, kwargs = path.resolve().name, {"path": str(path)}
        elif path.is_file():
            name, kwargs = path.stem, {"path": str(path)}
        elif colon and prefix in SOURCES:
            name, kwargs = which if prefix == "demo" else f"{prefix}-{which}", {"source": text}
        else:
            raise ParameterError(f"source not found: {text} (a folder, a file or a built-in "
                                 f"set: {', '.join(f'{s}:NAME' for s in SOURCES)})")
        base, n = name or "clips", 1
        while name in names or not name:
            n += 1
            name = f"{base}-{n}"
        names.add(name)
        specs.append(DatasetSpec(name=name, **kwargs))
    return specs


def profile_config(sources, *, model: str, backend: str | None = None,
                   model_options: dict | None = None, options: ProfileOptions,
                   scoring=None, modality: str = "audio"):
    """The ``ExperimentConfig`` that scores the clips and their probes (validated as a file).

    ``modality``: the model's (``ProfileOptions.perturbations``: noise or note-noise probes).
    """
    from noiseloss.config import ModelSpec, parse_config
    from noiseloss.scoring.options import ScoringOptions

    return parse_config({
        "name": "profile",
        "description": "clean clips and their noise probes (noiseloss profile)",
        "models": [ModelSpec(model, backend=backend, options=dict(model_options or {})).to_data()],
        "datasets": {d.name: d.to_dict() for d in datasets_of(sources)},
        "excerpt": {"seconds": options.excerpt_seconds, "min_seconds": options.shortest_clip_seconds},
        "seeds": [options.seed],
        "perturbations": options.perturbations(modality),
        "scoring": dataclasses.asdict(scoring or ScoringOptions()),
        "report": {"audio_examples": 0}}, name="profile")


def profile(sources: Sequence[str | Path], *, model: str = "demo", out_dir: str | Path,
            backend: str | None = None, model_options: dict | None = None,
            options: ProfileOptions | None = None, scoring=None, page: bool = True,
            on_progress: Callable[[str, int, int], None] | None = None) -> ProfileResult:
    """Score clips and their probes, compute every clip metric, write the tables and the page.

    Args:
        sources: Folders, files or built-in sets (``demo:NAME``, ``demo-midi:NAME``; each one
            data set).
        model: Registered name, Hugging Face id in the local cache or folder.
        out_dir: Output folder (``OUT/run`` is resumable: a rerun scores only what is missing).
        backend: Model backend when the folder does not say.
        model_options: The backend's own options.
        options: What is measured (None: ``ProfileOptions()``).
        scoring: ``ScoringOptions`` (None: the defaults).
        page: Also draw the plots and write ``index.html``.
        on_progress: ``on_progress(description, done, total)`` after each scored group.
    """
    import pyarrow as pa

    from noiseloss.analysis.run import analyze_results, read_results
    from noiseloss.models import model_info
    from noiseloss.runner.run import run_experiment
    from noiseloss.store.io import write_csv, write_json, write_parquet

    options = options or ProfileOptions()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():  # checked before any work
        raise ParameterError(f"out_dir {out} exists and is not a folder")
    modality = model_info(model, backend=backend, **(model_options or {})).modality
    config = profile_config(sources, model=model, backend=backend, model_options=model_options,
                            options=options, scoring=scoring, modality=modality)
    summary = run_experiment(config, out / "run", on_progress=on_progress)
    results = read_results(out / "run")
    deltas = analyze_results(results, profile=False)["deltas"] if (
        results["kind"] != "clean").any() else None
    clips, spans = clip_tables(results, deltas=deltas, options=options)
    for name, table in (("clips", clips), ("spans", spans)):
        write_parquet(pa.Table.from_pandas(table, preserve_index=False), out / f"{name}.parquet")
        write_csv(table, out / f"{name}.csv")
    write_json({"options": dataclasses.asdict(options), "ranking": options.ranking,
                "probe_onset_fractions": options.onset_fractions(),
                "metrics": {n: dataclasses.asdict(PROFILE_METRICS.get(n)) for n in
                            [*metrics_of("clip"), *metrics_of("probe")]}},
               out / "profile.json")
    result = ProfileResult(clips, spans, out, failed=dict(summary.failed))
    if page:
        from noiseloss.report.profile import write_profile_page

        result.page = write_profile_page(out, clips, spans, options=options)
    return result


def read_profile(path: str | Path) -> pd.DataFrame:
    """The clip table of a profile folder (``clips.parquet``) or a run folder (its clean units).

    A run folder gives the blind metrics of its clean units (``clip_tables`` with no probes
    counted: the run's perturbations are not probes).
    """
    from noiseloss.analysis.run import read_results

    path = Path(path)
    if (path / "clips.parquet").is_file():
        return pd.read_parquet(path / "clips.parquet")
    if (path / "results.parquet").is_file():
        results = read_results(path)
        return clip_tables(results, deltas=None, options=ProfileOptions(probes=0))[0]
    raise ParameterError(f"{path} holds neither clips.parquet (noiseloss profile) nor "
                         "results.parquet (noiseloss run)")


def match_ratings(clips: pd.DataFrame,
                  ratings: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Join each rating to exactly one clip, by its path relative to the sources.

    A clip is a (data set, item) pair, and a rating's ``file`` is compared with its keys from
    the most to the least precise: ``dataset/item`` (the listening-test layout, one folder per
    system: ``sysA/clip0.wav``), the item id, its base name, its stem. The first key that
    names exactly one clip joins the rating to it; a file that names several clips at its most
    precise matching key is ambiguous and left out, never joined to all of them.

    Args:
        clips: A clip table (``dataset``, ``item``; several models give one row per model).
        ratings: Columns ``file``, ``rating`` and optionally ``system``.

    Returns:
        ``(joined, unmatched, ambiguous)``: the clip rows with ``rating`` (and ``system``),
        one per rating and model; the files that matched no clip; those that matched several.
    """
    dataset = clips["dataset"].astype(str) if "dataset" in clips else pd.Series("", clips.index)
    item = clips["item"].astype(str)
    clip_id = dataset + "\0" + item
    keys = [(dataset + "/" + item).str.lstrip("/"), item, item.map(lambda s: Path(s).name),
            item.map(lambda s: Path(s).stem)]
    matched, unmatched, ambiguous = [], [], []
    for _, rating in ratings.iterrows():
        name = str(rating["file"])
        probes = [Path(name).as_posix(), name, Path(name).name, Path(name).stem]
        for key, probe in zip(keys, probes, strict=True):
            hits = clips[key == probe]
            if hits.empty:
                continue
            if clip_id[hits.index].nunique() > 1:
                ambiguous.append(name)
            else:
                matched.append(hits.assign(rating=float(rating["rating"]),
                                           **({"system": str(rating["system"])}
                                              if "system" in ratings else {})))
            break
        else:
            unmatched.append(name)
    joined = pd.concat(matched, ignore_index=True) if matched else clips.iloc[:0].assign(rating=[])
    return joined, unmatched, ambiguous


def read_ratings(path: str | Path) -> pd.DataFrame:
    """A ratings CSV: ``file``, ``rating`` (a number), optional ``system``."""
    path = Path(path)
    try:
        ratings = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read the ratings file {path}: {exc}") from exc
    missing = {"file", "rating"} - set(ratings.columns)
    if missing:
        raise ParameterError(f"{path} lacks the column(s) {sorted(missing)}; it needs file, "
                             f"rating[, system], got {list(ratings.columns)}")
    values = pd.to_numeric(ratings["rating"], errors="coerce")
    bad = ratings.loc[values.isna(), "file"].astype(str).tolist()
    if bad:
        raise ParameterError(f"{path}: rating is not a number for {bad[:5]}"
                             f"{' ...' if len(bad) > 5 else ''}")
    return ratings.assign(rating=values)


#: Fewest clips (systems) with a bootstrap interval of a correlation: below 10, a large share of
#: the resamples hold 3 distinct points or fewer (n = 5: over half), where a correlation is
#: +-1 or undefined, and the interval says nothing (5 systems gave [-1, +1] or NaN).
MIN_INTERVAL_POINTS = 10


def correlation_note(n: int, value: float, *, level: str) -> str:
    """Why a correlation of ``n`` clips or systems has no value or no interval ("" if it has both)."""
    units = "systems" if level == "system" else "clips"
    if not np.isfinite(value):
        return (f"undefined: fewer than 3 {units} (has {n})" if n < 3 else
                "undefined: the metric or the ratings are constant")
    if n < MIN_INTERVAL_POINTS:
        return f"too few {units} for an interval (has {n}, needs ≥ {MIN_INTERVAL_POINTS})"
    return ""


def correlate(source: str | Path, ratings: str | Path | pd.DataFrame | None, *,
              preferences: str | Path | pd.DataFrame | None = None, seed: int = 0) -> dict:
    """Correlations of every clip and probe metric (and mean loss) with human ratings.

    Clip level: over matched clips. System level (when ratings have ``system``): over systems,
    each the mean rating and mean metric of its clips. Spearman, Pearson and Kendall, each with
    a seeded 95 % bootstrap interval over clips (systems) when there are at least
    ``MIN_INTERVAL_POINTS`` of them; ``note`` says why a row has no interval or no value
    (``correlation_note``). ``expected`` is the sign a metric should have if its degraded
    direction holds (higher-is-worse: negative). ``paired`` compares each metric with mean
    loss on the same clips (``analysis.ratings.compare_to_loss``: Williams' test, Holm).

    Args:
        source: A profile folder or a run folder (``read_profile``).
        ratings: A ratings CSV (``read_ratings``), a MusicEval-style folder
            (``analysis.ratings.read_musiceval``), the same as a DataFrame, or None (with
            ``preferences`` only).
        preferences: Pairwise preferences ``file_a, file_b, winner`` (CSV or DataFrame):
            adds ``pairwise``, each metric's share of winners it prefers.
        seed: Seeds the intervals.

    Returns:
        ``{"table": DataFrame, "paired": DataFrame, "pairwise": DataFrame or None,
        "unmatched": [file, ...], "ambiguous": [file, ...], "matched": ratings joined}`` (a
        rating joins one clip; several models: one row each).
    """
    from noiseloss.analysis.ratings import compare_to_loss, read_musiceval
    from noiseloss.analysis.stats import CORRELATIONS, bootstrap_interval, correlation

    clips = read_profile(source)
    if ratings is None:
        table = pd.DataFrame({"file": [], "rating": []})
    elif isinstance(ratings, pd.DataFrame):
        table = ratings
    else:
        table = read_musiceval(ratings) if Path(ratings).is_dir() else read_ratings(ratings)
    joined, unmatched, ambiguous = match_ratings(clips, table)
    all_metrics = [*metrics_of("clip"), *metrics_of("probe")]
    directions = {m: PROFILE_METRICS.get(m).degraded for m in all_metrics}
    pairwise = None
    if preferences is not None:
        pairwise, missed = _pairwise(clips, preferences, metrics=[
            m for m in all_metrics if m in clips and clips[m].notna().any()],
            directions=directions, seed=seed)
        unmatched += missed["unmatched"]
        ambiguous += missed["ambiguous"]
    metrics = [m for m in all_metrics if m in joined and joined[m].notna().any()]
    levels = {"clip": joined}
    if "system" in joined:
        levels["system"] = joined.groupby(["model", "system"])[[*metrics, "rating"]].mean(
        ).reset_index()
    rows = []
    for level, data in levels.items():
        for model, part in data.groupby("model"):
            for metric in metrics:
                expected = -1 if PROFILE_METRICS.get(metric).degraded == "higher" else 1
                for method in CORRELATIONS:
                    def stat(x, y, method=method):
                        return correlation(x, y, method=method)

                    x, y = part[metric].to_numpy(float), part["rating"].to_numpy(float)
                    keep = np.isfinite(x) & np.isfinite(y)
                    value, n = stat(x, y), int(keep.sum())
                    note = correlation_note(n, value, level=level)
                    low, high = (np.nan, np.nan) if note else bootstrap_interval(
                        (x[keep], y[keep]), stat, seed=seed + len(rows))
                    if not note and not (np.isfinite(low) and np.isfinite(high)):
                        note = "no interval: undefined on most bootstrap resamples"
                    rows.append({"level": level, "model": model, "metric": metric,
                                 "method": method, "value": value, "ci_low": low,
                                 "ci_high": high, "n": n, "expected": expected, "note": note})
    return {"table": pd.DataFrame(rows, columns=["level", "model", "metric", "method", "value",
                                                 "ci_low", "ci_high", "n", "expected", "note"]),
            "paired": compare_to_loss(joined, metrics, directions=directions, seed=seed),
            "pairwise": pairwise, "unmatched": unmatched, "ambiguous": ambiguous,
            "matched": len(joined)}


def _pairwise(clips: pd.DataFrame, preferences, *, metrics, directions, seed: int):
    """``pairwise_accuracy`` of the preference pairs whose two files each join one clip.

    Each side is joined as ``match_ratings`` joins a rating (the pair's index rides in
    ``rating``), so a pair never joins a wrong or ambiguous clip.
    """
    from noiseloss.analysis.ratings import pairwise_accuracy, read_preferences

    table = read_preferences(preferences)
    sides, missed = [], {"unmatched": [], "ambiguous": []}
    for side in ("file_a", "file_b"):
        joined, unmatched, ambiguous = match_ratings(
            clips, pd.DataFrame({"file": table[side], "rating": np.arange(len(table))}))
        sides.append(joined.rename(columns={"rating": "pair"}))
        missed["unmatched"] += unmatched
        missed["ambiguous"] += ambiguous
    both = sides[0].merge(sides[1], on=["model", "pair"], suffixes=("", "_b"))
    a = both[["model", *metrics]]
    b = both[["model", *[f"{m}_b" for m in metrics]]].set_axis(["model", *metrics], axis=1)
    winner = table["winner"].to_numpy()[both["pair"].astype(int).to_numpy()]
    return pairwise_accuracy(a, b, winner, metrics, directions=directions, seed=seed), missed
