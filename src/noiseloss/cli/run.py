"""``noiseloss run``: run or resume an experiment, then analyse it, draw figures, write the report."""

from __future__ import annotations

from pathlib import Path

import click

from noiseloss.cli.progress import console, progress_bar


@click.command()
@click.argument("config")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Run folder; rerunning into the same folder computes only what is missing.")
@click.option("--device", default=None, help="Override scoring.device (cpu, cuda, cuda:N, auto).")
@click.option("--no-report", is_flag=True, help="Only score; skip analysis, figures and report.")
def run(config, out_dir, device, no_report):
    """Run CONFIG (a built-in name such as paper-noise, or a YAML file such as DIR/config.yaml).

    Then analyse the results, draw the figures and write DIR/report/index.html. The exit code is
    1 when some items or units failed (they are listed; everything else is stored).

    Example: noiseloss run paper-noise --out runs/demo
    """
    import dataclasses

    from noiseloss.cli.analyze import print_analysis
    from noiseloss.config import load_config
    from noiseloss.pipeline import run_pipeline
    from noiseloss.scoring.options import check_device

    cfg = load_config(config)
    if device is not None:
        check_device(device, cfg.scoring.dtype)
        cfg = dataclasses.replace(cfg, scoring=dataclasses.replace(cfg.scoring, device=device))
    with progress_bar() as bar:
        task = bar.add_task(f"run {cfg.name}", total=None)

        def on_progress(desc, done, total):
            bar.update(task, completed=done, total=total, description=f"run {cfg.name}")

        result = run_pipeline(cfg, out_dir, report=not no_report, on_progress=on_progress)
    summary = result.summary
    console.print(f"units: {summary.done} done, {summary.skipped} skipped (already stored), "
                  f"{len(summary.failed)} failed", markup=False)
    for label, reason in summary.failed.items():
        console.print(f"  failed {label}: {reason}", markup=False)
    console.print(f"results -> {out_dir / 'results.parquet'}", markup=False)
    if result.report is not None:
        print_analysis(out_dir, result.tables, result.figures)
        console.print(f"report  -> {result.report}", markup=False)
    if summary.failed:
        raise click.exceptions.Exit(1)
