"""``noiseloss perturb``: apply one registered perturbation to a file, with a JSON sidecar."""

from __future__ import annotations

from pathlib import Path

import click

from noiseloss.cli.progress import console

MIDI_EXTENSIONS = (".mid", ".midi")
CODES_EXTENSIONS = (".npy",)
DEFAULTS = {"seed": 0, "sample_rate": 32000, "hop_length": 640}

# Common parameters as flags (spec key = flag name with underscores); any other one: --param.
FLAGS = [
    ("--onset-frames", int, "Span/window/block start in model frames."),
    ("--onset-seconds", float, "Span start in seconds (instead of --onset-frames)."),
    ("--length-frames", int, "Span or window length in model frames."),
    ("--length-seconds", float, "Span length in seconds (instead of --length-frames)."),
    ("--block-frames", int, "Block length L in frames (swap, permute)."),
    ("--color", str, "Noise colour: white, pink, brown, blue, violet."),
    ("--level-db", float, "Noise level in dB relative to --level-ref."),
    ("--level-ref", str, "Level reference: dbfs, signal, local or lufs."),
    ("--mode", str, "Noise mode: replace (paper Eq. 2) or add."),
    ("--crossfade-ms", float, "Cross-fade inside each end of the noise span, in ms."),
    ("--method", str, "Noise method: powerlaw or legacy-butterworth."),
    ("--ratio", float, "Fraction in [0, 1] of notes / duration / bar segments (MIDI kinds)."),
    ("--step", str, "pitch-shift step: semitone, octave or diatonic."),
]


def _flag_options(func):
    for flag, kind, text in reversed(FLAGS):
        func = click.option(flag, type=kind, default=None, help=text)(func)
    return func


def _parse_params(items) -> dict:
    import yaml

    from noiseloss.errors import ParameterError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParameterError(f"--param must look like key=value, got {item!r}")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def _read_spec(path: Path | None) -> dict:
    import yaml

    from noiseloss.errors import ConfigError

    if path is None:
        return {}
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the spec ({exc})") from exc
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: a spec must be a mapping (kind: ..., params...), got "
                          f"{type(spec).__name__}")
    return spec


def _list_kinds() -> None:
    from noiseloss.perturb import PERTURBATIONS

    for name in PERTURBATIONS:
        entry = PERTURBATIONS.get(name)
        click.echo(f"{name}\t[{entry.domain}]\t{entry.summary}")
        args = [n if p.default is p.empty else f"{n}={p.default!r}"
                for n, p in entry.parameters().items()]
        click.echo(f"\t{', '.join(args)}")


def _load_input(source: Path, domain: str, spec: dict, soundfont):
    """The input as the kind's domain needs it (MIDI is rendered for audio kinds)."""
    import numpy as np

    from noiseloss.errors import ParameterError
    from noiseloss.sources.audio import load_audio
    from noiseloss.sources.midi import load_midi, render_midi

    suffix = source.suffix.lower()
    if domain == "tokens":
        if suffix not in CODES_EXTENSIONS:
            raise ParameterError(f"token kinds read codes [K, T] from a .npy file, got {source}")
        return np.load(source)
    if suffix in MIDI_EXTENSIONS:
        midi = load_midi(source)
        if domain == "midi":
            return midi
        return render_midi(midi, sample_rate=spec["sample_rate"], soundfont=soundfont)
    if domain == "midi":
        raise ParameterError(f"MIDI kinds read a .mid/.midi file, got {source}")
    return load_audio(source, sample_rate=spec["sample_rate"])


def _check_output(out: Path, domain: str) -> None:
    from noiseloss.errors import ParameterError
    from noiseloss.sources.audio import AUDIO_EXTENSIONS

    allowed = {"audio": AUDIO_EXTENSIONS, "tokens": CODES_EXTENSIONS,
               "midi": MIDI_EXTENSIONS + AUDIO_EXTENSIONS}[domain]
    if out.suffix.lower() not in allowed:
        raise ParameterError(f"--out for a {domain} kind must end in one of {list(allowed)}, "
                             f"got {out.name!r}")


def _write_output(data, out: Path, domain: str, spec: dict, soundfont) -> bool:
    """Write the result; return True when MIDI was rendered to audio."""
    import numpy as np

    from noiseloss.sources.audio import write_audio
    from noiseloss.sources.midi import render_midi

    out.parent.mkdir(parents=True, exist_ok=True)
    if domain == "tokens":
        np.save(out, data)
        return False
    if domain == "midi" and out.suffix.lower() in MIDI_EXTENSIONS:
        data.write(str(out))
        return False
    rendered = domain == "midi"
    if rendered:
        data = render_midi(data, sample_rate=spec["sample_rate"], soundfont=soundfont)
    write_audio(out, data, sample_rate=spec["sample_rate"])
    return rendered


@click.command()
@click.argument("source", required=False, type=click.Path(path_type=Path))
@click.option("--kind", help="Registered perturbation (see --list).")
@click.option("--out", type=click.Path(path_type=Path),
              help="Output: audio (.wav float32, .flac 16-bit), .mid, or .npy for codes.")
@click.option("--spec", "spec_file", type=click.Path(path_type=Path),
              help="YAML mapping {kind: ..., param: value}; flags and --param override it.")
@click.option("--param", "-p", "param_items", multiple=True, metavar="KEY=VALUE",
              help="Any parameter of the kind (value parsed as YAML); repeatable.")
@_flag_options
@click.option("--seed", type=int, default=None, help="Seed (default 0).")
@click.option("--sample-rate", type=int, default=None, help="Rate in Hz (default 32000).")
@click.option("--hop-length", type=int, default=None,
              help="Samples per model frame (default 640, MusicGen).")
@click.option("--model", "model_name", default=None,
              help="token-noise: model whose tokenizer encodes the noise.")
@click.option("--soundfont", type=click.Path(path_type=Path), default=None,
              help="General MIDI soundfont for rendering MIDI.")
@click.option("--list", "list_kinds", is_flag=True, help="List the kinds and their parameters.")
def perturb(source, kind, out, spec_file, param_items, seed, sample_rate, hop_length, model_name,
            soundfont, list_kinds, **flags):
    """Perturb SOURCE (audio, .mid or .npy codes) and write OUT plus OUT.json (the metadata).

    Example: noiseloss perturb clip.wav --kind noise --color pink --onset-frames 250
    --length-frames 100 --level-db -20 --level-ref signal --seed 0 --out noisy.wav
    """
    from noiseloss import __version__
    from noiseloss.errors import ParameterError, check_choice
    from noiseloss.perturb import PERTURBATIONS
    from noiseloss.perturb import perturb as apply
    from noiseloss.store.io import write_json

    if list_kinds:
        _list_kinds()
        return
    if source is None or out is None:
        raise ParameterError("give SOURCE and --out (or --list)")
    spec = _read_spec(spec_file)
    if kind is not None:
        spec["kind"] = kind
    spec.update({k: v for k, v in flags.items() if v is not None})
    spec.update(_parse_params(param_items))
    for key, value in (("seed", seed), ("sample_rate", sample_rate), ("hop_length", hop_length)):
        spec[key] = value if value is not None else spec.get(key, DEFAULTS[key])
    if "kind" not in spec:
        raise ParameterError("give --kind (or kind: in --spec); see --list")
    check_choice("kind", spec["kind"], PERTURBATIONS.keys())
    domain = PERTURBATIONS.get(spec["kind"]).domain
    _check_output(out, domain)
    if spec["kind"] == "token-noise":
        if model_name is None:
            raise ParameterError("token-noise needs --model NAME: its tokenizer encodes the noise")
        from noiseloss.models import load_model

        tokenizer = load_model(model_name).tokenizer
        spec.update(encode=tokenizer.encode, sample_rate=tokenizer.sample_rate,
                    hop_length=tokenizer.hop_length)
    data = _load_input(source, domain, spec, soundfont)
    result = apply(data, spec)
    rendered = _write_output(result.data, out, domain, spec, soundfont)
    write_json({"input": str(source), "output": str(out), "rendered_midi": rendered,
                "span_samples": result.span_samples, "span_frames": result.span_frames,
                "params": result.params, "noiseloss_version": __version__},
               out.with_name(out.name + ".json"))
    clipped = result.params.get("clipped_samples", 0)
    if clipped:
        console.print(f"[yellow]warning[/yellow]: {clipped} samples exceed full scale (peak "
                      f"{result.params['peak']:.3f}); kept in float WAV, clipped in 16-bit files")
    console.print(f"{spec['kind']}: span frames {result.span_frames} -> {out}")
