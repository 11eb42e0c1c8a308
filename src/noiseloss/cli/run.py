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
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process; ray: an actor pool of model replicas on a Ray cluster "
                   "(the noiseloss[ray] extra).")
@click.option("--address", default=None,
              help="Ray: auto (the cluster of this machine) or HOST:PORT [default: a local Ray].")
@click.option("--replicas", type=int, default=None,
              help="Ray: model replicas [default: one per GPU, else one per CPU slot but one].")
@click.option("--gpus-per-replica", type=float, default=None,
              help="Ray: GPUs per replica [default: 1 when the cluster has GPUs, else 0].")
def run(config, out_dir, device, no_report, executor, address, replicas, gpus_per_replica):
    """Run CONFIG (a built-in name such as paper-noise, or a YAML file such as DIR/config.yaml).

    Then analyse the results, draw the figures and write DIR/report/index.html. The exit code is
    1 when some items or units failed (they are listed; everything else is stored).

    Example: noiseloss run paper-noise --out runs/demo
    """
    import dataclasses

    from noiseloss.cli.analyze import print_analysis
    from noiseloss.cli.score import check_out_dir
    from noiseloss.config import load_config
    from noiseloss.errors import DependencyError, ParameterError
    from noiseloss.pipeline import run_pipeline
    from noiseloss.scoring.options import check_device

    check_out_dir(out_dir)
    cfg = load_config(config)
    ray_options = {"address": address, "replicas": replicas, "gpus_per_replica": gpus_per_replica}
    if executor == "local" and any(v is not None for v in ray_options.values()):
        raise ParameterError("--address, --replicas and --gpus-per-replica need --executor ray")
    if executor == "ray":
        try:
            from noiseloss.runner.ray_executor import RayExecutor
        except ImportError as exc:
            raise DependencyError("--executor ray needs Ray: pip install 'noiseloss[ray]'") from exc
        executor = RayExecutor(**ray_options)
    else:
        executor = None
    if device is not None:
        check_device(device, cfg.scoring.dtype)
        cfg = dataclasses.replace(cfg, scoring=dataclasses.replace(cfg.scoring, device=device))
    with progress_bar() as bar:
        task = bar.add_task(f"run {cfg.name}", total=None)

        def on_progress(desc, done, total):
            bar.update(task, completed=done, total=total, description=f"run {cfg.name}")

        result = run_pipeline(cfg, out_dir, report=not no_report, executor=executor,
                              on_progress=on_progress)
    summary = result.summary
    console.print(f"units: {summary.done} done, {summary.skipped} skipped (already stored), "
                  f"{len(summary.failed)} failed", markup=False)
    for label, reason in summary.failed.items():
        console.print(f"  failed {label}: {reason}", markup=False)
    if summary.short:
        label, seconds = min(summary.short.items(), key=lambda kv: kv[1])
        console.print(f"{len(summary.short)} clip(s) shorter than excerpt.seconds "
                      f"({cfg.excerpt.seconds:g} s), scored as they are: the shortest {label} "
                      f"({seconds:g} s); listed in provenance.json", markup=False)
    for name, where in summary.quarantined.items():
        console.print(f"  unreadable store part {name} set aside in {out_dir / where}; its "
                      "units were scored again", markup=False)
    console.print(f"results -> {out_dir / 'results.parquet'}", markup=False)
    if result.report is not None:
        print_analysis(out_dir, result.tables, result.figures)
        console.print(f"report  -> {result.report}", markup=False)
    if summary.failed:
        raise click.exceptions.Exit(1)


@click.command()
def configs():
    """List the built-in experiment configs with their descriptions."""
    from noiseloss.config import builtin_configs

    for name, description in builtin_configs().items():
        click.echo(f"{name}\t{description}")
