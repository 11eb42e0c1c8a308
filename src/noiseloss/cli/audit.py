"""``noiseloss audit``: does a metric notice graded damage?"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from noiseloss.auditing import AuditOptions
from noiseloss.cli.progress import console, progress_bar
from noiseloss.scoring.options import DTYPES, ScoringOptions

_DEFAULTS = AuditOptions()
_TINY = AuditOptions.tiny()
_SCORING = ScoringOptions()


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--model", "model_name", default="demo", show_default=True,
              help="Registered name, Hugging Face id in the local cache, or directory.")
@click.option("--backend", default=None, help="Model backend when the folder does not say.")
@click.option("--model-option", "-m", "model_option_items", multiple=True, metavar="KEY=VALUE",
              help="An option of the backend; repeatable.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Output folder (audit.csv, severity.csv, audit.html, manifest.csv, battery/, "
                   "profile/).")
@click.option("--scores", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="CSV of external scores of the manifest's files: file, then "
                                 "one column per metric (higher = better).")
@click.option("--higher-is-worse", "higher_is_worse", multiple=True, metavar="NAME",
              help="A column of --scores where higher is worse; repeatable.")
@click.option("--family", "families", multiple=True, metavar="NAME",
              help="Run only this damage family; repeatable [default: all of the model's].")
@click.option("--excerpt-seconds", type=float, default=None,
              help=f"Seconds of each clip scored [default: {_DEFAULTS.excerpt_seconds:g}].")
@click.option("--clips", type=int, default=None, help="Clips per source [default: all].")
@click.option("--probes", type=int, default=None,
              help=f"Noise probes per file (audio models) [default: {_DEFAULTS.probes}].")
@click.option("--seed", type=int, default=_DEFAULTS.seed, show_default=True,
              help="Seeds the damage, the probes and the intervals.")
@click.option("--tiny", is_flag=True,
              help=f"The CI-sized audit: {_TINY.clips} clips per source, "
                   f"{_TINY.excerpt_seconds:g} s, {_TINY.probes} probe(s), {_TINY.resamples} "
                   "resamples (the options above still apply).")
@click.option("--device", default=_SCORING.device, show_default=True,
              help="cpu, cuda, cuda:N, mps or auto.")
@click.option("--dtype", type=click.Choice(DTYPES), default=_SCORING.dtype, show_default=True)
def audit(sources, model_name, backend, model_option_items, out_dir, scores, higher_is_worse,
          families, excerpt_seconds, clips, probes, seed, tiny, device, dtype):
    """Damage the clips of SOURCES in graded steps and audit every metric against the damage.

    Per metric and damage family: the AUROC of damaged vs clean, the Spearman correlation with
    severity (both in the direction the metric declares for a worse clip) with intervals, a
    wrong-way flag and a verdict. External scores of the files listed in DIR/manifest.csv come
    in with --scores (rerun the same command: nothing is scored again).

    Example: noiseloss audit demo:ood --model demo --out runs/audit
    """
    from noiseloss.auditing import audit as run_audit
    from noiseloss.cli.score import check_out_dir, parse_model_options

    check_out_dir(out_dir)
    given = {"excerpt_seconds": excerpt_seconds, "clips": clips, "probes": probes,
             "families": families or None}
    options = _TINY if tiny else _DEFAULTS
    options = dataclasses.replace(options, seed=seed,
                                  **{k: v for k, v in given.items() if v is not None})
    with progress_bar() as bar:
        task = bar.add_task("audit", total=None)
        result = run_audit(
            sources, model=model_name, backend=backend, out_dir=out_dir, options=options,
            model_options=parse_model_options(model_option_items), scores=scores,
            higher_is_worse=higher_is_worse, scoring=ScoringOptions(device=device, dtype=dtype),
            on_progress=lambda desc, done, total: bar.update(task, completed=done, total=total))
    for line in result.verdicts.values():
        console.print(line, markup=False, highlight=False)
    if result.manifest.empty:  # every clip failed
        console.print(f"nothing to audit: no clip of {', '.join(sources)} could be scored, "
                      f"{len(result.failed)} failed", markup=False)
    else:
        console.print(f"{len(result.table)} row(s) (metric x family), "
                      f"{len(result.manifest)} file(s), {len(result.failed)} failed -> "
                      f"{out_dir / 'audit.csv'}", markup=False)
    for label, reason in result.failed.items():
        console.print(f"  failed {label}: {reason}", markup=False)
    if result.page is not None:
        console.print(f"page    -> {result.page}", markup=False)
    if result.failed:
        raise click.exceptions.Exit(1)
