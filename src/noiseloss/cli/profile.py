"""``noiseloss profile`` (clip metrics from the curve's shape) and ``noiseloss correlate``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from noiseloss.analysis.profile import ProfileOptions
from noiseloss.cli.progress import console, progress_bar
from noiseloss.scoring.options import DTYPES, ScoringOptions

_DEFAULTS = ProfileOptions()
_SCORING = ScoringOptions()


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--model", "model_name", default="demo", show_default=True,
              help="Registered name, Hugging Face id in the local cache, or directory.")
@click.option("--backend", default=None, help="Model backend when the folder does not say.")
@click.option("--model-option", "-m", "model_option_items", multiple=True, metavar="KEY=VALUE",
              help="An option of the backend; repeatable.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Output folder (clips.csv, spans.csv, index.html, run/).")
@click.option("--probes", type=int, default=_DEFAULTS.probes, show_default=True,
              help="Noise probes per clip (0: blind metrics only).")
@click.option("--probe-frames", type=int, default=_DEFAULTS.probe_frames, show_default=True,
              help="Frames of each probe of an audio model (white noise).")
@click.option("--score-probe-seconds", type=float, default=_DEFAULTS.score_probe_seconds,
              show_default=True,
              help="Seconds of each probe of a symbolic model (random notes: note-noise).")
@click.option("--excerpt-seconds", type=float, default=_DEFAULTS.excerpt_seconds,
              show_default=True, help="Seconds of each clip scored, from its start.")
@click.option("--min-clip-seconds", type=float, default=None,
              help="Refuse shorter clips [default: 3 s, or the excerpt if shorter; 0: none]; a "
                   "shorter clip than the excerpt gets its probes at the same fractions of its "
                   "length.")
@click.option("--seed", type=int, default=_DEFAULTS.seed, show_default=True,
              help="Seeds the probe onsets and noise.")
@click.option("--rank-by", default=None,
              help="Metric of the ranking [default: probe_peak, or excess_surprisal without "
                   "probes].")
@click.option("--device", default=_SCORING.device, show_default=True,
              help="cpu, cuda, cuda:N, mps or auto.")
@click.option("--dtype", type=click.Choice(DTYPES), default=_SCORING.dtype, show_default=True)
def profile(sources, model_name, backend, model_option_items, out_dir, probes, probe_frames,
            score_probe_seconds, excerpt_seconds, min_clip_seconds, seed, rank_by, device,
            dtype):
    """Profile metrics of the clips in SOURCES (folders, files, demo:NAME or demo-midi:NAME), ranked.

    Example: noiseloss profile demo:train demo:generated --out runs/profile
    """
    from noiseloss.cli.score import check_out_dir, parse_model_options
    from noiseloss.profiling import profile as run_profile

    check_out_dir(out_dir)

    options = dataclasses.replace(_DEFAULTS, probes=probes, probe_frames=probe_frames,
                                  score_probe_seconds=score_probe_seconds,
                                  excerpt_seconds=excerpt_seconds,
                                  min_clip_seconds=min_clip_seconds, seed=seed, rank_by=rank_by)
    with progress_bar() as bar:
        task = bar.add_task("profile", total=None)
        result = run_profile(
            sources, model=model_name, backend=backend, out_dir=out_dir, options=options,
            model_options=parse_model_options(model_option_items),
            scoring=ScoringOptions(device=device, dtype=dtype),
            on_progress=lambda desc, done, total: bar.update(task, completed=done, total=total))
    ranking = options.ranking
    for _, clip in result.clips.head(10).iterrows():
        console.print(f"{clip['rank']:>3}  {clip[ranking]:+.3f}  mean loss {clip['mean_loss']:.3f}"
                      f"  {clip['dataset']}/{clip['item']}", markup=False, highlight=False)
    console.print(f"{len(result.clips)} clip(s) ranked by {ranking}, {len(result.spans)} flagged "
                  f"span(s), {len(result.failed)} failed -> {out_dir / 'clips.csv'}", markup=False)
    for label, reason in result.failed.items():
        console.print(f"  failed {label}: {reason}", markup=False)
    if result.page is not None:
        console.print(f"page    -> {result.page}", markup=False)
    if result.failed:
        raise click.exceptions.Exit(1)


def _num(value: float, spec: str) -> str:
    """``value`` formatted, or ``undefined`` (never ``nan``)."""
    return format(value, spec) if value == value else "undefined"


def _interval(row, spec: str) -> str:
    """`` [low, high]`` of a row, or nothing when it has no interval."""
    low, high = row["ci_low"], row["ci_high"]
    return f" [{low:{spec}}, {high:{spec}}]" if low == low and high == high else ""


@click.command()
@click.argument("source", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("ratings", type=click.Path(path_type=Path, exists=True))
@click.option("--preferences", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="Pairwise preferences (file_a,file_b,winner): each metric's "
                                 "share of winners it prefers.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the intervals.")
@click.option("--out", "out_file", type=click.Path(path_type=Path), default=None,
              help="Also write the table as CSV (and the comparisons beside it).")
def correlate(source, ratings, preferences, seed, out_file):
    """Correlate the metrics of SOURCE (a profile or run folder) with RATINGS.

    RATINGS: a CSV (file,rating[,system]) or a MusicEval-style folder (wav/ and
    sets/*mos_list.txt; profile its wav/ folder first). Each metric is also compared with mean
    loss on the same clips (Williams' test, Holm-adjusted over the metrics).

    Example: noiseloss correlate runs/profile ratings.csv
    """
    from noiseloss.profiling import correlate as run_correlate
    from noiseloss.store.io import write_csv

    result = run_correlate(source, ratings, preferences=preferences, seed=seed)
    table = result["table"]
    console.print(f"joined {result['matched']} rating row(s); {len(result['unmatched'])} "
                  f"rating(s) matched no clip, {len(result['ambiguous'])} several (left out)",
                  markup=False)
    for what in ("unmatched", "ambiguous"):
        for name in result[what]:
            console.print(f"  {what}: {name}", markup=False)
    for _, row in table.iterrows():
        value = "undefined" if row["value"] != row["value"] else f"{row['value']:+.3f}"
        interval = f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]" if not row["note"] else ""
        console.print(f"{row['level']:<6} {row['model']:<10} {row['metric']:<26} "
                      f"{row['method']:<8} {value} {interval}".rstrip()
                      + f" n={row['n']} expected {row['expected']:+d}", markup=False,
                      highlight=False)
    for (level, note), rows in table[table["note"] != ""].groupby(["level", "note"], sort=False):
        console.print(f"{level} level: {note} ({len(rows)} row(s))", markup=False,
                      highlight=False)
    for _, row in result["paired"].iterrows():
        console.print(f"vs mean_loss {row['model']:<10} {row['metric']:<26} rho "
                      f"{_num(row['rho_metric'], '+.3f')} vs {_num(row['rho_loss'], '+.3f')}: "
                      f"difference {_num(row['difference'], '+.3f')}"
                      f"{_interval(row, '+.3f')}, Williams p {_num(row['p'], '.3g')}, Holm p "
                      f"{_num(row['p_holm'], '.3g')} (n={row['n']})", markup=False,
                      highlight=False)
    pairwise = result["pairwise"]
    for _, row in (pairwise.iterrows() if pairwise is not None else ()):
        console.print(f"pairwise {row['model']:<10} {row['metric']:<26} accuracy "
                      f"{_num(row['accuracy'], '.3f')}{_interval(row, '.3f')} "
                      f"(n={row['n']} pairs)", markup=False, highlight=False)
    if out_file is not None:
        write_csv(table, out_file)
        extra = {"paired": result["paired"], "pairwise": pairwise}
        for name, frame in extra.items():
            if frame is not None:
                write_csv(frame, out_file.with_name(f"{out_file.stem}-{name}.csv"))
        console.print(f"table -> {out_file}", markup=False)
