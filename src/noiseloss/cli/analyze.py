"""``noiseloss analyze``: tables and figures of a run folder, and the length-vs-delta statistics."""

from __future__ import annotations

from pathlib import Path

import click

from noiseloss.cli.progress import console


def print_trends(tables: dict) -> None:
    """Print the large- and small-sample length correlations, whatever their sign."""
    from rich.markup import escape
    from rich.table import Table

    for setting in ("stats_large", "stats_small"):
        stats = tables[setting]
        table = Table(title=f"{setting}: perturbation length vs mean delta "
                      "(p_less: one-sided, negative trend)")
        for column in ("family", "metric", "n", "pearson r", "p", "p_less", "spearman rho", "p",
                       "p_less", "slope /frame", "p_less"):
            table.add_column(column)
        for _, row in stats.iterrows():
            table.add_row(
                escape(row["family"]), row["metric"], str(row["n_points"]),
                *(f"{row[c]:.3g}" for c in (
                    "pearson_r", "pearson_p", "pearson_p_less", "spearman_rho", "spearman_p",
                    "spearman_p_less", "slope", "slope_p_less")))
        console.print(table)


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
