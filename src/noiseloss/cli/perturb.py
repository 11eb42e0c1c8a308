"""``noiseloss perturb``: apply one registered perturbation to a file, with a JSON sidecar."""

from __future__ import annotations

from pathlib import Path

import click

from noiseloss.cli.progress import console

# Without --model: MusicGen's rate and frame hop.
DEFAULT_RATES = {"sample_rate": 32000, "hop_length": 640}

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


#: What gives each value a perturbation takes from the model, on this command line.
CONTEXT_FLAGS = {"sample_rate": "give --sample-rate (or --model)",
                 "hop_length": "give --hop-length (or --model)",
                 "codebook_size": "it is the model's codebook size: give --model",
                 "encode": "it is the model's encoder: give --model"}


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
        try:
            parsed = yaml.safe_load(value)
            if isinstance(parsed, str):  # YAML 1.1 reads 1e308 (no dot, no sign) as text
                try:
                    parsed = float(parsed)
                except ValueError:
                    pass
            out[key.strip().replace("-", "_")] = parsed
        except yaml.YAMLError as exc:
            problem = str(exc).splitlines()[0]
            raise ParameterError(f"--param {key.strip()}: {value!r} is not valid YAML "
                                 f"({problem})") from exc
    return out


def _read_spec(path: Path | None) -> dict:
    import yaml

    from noiseloss.errors import ConfigError

    if path is None:
        return {}
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read the spec as UTF-8 text ({exc})") from exc
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


def _context(model_name, sample_rate, hop_length, soundfont):
    """The ``PerturbContext``: from ``--model`` (rates, codebook size, encoder), else the flags."""
    from noiseloss.errors import ParameterError
    from noiseloss.perturb import PerturbContext
    from noiseloss.sources.midi import render_midi

    if model_name is None:
        rate = sample_rate or DEFAULT_RATES["sample_rate"]
        return PerturbContext(sample_rate=rate, hop_length=hop_length or DEFAULT_RATES["hop_length"],
                              render=lambda m: render_midi(m, sample_rate=rate, soundfont=soundfont))
    if sample_rate is not None or hop_length is not None:
        raise ParameterError("--sample-rate and --hop-length come from --model; give one or the other")
    from noiseloss.models import load_model

    scorer = load_model(model_name)
    return scorer.perturb_context(
        render=lambda m: render_midi(m, sample_rate=scorer.sample_rate, soundfont=soundfont))


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
@click.option("--sample-rate", type=int, default=None,
              help=f"Rate in Hz (default {DEFAULT_RATES['sample_rate']}; from --model if given).")
@click.option("--hop-length", type=int, default=None,
              help=f"Samples per model frame (default {DEFAULT_RATES['hop_length']}, MusicGen).")
@click.option("--model", "model_name", default=None,
              help="Model whose rates and tokenizer the perturbation uses (token kinds need it "
                   "to encode or to know the codebook size).")
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
    from noiseloss.errors import NoiselossError, ParameterError
    from noiseloss.perturb import CONTEXT_FIELDS, perturb_with
    from noiseloss.perturb.context import domain_of
    from noiseloss.store.io import write_json

    if list_kinds:
        _list_kinds()
        return
    if source is None or out is None:
        raise ParameterError("give SOURCE and --out (or --list)")
    if out.is_dir():  # checked before any work
        raise ParameterError(f"--out {out} is a folder; give a file name (.wav, .flac, .mid, .npy)")
    spec = _read_spec(spec_file)
    if kind is not None:
        spec["kind"] = kind
    spec.update({k: v for k, v in flags.items() if v is not None})
    spec.update(_parse_params(param_items))
    seed = seed if seed is not None else spec.pop("seed", 0)
    spec.pop("seed", None)
    if "kind" not in spec:
        raise ParameterError("give --kind (or kind: in --spec); see --list")
    given = sorted(set(spec) & set(CONTEXT_FIELDS))
    if given:
        raise ParameterError("; ".join(f"{name} is not a parameter: {CONTEXT_FLAGS[name]}"
                                       for name in given))
    domain = domain_of(spec["kind"])
    domain.check_output(out)
    context = _context(model_name, sample_rate, hop_length, soundfont)
    try:
        result = perturb_with(domain.read(source, context), spec, context=context, seed=seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        rendered = domain.write(result.data, out, context)
    except ParameterError as exc:  # "X needs the model's Y; give ..." names the flag here
        needs, give, _ = str(exc).partition("; give ")
        if model_name is None and give and " needs " in needs:
            raise ParameterError(f"{needs}; give a model (--model)") from exc
        raise
    except NoiselossError as exc:  # reading, rendering, writing: name the input
        if str(source) in str(exc):
            raise
        raise type(exc)(f"{source}: {exc}") from exc
    write_json({"input": str(source), "output": str(out), "rendered_midi": rendered,
                "span_samples": result.span_samples, "span_frames": result.span_frames,
                "params": result.params, "noiseloss_version": __version__},
               out.with_name(out.name + ".json"))
    clipped = result.params.get("clipped_samples", 0)
    if clipped:
        console.print(f"[yellow]warning[/yellow]: {clipped} samples exceed full scale (peak "
                      f"{result.params['peak']:.3f}); kept in float WAV, clipped in 16-bit files")
    console.print(f"{spec['kind']}: span frames {result.span_frames} -> {out}")
