"""``noiseloss analyze``: tables and figures of a run folder, and the length-vs-delta statistics."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from noiseloss.analysis.regions import DetectorOptions
from noiseloss.cli.progress import console


def print_trends(tables: dict) -> None:
    """Print the large- and small-sample length correlations, whatever their sign.

    One line per (family, metric, setting) with a test; p_less is the one-sided p for a
    negative trend. Tests that are undefined are not printed as NaN: one line per setting and
    reason (the table's ``note``, e.g. "needs ≥ 3 lengths (has 2)") lists their families.
    """
    from noiseloss.report.findings import family_labels

    console.print("perturbation length vs delta (large: one point per model x data set x length; "
                  "small: one point per length; p_less: one-sided, negative trend; p: "
                  "permutation, see p_method)", markup=False)
    labels = family_labels(tables["sequence"])
    for setting in ("stats_large", "stats_small"):
        table = tables[setting]
        notes = table["note"].fillna("") if "note" in table else table["pearson_r"].map(
            lambda r: "" if np.isfinite(r) else "too few points or lengths for a test")
        for _, row in table[notes == ""].iterrows():
            result = (
                f"pearson r={row['pearson_r']:+.3f} (p={row['pearson_p']:.3g}, "
                f"p_less={row['pearson_p_less']:.3g}) spearman rho={row['spearman_rho']:+.3f} "
                f"(p={row['spearman_p']:.3g}, p_less={row['spearman_p_less']:.3g}) "
                f"slope={row['slope']:+.3g}/s (p_less={row['slope_p_less']:.3g})")
            method = f" [{row['p_method']}]" if "p_method" in row else ""
            console.print(
                f"  {setting.removeprefix('stats_'):5} {row['family']} [{row['prompt']}, "
                f"{row['alignment']}] {row['metric']}: n={row['n_points']} {result}{method}",
                markup=False, highlight=False)
        for note, rows in table[notes != ""].groupby(notes[notes != ""], sort=True):
            families = ", ".join(sorted({labels.get(f, f) for f in rows["family"]}))
            metrics = ", ".join(sorted(rows["metric"].unique()))
            console.print(f"  {setting.removeprefix('stats_'):5} not tested, {note}: "
                          f"{families} ({metrics})", markup=False, highlight=False)


def print_findings(tables: dict) -> None:
    """Print the region detector with its options, then each finding's region counts."""
    from noiseloss.report.findings import build_findings, detector_summary

    regions = tables.get("regions")
    summary = detector_summary(regions) if regions is not None else ""
    if not summary:
        return
    console.print(summary, markup=False, highlight=False)
    for finding in build_findings(tables):
        for line in finding.lines:
            if line.startswith("Regions ("):
                console.print(f"  {finding.model} · {finding.dataset} · {finding.label}: "
                              f"{line.split(': ', 1)[1]}", markup=False, highlight=False)


def print_analysis(run_dir: Path, tables: dict, figures: dict | None) -> None:
    """Print where the tables and figures are, the region detector and counts, the statistics."""
    console.print(f"tables  -> {run_dir / 'tables'} ({len(tables['sequence'])} perturbed units, "
                  f"{len(tables['skipped'])} skipped)", markup=False)
    if figures is not None:
        console.print(f"figures -> {run_dir / 'figures'} ({len(figures)} figures)", markup=False)
    print_findings(tables)
    print_trends(tables)


_DEFAULTS = DetectorOptions()


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--detector", default=None,
              help="Region detector: zero-crossing (the paper's rule) or fixed-anchor (the "
                   f"authors' scripts) [default: the run config's, else {_DEFAULTS.detector}].")
@click.option("--smooth-frames", type=int, default=None,
              help="Moving-average window of the region detector, frames [default: the run "
                   f"config's, else {_DEFAULTS.smooth_frames}].")
@click.option("--run-frames", type=int, default=None,
              help="Frames a zero crossing must hold to count as a region boundary [default: "
                   f"the run config's, else {_DEFAULTS.run_frames}].")
@click.option("--peak-window-frames", type=int, default=None,
              help="The peak must start within this many frames after the onset [default: the "
                   f"run config's, else {_DEFAULTS.peak_window_frames}].")
@click.option("--lead-frames", type=int, default=None,
              help="Frames a change may show before the onset, for every unit [default: the run "
                   "config's, else each unit's lead_frames from the layout that scored it "
                   "(largest delay - 1 under a delay pattern, 0 without delays; older stores: "
                   "from num_codebooks and alignment)].")
@click.option("--no-figures", is_flag=True, help="Write the tables only.")
def analyze(run_dir, no_figures, **flags):
    """Analyse RUN_DIR/results.parquet: RUN_DIR/tables, RUN_DIR/figures, correlations.

    Options left out take the run config's analysis section (DIR/config.yaml).
    Example: noiseloss analyze runs/demo --detector fixed-anchor
    """
    import dataclasses

    from noiseloss.analysis import analyze_run
    from noiseloss.config import run_config
    from noiseloss.errors import ConfigError

    given = {k: v for k, v in flags.items() if v is not None}
    try:
        config = run_config(run_dir)
    except ConfigError as exc:
        if len(given) < len(flags):  # options would silently fall back to the defaults
            raise
        console.print(f"warning: {exc}; using the options given", markup=False,
                      highlight=False)
        config = None
    options = dataclasses.replace(config.analysis if config else _DEFAULTS, **given)
    tables = analyze_run(run_dir, options=options)
    figures = None
    if not no_figures:
        from noiseloss.figures import draw_all

        figures = draw_all(run_dir, tables)
    print_analysis(run_dir, tables, figures)
