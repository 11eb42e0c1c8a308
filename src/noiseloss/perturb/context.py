"""What a perturbation may take from the model, and how each domain's result becomes tokens.

A perturbation works on one *domain* (audio, tokens or a score). ``apply`` takes the clean
versions of an excerpt, hands the perturbation the one its domain needs, fills in what the
perturbation asks of the model (``PerturbContext``), and returns what is heard and what is
scored, with the span in token columns and in seconds::

    Clean(audio, codes, score) --domain.take--> perturbation --domain.finish--> (audio, tokens)

    audio   audio   -> perturbed audio                        -> (audio, tokenize(audio))
    tokens  codes   -> perturbed codes                        -> (None,  codes on the clean axis)
    score   score   -> perturbed score -> render (audio model) -> (audio, tokenize(audio))
                                       -> (symbolic model)    -> (None,  tokenize(score))

A model of one modality takes the perturbations whose domain it can score (``MODEL_DOMAINS``).
The runner and ``noiseloss perturb`` go through ``DOMAINS`` and never switch on a domain or kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from noiseloss.errors import NoiselossError, ParameterError
from noiseloss.sources.audio import AUDIO_EXTENSIONS
from noiseloss.sources.codes import CODES_EXTENSIONS, is_codes_file, load_codes
from noiseloss.sources.midi import MIDI_EXTENSIONS
from noiseloss.timeaxis import TimeAxis


@dataclass(frozen=True)
class PerturbContext:
    """What a perturbation may need besides its own parameters, supplied by the model.

    Attributes:
        sample_rate: Rate of the audio, Hz (None: a symbolic model).
        hop_length: Samples per model frame (None: a symbolic model).
        codebook_size: Codes per codebook (token kinds).
        modality: What the model reads: ``audio`` or ``symbolic``.
        encode: The model's signal (audio ``[samples]`` or a score) -> integer codes ``[K, T]``.
        tokenize: The same, with the time axis (``noiseloss.tokenizers.base.Tokens``).
        tokenize_all: ``tokenize`` of a list of signals in one call (None: one at a time); an
            audio model encodes variants of the clean excerpt only from where they differ.
        render: ``pretty_midi.PrettyMIDI`` -> mono float32 audio ``[samples]`` at ``sample_rate``.
        resampler: How an audio file read at another rate is resampled (the model's, one of
            ``noiseloss.sources.audio.RESAMPLERS``).
    """

    sample_rate: int | None = None
    hop_length: int | None = None
    codebook_size: int | None = None
    modality: str = "audio"
    encode: Callable[[Any], np.ndarray] | None = None
    tokenize: Callable[[Any], Any] | None = None
    tokenize_all: Callable[[list], list] | None = None
    render: Callable[[Any], np.ndarray] | None = None
    resampler: str = "soxr"

    def arguments(self) -> dict:
        """The fields a perturbation function may accept by name (``CONTEXT_FIELDS``)."""
        return {name: getattr(self, name) for name in CONTEXT_FIELDS
                if getattr(self, name) is not None}

    def need(self, name: str, *, why: str):
        """The field ``name``, or ``ParameterError`` saying that ``why`` needs it."""
        value = getattr(self, name)
        if value is None:
            raise ParameterError(f"{why} needs a model's {name}; give a model")
        return value


#: Context fields a spec never holds: the model supplies them.
CONTEXT_FIELDS = tuple(f.name for f in dataclasses.fields(PerturbContext)
                       if f.name not in ("render", "tokenize", "tokenize_all", "modality",
                                         "resampler"))

#: The perturbation domains a model of each modality can score.
MODEL_DOMAINS = {"audio": ("audio", "tokens", "score"), "symbolic": ("tokens", "score")}


@dataclass(frozen=True)
class Clean:
    """The clean versions of one excerpt.

    Attributes:
        audio: ``[samples]`` at the model rate (None: a symbolic model).
        codes: ``[K, T]`` as the model tokenises the excerpt.
        midi: The score (``pretty_midi.PrettyMIDI``) or None (audio sources).
        label: Names the source in messages.
        axis: The time axis of ``codes`` (``noiseloss.timeaxis.TimeAxis``).
        offset_seconds: Where the excerpt starts in ``midi`` (an audio model's score edits work
            on the whole piece, rendered and then cut; a symbolic model's score is the excerpt).
        reference: The audio as the model's tokenizer encoded it, with the state its variants
            resume from (``AudioTokenizer.reference``), or None.
    """

    audio: np.ndarray | None
    codes: np.ndarray | None = None
    midi: Any = None
    label: str = "input"
    axis: TimeAxis | None = None
    offset_seconds: float = 0.0
    reference: Any = None


@dataclass(frozen=True)
class Variant:
    """A perturbed excerpt: record, audio heard, codes and their time axis.

    ``perturbed`` is the ``Perturbed`` record (spans in columns and seconds); ``audio`` is None
    for token edits and symbolic models.
    """

    perturbed: Any
    audio: np.ndarray | None
    codes: np.ndarray
    axis: TimeAxis | None = None


@dataclass(frozen=True)
class Domain:
    """How one domain's input is taken, finished, read from and written to files.

    ``finish(data, context, clean)`` returns ``(audio or None, Tokens)``; ``finish_all`` does the
    same for a list in one call where that saves work (None: ``finish`` each); ``write``
    returns True when it rendered a score to audio.
    """

    name: str
    writes: tuple[str, ...]
    take: Callable[[Clean], Any]
    finish: Callable[[Any, PerturbContext, Clean], tuple[np.ndarray | None, Any]]
    read: Callable[[Path, PerturbContext], Any]
    write: Callable[[Any, Path, PerturbContext], bool]
    finish_all: Callable[[list, PerturbContext, Clean], list] | None = None

    def check_output(self, path: Path) -> None:
        """``ParameterError`` unless ``path`` has an extension this domain writes."""
        if path.suffix.lower() not in self.writes:
            raise ParameterError(f"the output of a {self.name} kind must end in one of "
                                 f"{list(self.writes)}, got {path.name!r}")


def _tokenized(audio: np.ndarray, context: PerturbContext, why: str):
    return audio, context.need("tokenize", why=why)(audio)


def _tokenized_all(audios: list, context: PerturbContext, clean: Clean) -> list:
    if context.tokenize_all is None:
        return [_tokenized(a, context, "scoring perturbed audio") for a in audios]
    return list(zip(audios, context.tokenize_all(audios), strict=True))


def _finish_tokens(codes, context: PerturbContext, clean: Clean):
    from noiseloss.tokenizers.base import Tokens

    codes = np.asarray(codes)
    axis = clean.axis if clean.axis is not None and len(clean.axis) == codes.shape[1] else \
        TimeAxis.frames(codes.shape[1], frame_rate=context.sample_rate / context.hop_length)
    return None, Tokens(codes, axis)


def _finish_score(score, context: PerturbContext, clean: Clean):
    if context.modality == "symbolic":
        return None, context.need("tokenize", why="scoring a score edit")(score)
    return _tokenized(context.need("render", why="a score edit")(score), context,
                      "scoring a rendered score edit")


def _take_midi(clean: Clean):
    if clean.midi is None:
        raise ParameterError(f"a score edit needs a MIDI or music21 source; {clean.label} is "
                             "audio")
    return clean.midi


def _read_audio(path: Path, context: PerturbContext) -> np.ndarray:
    from noiseloss.sources.audio import load_audio

    if path.suffix.lower() in MIDI_EXTENSIONS:
        return context.need("render", why="an audio kind on a MIDI file")(_read_midi(path, context))
    return load_audio(path, sample_rate=context.sample_rate, resampler=context.resampler)


def _read_codes(path: Path, context: PerturbContext) -> np.ndarray:
    if not is_codes_file(path):
        raise ParameterError(f"token kinds read codes [K, T] from a .npy file, got {path}")
    return load_codes(path)


def _read_midi(path: Path, context: PerturbContext):
    from noiseloss.sources.midi import load_midi

    if path.suffix.lower() not in MIDI_EXTENSIONS:
        raise ParameterError(f"MIDI kinds read a .mid/.midi file, got {path}")
    return load_midi(path)


def _write_audio(audio, path: Path, context: PerturbContext) -> bool:
    from noiseloss.sources.audio import write_audio

    write_audio(path, audio, sample_rate=context.sample_rate)
    return False


def _write_codes(codes, path: Path, context: PerturbContext) -> bool:
    np.save(path, codes)
    return False


def _write_midi(midi, path: Path, context: PerturbContext) -> bool:
    if path.suffix.lower() in MIDI_EXTENSIONS:
        midi.write(str(path))
        return False
    _write_audio(context.need("render", why="writing a score as audio")(midi), path, context)
    return True


DOMAINS: dict[str, Domain] = {
    "audio": Domain(
        "audio", writes=AUDIO_EXTENSIONS,
        take=lambda clean: clean.audio,
        finish=lambda audio, ctx, clean: _tokenized(audio, ctx, "scoring perturbed audio"),
        read=_read_audio, write=_write_audio, finish_all=_tokenized_all),
    "tokens": Domain(
        "tokens", writes=CODES_EXTENSIONS,
        take=lambda clean: clean.codes,
        finish=_finish_tokens,
        read=_read_codes, write=_write_codes),
    "score": Domain(
        "score", writes=(*MIDI_EXTENSIONS, *AUDIO_EXTENSIONS),
        take=_take_midi,
        finish=_finish_score,
        read=_read_midi, write=_write_midi),
}


def domain_of(kind: str) -> Domain:
    """The ``Domain`` of a registered perturbation kind."""
    from noiseloss.perturb import PERTURBATIONS

    return DOMAINS[PERTURBATIONS.get(kind).domain]


def perturb_with(data, spec: dict, *, context: PerturbContext, seed: int):
    """``perturb(data, spec)`` with what ``context`` supplies that the kind accepts filled in.

    Args:
        data: The kind's domain input (audio ``[samples]``, codes ``[K, T]`` or a score).
        spec: ``{"kind": name, **parameters}`` (no context fields, no seed).
        context: What the model supplies (rates, codebook size, encoder).
        seed: Seed of the perturbation.

    Returns:
        The ``Perturbed`` result.
    """
    from noiseloss.perturb import PERTURBATIONS, perturb

    accepted = PERTURBATIONS.get(spec["kind"]).parameters()
    supplied = {k: v for k, v in context.arguments().items() if k in accepted and k not in spec}
    lacking = [n for n, p in accepted.items() if p.default is p.empty and n in CONTEXT_FIELDS
               and n not in spec and n not in supplied]
    if lacking:
        raise ParameterError(f"{spec['kind']} needs the model's {', '.join(lacking)}; give the "
                             "context of a model (scorer.perturb_context())")
    return perturb(data, {**spec, **supplied, "seed": seed})


def apply(clean: Clean, spec: dict, *, context: PerturbContext, seed: int) -> Variant:
    """Perturb the clean excerpt as ``spec`` says and tokenise it; see the module docstring.

    The span is reported in token columns (``span_frames``) and in seconds of the excerpt
    (``span_seconds``), whichever of them the edit reported (samples, columns or seconds of
    the score).

    Raises:
        ParameterError: A bad spec, or a source of the wrong domain (a MIDI edit of audio).
    """
    (variant,) = apply_all(clean, [spec], context=context, seeds=[seed])
    if isinstance(variant, NoiselossError):
        raise variant
    return variant


def apply_all(clean: Clean, specs: list[dict], *, context: PerturbContext,
              seeds: list[int]) -> list[Variant | NoiselossError]:
    """``apply`` of each spec, with the variants of one domain finished in one call.

    Returns:
        One ``Variant``, or the ``NoiselossError`` that spec met, per spec. A batch that fails
        is finished one variant at a time, so that one bad variant fails only itself.
    """
    outs: list = []
    for spec, seed in zip(specs, seeds, strict=True):
        try:
            outs.append(perturb_with(domain_of(spec["kind"]).take(clean), spec,
                                     context=context, seed=seed))
        except NoiselossError as exc:
            outs.append(exc)
    results: list = list(outs)
    domains: dict[str, list[int]] = {}
    for i, (spec, out) in enumerate(zip(specs, outs, strict=True)):
        if not isinstance(out, NoiselossError):
            domains.setdefault(domain_of(spec["kind"]).name, []).append(i)
    for name, members in domains.items():
        domain = DOMAINS[name]
        finished = None
        if domain.finish_all is not None:
            try:
                finished = domain.finish_all([outs[i].data for i in members], context, clean)
            except NoiselossError:
                finished = None
        for n, i in enumerate(members):
            try:
                audio, tokens = (finished[n] if finished is not None
                                 else domain.finish(outs[i].data, context, clean))
            except NoiselossError as exc:
                results[i] = exc
                continue
            results[i] = _variant(outs[i], audio, tokens, clean, context)
    return results


def _variant(out, audio, tokens, clean: Clean, context: PerturbContext) -> Variant:
    """The ``Variant`` of a finished perturbation, its span in columns and in seconds."""
    seconds, columns = out.span_seconds, out.span_frames
    if seconds is not None:  # seconds of the score -> of the excerpt, within it
        onset = min(max(seconds[0] - clean.offset_seconds, 0.0), tokens.axis.end_seconds)
        end = min(max(seconds[0] + seconds[1] - clean.offset_seconds, onset),
                  tokens.axis.end_seconds)
        seconds = (onset, end - onset)
    elif out.span_samples is not None:
        seconds = tuple(x / context.sample_rate for x in out.span_samples)
    elif columns is not None:
        seconds = tokens.axis.span_seconds(*columns)
    if columns is None and seconds is not None:
        columns = tokens.axis.columns(*seconds)
    out = dataclasses.replace(out, span_frames=columns, span_seconds=seconds)
    return Variant(out, audio, tokens.ids, tokens.axis)
