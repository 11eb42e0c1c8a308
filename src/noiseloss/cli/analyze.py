"""``noiseloss analyze``: tables and figures of a run folder, and the length-vs-delta statistics."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from noiseloss.cli.progress import console


def print_trends(tables: dict) -> None:
    """Print the large- and small-sample length correlations, whatever their sign.

    One line per (family, metric, setting); p_less is the one-sided p for a negative trend.
    """
    console.print("perturbation length vs delta (large: one point per model x data set x length; "
                  "small: one point per length; p_less: one-sided, negative trend)", markup=False)
    for setting in ("stats_large", "stats_small"):
        for _, row in tables[setting].iterrows():
            if np.isnan(row["pearson_r"]) and np.isnan(row["slope"]):
                result = "too few points or lengths for a test (needs 3 points, 2 lengths)"
            else:
                result = (
                    f"pearson r={row['pearson_r']:+.3f} (p={row['pearson_p']:.3g}, "
                    f"p_less={row['pearson_p_less']:.3g}) spearman rho={row['spearman_rho']:+.3f} "
                    f"(p={row['spearman_p']:.3g}, p_less={row['spearman_p_less']:.3g}) "
                    f"slope={row['slope']:+.3g}/frame (p_less={row['slope_p_less']:.3g})")
            console.print(
                f"  {setting.removeprefix('stats_'):5} {row['family']} [{row['conditioning']}, "
                f"{row['alignment']}] {row['metric']}: n={row['n_points']} {result}",
                markup=False, highlight=False)


def analyze_and_draw(run_dir: Path, *, figures: bool = True, **options) -> dict:
    """Analyse ``run_dir``, draw its figures, print where they are and the length statistics.

    Args:
        run_dir: Run folder with ``results.parquet``.
        figures: Draw the figures too.
        **options: Keyword options of ``noiseloss.analysis.analyze_run`` (detector, ...).

    Returns:
        The tables of ``analyze_run``.
    """
    from noiseloss.analysis import analyze_run

    tables = analyze_run(run_dir, **options)
    console.print(f"tables  -> {run_dir / 'tables'} ({len(tables['sequence'])} perturbed units, "
                  f"{len(tables['skipped'])} skipped)", markup=False)
    if figures:
        from noiseloss.figures import draw_all

        paths = draw_all(run_dir, tables)
        console.print(f"figures -> {run_dir / 'figures'} ({len(paths)} figures)", markup=False)
    print_trends(tables)
    return tables


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--detector", default="zero-crossing", show_default=True,
              help="Region detector: zero-crossing (the paper's rule) or fixed-anchor (the "
                   "authors' scripts).")
@click.option("--smooth-frames", type=int, default=5, show_default=True,
              help="Moving-average window of the region detector, frames.")
@click.option("--run-frames", type=int, default=5, show_default=True,
              help="Frames a zero crossing must hold to count as a region boundary.")
@click.option("--peak-window-frames", type=int, default=5, show_default=True,
              help="The peak must start within this many frames after the onset.")
@click.option("--lead-frames", type=int, default=None,
              help="Frames a change may show before the onset [default: from the delay "
                   "pattern, K - 2 codebooks when delayed, 0 for legacy-undelayed].")
@click.option("--no-figures", is_flag=True, help="Write the tables only.")
def analyze(run_dir, detector, smooth_frames, run_frames, peak_window_frames, lead_frames,
            no_figures):
    """Analyse RUN_DIR/results.parquet: RUN_DIR/tables, RUN_DIR/figures, correlations.

    Example: noiseloss analyze runs/demo --detector fixed-anchor
    """
    analyze_and_draw(run_dir, figures=not no_figures, detector=detector,
                     smooth_frames=smooth_frames, run_frames=run_frames,
                     peak_window_frames=peak_window_frames, lead_frames=lead_frames)
