"""``write_report``: a static, offline HTML report of a run folder.

::

    DIR/                                   DIR/report/
      config.yaml, provenance.json    ->     index.html   summary, provenance, statistics,
      failed.json                                         figures, gallery, list of tables
      tables/index.json, *.parquet    ->     tables/<name>.html (+ <name>.csv)
      figures/index.json, *.png, *.pdf ->    figures/<name>-<hash>.png|pdf
      audio/*.ogg (a few items)       ->     audio/<stem>-<hash>.ogg   (players in the gallery)
                                             plots/delta-<hash>.png    (one per gallery variant)
                                             report.css

Every link is relative and every asset is copied, so the folder works from ``file://``, without
network and without JavaScript. Text from the run (file names, labels, metadata) is HTML-escaped
by the templates (jinja2 autoescape). The folder is built aside and swapped in at the end: a
failed build leaves the previous report in place.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from noiseloss.errors import NoiselossError, ParameterError, StaleError, check_range
from noiseloss.report.assets import AssetFolder, inside, safe_stem
from noiseloss.report.findings import (
    build_findings,
    detector_summary,
    family_labels,
    shared_undefined,
)
from noiseloss.report.gallery import build_gallery

#: Tables shown on the main page, in this order (all tables get a page of their own).
STATISTICS = ("stats_small", "stats_large", "stats_group")


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("noiseloss.report", "templates"),
                      autoescape=select_autoescape(["html"], default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["nats"] = lambda v: "NaN" if not math.isfinite(v) else f"{v:.3f}"
    env.filters["signed"] = lambda v: "NaN" if not math.isfinite(v) else f"{v:+.3f}"
    return env


def cell(value) -> str:
    """Text of one table cell: 4 significant digits, NaN spelled out, arrays summarised."""
    if isinstance(value, np.ndarray | list | tuple):
        return f"[{len(value)} values]"
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "NaN"
        return f"{v:.3e}" if v != 0 and abs(v) < 1e-3 else f"{v:.4g}"
    return str(value)


def _rows(frame: pd.DataFrame, *, max_rows: int, titles: dict | None = None) -> dict:
    """Columns, the first ``max_rows`` rows as ``(text, is_number, title)`` cells, the count.

    ``titles`` maps a column to ``{cell text: tooltip}`` (the full spec of a short label).
    """
    titles = titles or {}

    def triple(column, value):
        number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool | np.bool_)
        text = cell(value)
        return text, number, titles[column].get(text, "") if column in titles else ""

    columns = list(frame.columns)
    return {"columns": columns,
            "rows": [[triple(c, v) for c, v in zip(columns, r, strict=True)]
                     for r in frame.head(max_rows).itertuples(index=False, name=None)],
            "total": len(frame)}


#: Columns of the statistics tables on the main page (every column is on the table's page);
#: those in ``OPTIONAL`` only when the run has several values of them.
STAT_COLUMNS = ("family", "model", "dataset", "prompt", "alignment", "metric", "n_points",
                "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "slope", "slope_p")
OPTIONAL = ("family", "prompt", "alignment")


def _constant(frame: pd.DataFrame) -> list[str]:
    """The ``OPTIONAL`` columns of ``frame`` that hold one value only."""
    return [c for c in OPTIONAL if c in frame.columns and frame[c].nunique(dropna=False) <= 1]


def _notes(frame: pd.DataFrame) -> pd.Series:
    """The ``note`` of each row, "" where there is none (and for tables without the column)."""
    if "note" not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    return frame["note"].map(lambda n: n if isinstance(n, str) else "")


def _estimates(frame: pd.DataFrame) -> list[str]:
    """``value [ci_low, ci_high]`` per row of a model-metric table; never a NaN.

    A row without an interval reads ``value (note)``, a row without a value its ``note``.
    """
    out = []
    for v, lo, hi, note in zip(frame["value"], frame["ci_low"], frame["ci_high"],
                               _notes(frame), strict=True):
        if not math.isfinite(v):
            out.append(note or "undefined")
        elif math.isfinite(lo) and math.isfinite(hi):
            out.append(f"{cell(v)} [{cell(lo)}, {cell(hi)}]")
        else:
            out.append(f"{cell(v)} ({note or 'no interval'})")
    return out


def _list(values) -> str:
    return ", ".join(sorted(map(str, pd.unique(pd.Series(list(values))))))


def compact_statistics(frame: pd.DataFrame,
                       labels: dict[str, str]) -> tuple[pd.DataFrame, dict, list[str]]:
    """A statistics table as the main page shows it: short family labels, the key columns.

    Tests that are undefined (a ``note``, e.g. "needs ≥ 3 lengths (has 2)") are not rows of
    NaN: each reason is one sentence that names the families and metrics it holds for.

    Returns the table of the tests that were computed, the tooltips (short label -> full
    family spec) and the sentences.
    """
    drop = [c for c in _constant(frame) if c != "family"]
    keep = [c for c in STAT_COLUMNS if c in frame.columns and c not in drop]
    notes = _notes(frame)
    shown = frame[keep].assign(family=frame["family"].map(lambda f: labels.get(f, f)))
    sentences = [
        f"Not tested ({len(part)} of {len(frame)} rows), {note}: "
        f"{_list(labels.get(f, f) for f in part['family'])} ({_list(part['metric'])})."
        for note, part in frame[notes != ""].groupby(notes[notes != ""], sort=True)]
    return (shown[notes == ""], {"family": {labels.get(f, f): f for f in frame["family"].unique()}},
            sentences)


def _places(rows: pd.DataFrame, keys: list[str], labels: dict[str, str]) -> str:
    return "; ".join(" · ".join(str(labels.get(r[k], r[k]) if k == "family" else r[k])
                                for k in keys) for _, r in rows.iterrows())


def profile_summary(model: pd.DataFrame, labels: dict[str, str] | None = None
                    ) -> tuple[pd.DataFrame, list[str]]:
    """The ``profile_model`` table as the report shows it, and what it leaves out, in words.

    Rows with a value and an interval read ``value [ci_low, ci_high]``. Rows with a ``note``
    (undefined, or the same for every clip by construction under the detector) are one
    sentence per metric and reason instead, with the value where there is one.
    """
    if model.empty:
        return model, []
    labels = labels or {}
    keys = [c for c in ("model", "dataset", *OPTIONAL) if c not in _constant(model)]
    notes = _notes(model)
    sentences = []
    for (metric, note), part in model[notes != ""].groupby(
            ["metric", notes[notes != ""]], sort=False):
        where = (f"all {len(part)} rows" if len(part) == (model["metric"] == metric).sum()
                 else _places(part, keys, labels))
        values = [cell(v) for v in part["value"] if math.isfinite(v)]
        value = (f"; value {_list(values)} {part['unit'].iloc[0]}" if values else "")
        sentences.append(f"{metric}: {note} ({where}{value}).")
    shown = model[notes == ""]
    shown = shown.assign(estimate=_estimates(shown),
                         family=shown["family"].map(lambda f: labels.get(f, f)))
    return shown[[*keys, "metric", "estimate", "unit", "n_clips"]], sentences


def model_comparison(model: pd.DataFrame) -> pd.DataFrame:
    """``profile_model`` with one column per model (``value [ci_low, ci_high]``), or empty."""
    if model.empty or model["model"].nunique() < 2:
        return model.iloc[:0]
    index = ["dataset", *OPTIONAL, "metric", "unit"]
    table = model.assign(estimate=_estimates(model)).pivot_table(
        index=index, columns="model", values="estimate", aggfunc="first").reset_index()
    table.columns.name = None
    return table.drop(columns=_constant(model))


def copy_static(folder: Path, *names: str) -> None:
    """Copy the named files of ``report/templates`` (stylesheet, script) into ``folder``."""
    for name in names:
        source = resources.files("noiseloss.report").joinpath("templates", name)
        (folder / name).write_bytes(source.read_bytes())


def _read_json(path: Path, default):
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else default


def _stale(output: Path, source: Path) -> bool:
    """True when ``output`` is missing or older than an existing ``source``."""
    return not output.is_file() or (source.is_file()
                                    and source.stat().st_mtime > output.stat().st_mtime)


def load_tables(run_dir: Path, config=None) -> tuple[dict[str, pd.DataFrame], dict]:
    """The analysis tables of a run, as ``noiseloss analyze`` (or ``noiseloss run``) wrote them.

    The analysis is never re-run here: its options are the user's choice.

    Returns:
        ``(tables, index)``: name -> DataFrame read from ``tables/*.parquet``, and the content of
        ``tables/index.json`` (descriptions, columns, analysis options).

    Raises:
        StaleError: The tables are missing or older than ``results.parquet``; the message names
            the command that refreshes them, with the options recorded in the tables (else the
            run config's).
    """
    import pyarrow.parquet as pq

    from noiseloss.analysis import DetectorOptions, read_options, refresh_command

    index_path = run_dir / "tables" / "index.json"
    if not index_path.is_file() and not (run_dir / "results.parquet").is_file():
        raise ParameterError(f"run_dir must be a run folder with results.parquet or tables/; "
                             f"neither is in {run_dir}")
    index = _read_json(index_path, {})
    if _stale(index_path, run_dir / "results.parquet"):
        options = read_options(index) or (config.analysis if config else DetectorOptions())
        state = "older than results.parquet" if index_path.is_file() else "missing"
        raise StaleError(f"the analysis tables of {run_dir} are {state}; write them with "
                         f"`{refresh_command(run_dir, options)}`, then rerun the report")
    tables = {name: pq.read_table(run_dir / "tables" / entry["parquet"]).to_pandas()
              for name, entry in index.get("tables", {}).items()}
    return tables, index


def load_figures(run_dir: Path, tables: dict[str, pd.DataFrame]) -> dict:
    """``figures/index.json`` of a run: name -> {png, pdf, table, caption}.

    The figures are drawn first when they are missing or older than the tables.
    """
    index_path = run_dir / "figures" / "index.json"
    if _stale(index_path, run_dir / "tables" / "index.json"):
        from noiseloss.figures import draw_all

        draw_all(run_dir, tables)
    return _read_json(index_path, {})


def _figures(index: dict, *, run_dir: Path, assets: AssetFolder, table_pages: dict) -> list[dict]:
    figures = []
    for name, entry in index.items():
        files = {}
        for kind in ("png", "pdf"):
            source = inside(run_dir / "figures", entry.get(kind))
            files[kind] = assets.copy(source, folder="figures") if source is not None else None
        table = Path(str(entry.get("table") or "")).stem
        figures.append({"name": name, "caption": entry.get("caption", ""), **files,
                        "table": table, "table_page": table_pages.get(table)})
    return figures


def _table_pages(tables: dict[str, pd.DataFrame], index: dict, *, run_dir: Path, root: Path,
                 env, max_rows: int) -> dict[str, dict]:
    """Write ``tables/<name>.html`` (+ the CSV when the analysis wrote one) for every table."""
    pages = {}
    template = env.get_template("table.html")
    for name, frame in tables.items():
        entry = index["tables"][name]
        stem = safe_stem(name)
        csv = inside(run_dir / "tables", entry.get("csv"))
        if csv is not None:
            shutil.copyfile(csv, root / "tables" / f"{stem}.csv")
        page = {"name": name, "html": f"tables/{stem}.html",
                "csv": f"tables/{stem}.csv" if csv is not None else None,
                "description": entry.get("description", ""), "rows": len(frame)}
        (root / page["html"]).write_text(template.render(
            page=page, table=_rows(frame, max_rows=max_rows), help=entry.get("columns", {}),
            csv_name=f"{stem}.csv" if csv is not None else None), encoding="utf-8")
        pages[name] = page
    return pages


def _overview(tables: dict[str, pd.DataFrame]) -> str:
    """One sentence: what was compared (models, data sets, clips, perturbed units)."""
    sequence = tables.get("sequence", pd.DataFrame())
    if sequence.empty:
        return "No perturbed unit was compared with its clean version."
    models, sets = sorted(sequence["model"].unique()), sorted(sequence["dataset"].unique())
    clips = sequence.groupby("dataset")["item"].nunique()
    return (f"{len(sequence)} perturbed units of {clips.sum()} clips compared with their clean "
            f"versions: model(s) {', '.join(map(str, models))}; data set(s) "
            + ", ".join(f"{d} ({clips[d]} clips)" for d in sets) + ".")


def _summary(run_dir: Path, provenance: dict, config) -> list[tuple[str, str]]:
    """``(label, value)`` lines of the run summary."""
    from noiseloss.store.results import read_results_table

    lines = [("run folder", run_dir.resolve().name),
             ("experiment", config.name if config else "")]
    results = run_dir / "results.parquet"
    if results.is_file():
        units = read_results_table(results).select(
            ["model", "dataset", "item", "perturbation"]).to_pandas()
        per_set = units.groupby("dataset", sort=True)["item"].nunique()
        lines += [("models", ", ".join(sorted(units["model"].unique()))),
                  ("items", ", ".join(f"{d}: {n}" for d, n in per_set.items())),
                  ("perturbations", str(units["perturbation"].nunique())),
                  ("units in results", str(len(units)))]
    counts = provenance.get("counts", {})
    if counts:
        lines.append(("last run", ", ".join(f"{k} {v}" for k, v in counts.items())))
    for key in ("date_utc", "git_commit", "device", "dtype", "python", "platform"):
        if provenance.get(key) is not None:
            lines.append((key.replace("_", " "), str(provenance[key])))
    return lines


def write_report(run_dir: str | Path, *, examples_per_dataset: int | None = None,
                 max_table_rows: int = 2000, compression_level: float = 0.6,
                 audio_budget_mb: float = 25.0) -> Path:
    """Write ``run_dir/report/index.html`` and its assets; see the module docstring.

    The analysis tables must be current (``load_tables``); figures are drawn first when they
    are missing or older than the tables (``noiseloss.figures.draw_all``).

    Args:
        run_dir: A run folder (``results.parquet`` or ``tables/`` from ``noiseloss run``).
        examples_per_dataset: Items per data set in the gallery, items with audio first;
            None: the run config's ``report.audio_examples`` (the items it saved audio for).
        max_table_rows: Rows shown on a table's page (the CSV and Parquet hold all of them).
        compression_level: Vorbis setting, 0 (best) .. 1 (smallest), for gallery clips that
            are not Ogg already; Ogg clips are copied unchanged.
        audio_budget_mb: Most audio the report holds, MB (1e6 bytes); clips beyond it are left
            out, originals and the first perturbed versions first (see ``build_gallery``).

    Returns:
        The path of ``index.html``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ParameterError(f"run_dir must be a run folder, got {str(run_dir)!r} (not a directory)")
    from noiseloss.config import ReportOptions, run_config

    config_text = (run_dir / "config.yaml").read_text(encoding="utf-8") \
        if (run_dir / "config.yaml").is_file() else ""
    try:
        config = run_config(run_dir)
    except NoiselossError:  # the report only reads audio_examples from it
        config = None
    if examples_per_dataset is None:
        examples_per_dataset = (config.report if config else ReportOptions()).audio_examples
    check_range("examples_per_dataset", examples_per_dataset, low=0)
    check_range("max_table_rows", max_table_rows, low=1)
    check_range("compression_level", compression_level, low=0.0, high=1.0)
    check_range("audio_budget_mb", audio_budget_mb, low=0.0)

    from noiseloss.store.io import respect_umask
    from noiseloss.store.lock import run_lock

    with run_lock(run_dir):
        # folders a killed report build left behind (no other writer can hold them now)
        for stale in (*run_dir.glob(".report-*"), *run_dir.glob(".report.old-*")):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        build = Path(tempfile.mkdtemp(dir=run_dir, prefix=".report-"))
        respect_umask(build, directory=True)
        try:
            _build_report(build, run_dir, config=config, config_text=config_text,
                          examples_per_dataset=examples_per_dataset,
                          max_table_rows=max_table_rows, compression_level=compression_level,
                          audio_budget_mb=audio_budget_mb)
            _swap(build, run_dir / "report")
        finally:
            if build.exists():
                shutil.rmtree(build)
    return run_dir / "report" / "index.html"


def _build_report(build: Path, run_dir: Path, *, config, config_text: str,
                  examples_per_dataset: int, max_table_rows: int, compression_level: float,
                  audio_budget_mb: float) -> None:
    """Write the report into the empty folder ``build`` (``write_report`` swaps it in)."""
    tables, table_index = load_tables(run_dir, config)
    figure_index = load_figures(run_dir, tables)
    provenance = _read_json(run_dir / "provenance.json", {})
    failed = _read_json(run_dir / "failed.json", provenance.get("failed", {})) or {}
    env = _environment()
    (build / "tables").mkdir()
    assets = AssetFolder(build)
    pages = _table_pages(tables, table_index, run_dir=run_dir, root=build, env=env,
                         max_rows=max_table_rows)
    gallery = build_gallery(
        tables, run_dir=run_dir, assets=assets, examples_per_dataset=examples_per_dataset,
        smooth_frames=max(int(table_index.get("options", {}).get("smooth_frames", 1)), 1),
        compression_level=compression_level,
        audio_budget_bytes=int(audio_budget_mb * 1e6)) if "deltas" in tables else []
    copy_static(build, "report.css", "report.js")
    labels = family_labels(tables.get("sequence", pd.DataFrame()))
    statistics = []
    for name in STATISTICS:
        if name in tables:
            shown, titles, notes = compact_statistics(tables[name], labels)
            statistics.append((pages[name], _rows(shown, max_rows=max_table_rows,
                                                  titles=titles), notes))
    comparison = model_comparison(tables.get("profile_model", pd.DataFrame()))
    profile, profile_notes = profile_summary(tables.get("profile_model", pd.DataFrame()), labels)
    findings = build_findings(tables)
    shared = shared_undefined(findings)
    html = env.get_template("index.html").render(
        title=config.name if config else run_dir.resolve().name,
        description=config.description if config else "",
        summary=_summary(run_dir, provenance, config),
        versions=provenance.get("versions", {}),
        failed=failed,
        provenance_json=json.dumps(provenance, indent=2, ensure_ascii=False, default=str),
        config_text=config_text,
        options=table_index.get("options", {}),
        statistics=statistics,
        findings=findings, shared_undefined=shared,
        shared_sentences=[sentence for sentence, _ in shared], overview=_overview(tables),
        detector=detector_summary(tables.get("regions", pd.DataFrame())),
        families=sorted((label, family) for family, label in labels.items()),
        comparison=_rows(comparison, max_rows=max_table_rows) if len(comparison) else None,
        figures=_figures(figure_index, run_dir=run_dir, assets=assets, table_pages=pages),
        profile=_rows(profile, max_rows=max_table_rows) if "profile_model" in tables else None,
        profile_notes=profile_notes,
        profile_page=pages.get("profile_model"),
        gallery=gallery, tables=list(pages.values()))
    (build / "index.html").write_text(html, encoding="utf-8")


def _swap(new: Path, target: Path) -> None:
    """Replace the folder ``target`` by ``new`` (two renames; the old one is then deleted)."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    new.rename(target)
    if old.exists():
        shutil.rmtree(old)
