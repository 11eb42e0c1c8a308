"""``noiseloss score``: per-token NLL of audio files, written as a long Parquet table."""

from __future__ import annotations

from pathlib import Path

import click

from noiseloss.cli.progress import console, progress_bar, report_skip
from noiseloss.scoring.options import DTYPES, ScoringOptions

_DEFAULTS = ScoringOptions()


@click.command()
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "model_name", required=True,
              help="Registered name (demo), Hugging Face id in the local cache, or directory.")
@click.option("--backend", default=None,
              help="Model backend when the folder does not say (yue-s1, yue-s2); see "
                   "`noiseloss models`.")
@click.option("--model-option", "-m", "model_option_items", multiple=True, metavar="KEY=VALUE",
              help="An option of the backend (YuE: codec=DIR, text_tokenizer=PATH, genres=...); "
                   "repeatable.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Output folder for nll.parquet and provenance.json.")
@click.option("--text", default=None, help="Text condition (default: unconditional).")
@click.option("--guidance-scale", type=float, default=None,
              help="Score the classifier-free-GUIDED distribution (not a likelihood); needs --text.")
@click.option("--alignment", default=_DEFAULTS.alignment,
              help="A layout of the model (`noiseloss models` lists each backend's) [default: "
                   "the model's own factorisation]; legacy-* reproduce the paper's scripts and "
                   "are NOT likelihoods.")
@click.option("--batch-size", type=int, default=None,
              help="Windows per forward [default: the model's].")
@click.option("--token-budget", type=int, default=None,
              help="Most decoder positions (windows x frames) per forward pass [default: "
                   "--batch-size alone].")
@click.option("--window-frames", type=int, default=None,
              help="Longest window fed to the decoder [default: the model's trained length].")
@click.option("--stride-frames", type=int, default=None,
              help="New frames scored per window after the first [default: the model's; half of "
                   "--window-frames when longer than that].")
@click.option("--device", default=_DEFAULTS.device, show_default=True,
              help="cpu, cuda, cuda:N, mps or auto.")
@click.option("--dtype", type=click.Choice(DTYPES), default=_DEFAULTS.dtype, show_default=True)
def score(audio, model_name, backend, model_option_items, out_dir, text, guidance_scale,
          **options):
    """Score AUDIO files, folders of them, or .npy codes [K, T] (a symbolic model: MIDI files).

    Unreadable files are reported and skipped (exit 1).

    Example: noiseloss score a.wav b.flac --model demo --out runs/score
    """
    from noiseloss import provenance
    from noiseloss.errors import NoiselossError
    from noiseloss.models import load_model
    from noiseloss.store.io import write_json, write_parquet
    from noiseloss.store.tables import nll_table

    check_out_dir(out_dir)
    model = load_model(model_name, backend=backend,
                       model_options=parse_model_options(model_option_items), **options)
    # one error up front, not one skipped file per input
    model.check_options(text=text, guidance_scale=guidance_scale)
    done, failed = [], {}
    audio = expand_folders(audio, midi=model.modality == "symbolic")
    with progress_bar() as bar:
        task = bar.add_task("scoring", total=len(audio))
        for path in audio:
            try:
                res = model.score(path, text=text, guidance_scale=guidance_scale)
                done.append((str(path), res))
            except NoiselossError as exc:
                failed[str(path)] = str(exc)
                report_skip(path, exc)
            bar.advance(task)
    if done:
        write_parquet(nll_table(done), out_dir / "nll.parquet")
    record = provenance.collect(
        model, command="score",
        items={item: {"loss": res.loss(), **res.metadata()} for item, res in done},
        failed=failed)
    write_json(record, out_dir / "provenance.json")
    console.print(f"scored {len(done)} file(s), {len(failed)} failed -> {out_dir}", markup=False)
    if failed:
        raise click.exceptions.Exit(1)


def expand_folders(paths, *, midi: bool) -> list[Path]:
    """``paths`` with each folder replaced by the files under it that can be scored, sorted.

    Audio and codes; MIDI too with ``midi``. A folder holding none is an error naming it.
    """
    from noiseloss.errors import ParameterError
    from noiseloss.sources.audio import AUDIO_EXTENSIONS
    from noiseloss.sources.codes import CODES_EXTENSIONS
    from noiseloss.sources.midi import MIDI_EXTENSIONS

    suffixes = (*AUDIO_EXTENSIONS, *CODES_EXTENSIONS, *(MIDI_EXTENSIONS if midi else ()))
    out = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes)
        if not found:
            raise ParameterError(f"{path} is a folder without files to score "
                                 f"({', '.join(suffixes)})")
        out += found
    return out


def check_out_dir(out_dir: Path) -> None:
    """``ParameterError`` naming ``--out`` when it is a file: checked before any work."""
    from noiseloss.errors import ParameterError

    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"--out {out_dir} exists and is not a folder")


def parse_model_options(items) -> dict:
    """``KEY=VALUE`` strings of ``--model-option`` as a mapping (dashes in keys become _)."""
    from noiseloss.errors import ParameterError

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--model-option must look like key=value, got {item!r}")
        options[key.strip().replace("-", "_")] = value
    return options


@click.command()
def models():
    """List the registered models and the backends with what each needs (loads nothing)."""
    from noiseloss.models import BACKENDS, MODELS

    def about(entry) -> str:
        return f"[{entry.modality}; alignments: {', '.join(entry.alignments) or 'its own'}]"

    for name in MODELS:
        click.echo(f"{name}\t{about(MODELS.get(name))}\t{MODELS.describe(name)}")
    click.echo("backends (--backend / backend: in a config; any other name: musicgen):")
    for name in BACKENDS:
        click.echo(f"  {name}\t{about(BACKENDS.get(name))}\t{BACKENDS.describe(name)}")
