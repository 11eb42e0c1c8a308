"""``noiseloss report``: the static HTML report of a run folder."""

from __future__ import annotations

from pathlib import Path

import click

from noiseloss.cli.progress import console


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--examples", "examples_per_dataset", type=int, default=None,
              help="Example items per data set in the gallery, items with audio first "
                   "[default: the run's report.audio_examples, else 3].")
@click.option("--audio-budget-mb", type=float, default=25.0, show_default=True,
              help="Most audio the report holds; clips beyond it are left out.")
@click.option("--max-table-rows", type=int, default=2000, show_default=True,
              help="Rows shown on each table's page (CSV/Parquet keep them all).")
def report(run_dir, examples_per_dataset, audio_budget_mb, max_table_rows):
    """Write RUN_DIR/report/index.html: summary, statistics, figures, audio examples.

    The report never re-analyses: when RUN_DIR/tables is missing or older than results.parquet
    it stops and names the noiseloss analyze command that writes the tables (with the options
    recorded in them, else the run config's). Missing or stale figures are drawn from the
    tables first. The folder works offline from the file system. Example: noiseloss report
    runs/demo
    """
    from noiseloss.report import write_report

    index = write_report(run_dir, examples_per_dataset=examples_per_dataset,
                         audio_budget_mb=audio_budget_mb, max_table_rows=max_table_rows)
    size = sum(p.stat().st_size for p in index.parent.rglob("*") if p.is_file())
    console.print(f"report ({size / 1e6:.1f} MB) -> {index}", markup=False)
