"""What a perturbation may take from the model, and how each domain's result becomes codes.

A perturbation works on one *domain* (audio, codes or a MIDI score). ``apply`` takes the clean
versions of an excerpt, hands the perturbation the one its domain needs, fills in what the
perturbation asks of the model (``PerturbContext``), and returns what is heard and what is
scored::

    Clean(audio, codes, midi) --domain.take--> perturbation --domain.finish--> (audio, codes)

    audio   audio   -> perturbed audio            -> (audio, encode(audio))
    tokens  codes   -> perturbed codes            -> (None,  codes)
    midi    score   -> perturbed score -> render  -> (audio, encode(audio))

The runner and ``noiseloss perturb`` go through ``DOMAINS`` and never switch on a domain or kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from noiseloss.errors import ParameterError
from noiseloss.sources.audio import AUDIO_EXTENSIONS
from noiseloss.sources.codes import CODES_EXTENSIONS, is_codes_file, load_codes
from noiseloss.sources.midi import MIDI_EXTENSIONS


@dataclass(frozen=True)
class PerturbContext:
    """What a perturbation may need besides its own parameters, supplied by the model.

    Attributes:
        sample_rate: Rate of the audio, Hz.
        hop_length: Samples per model frame.
        codebook_size: Codes per codebook (token kinds).
        encode: Mono float32 audio ``[samples]`` -> integer codes ``[K, frames]``.
        render: ``pretty_midi.PrettyMIDI`` -> mono float32 audio ``[samples]`` at ``sample_rate``.
    """

    sample_rate: int
    hop_length: int
    codebook_size: int | None = None
    encode: Callable[[np.ndarray], np.ndarray] | None = None
    render: Callable[[Any], np.ndarray] | None = None

    def arguments(self) -> dict:
        """The fields a perturbation function may accept by name (``render`` is the domain's)."""
        return {name: getattr(self, name) for name in CONTEXT_FIELDS
                if getattr(self, name) is not None}

    def need(self, name: str, *, why: str):
        """The field ``name``, or ``ParameterError`` saying that ``why`` needs it."""
        value = getattr(self, name)
        if value is None:
            raise ParameterError(f"{why} needs a model's {name}; give a model (--model in the CLI)")
        return value


#: Context fields a spec never holds: the model supplies them.
CONTEXT_FIELDS = tuple(f.name for f in dataclasses.fields(PerturbContext) if f.name != "render")


@dataclass(frozen=True)
class Clean:
    """The clean versions of one excerpt: audio ``[samples]``, codes ``[K, T]``, score or None."""

    audio: np.ndarray
    codes: np.ndarray | None = None
    midi: Any = None
    label: str = "input"


@dataclass(frozen=True)
class Variant:
    """A perturbed excerpt: its ``Perturbed`` record, audio heard (None: token edits), codes."""

    perturbed: Any
    audio: np.ndarray | None
    codes: np.ndarray


@dataclass(frozen=True)
class Domain:
    """How one domain's input is taken, finished, read from and written to files.

    ``write`` returns True when it rendered a score to audio.
    """

    name: str
    writes: tuple[str, ...]
    take: Callable[[Clean], Any]
    finish: Callable[[Any, PerturbContext], tuple[np.ndarray | None, np.ndarray]]
    read: Callable[[Path, PerturbContext], Any]
    write: Callable[[Any, Path, PerturbContext], bool]

    def check_output(self, path: Path) -> None:
        """``ParameterError`` unless ``path`` has an extension this domain writes."""
        if path.suffix.lower() not in self.writes:
            raise ParameterError(f"the output of a {self.name} kind must end in one of "
                                 f"{list(self.writes)}, got {path.name!r}")


def _encoded(audio: np.ndarray, context: PerturbContext, why: str) -> tuple[np.ndarray, np.ndarray]:
    return audio, context.need("encode", why=why)(audio)


def _take_midi(clean: Clean):
    if clean.midi is None:
        raise ParameterError(f"a MIDI edit needs a MIDI or music21 source; {clean.label} is audio")
    return clean.midi


def _read_audio(path: Path, context: PerturbContext) -> np.ndarray:
    from noiseloss.sources.audio import load_audio

    if path.suffix.lower() in MIDI_EXTENSIONS:
        return context.need("render", why="an audio kind on a MIDI file")(_read_midi(path, context))
    return load_audio(path, sample_rate=context.sample_rate)


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
        finish=lambda audio, ctx: _encoded(audio, ctx, "scoring perturbed audio"),
        read=_read_audio, write=_write_audio),
    "tokens": Domain(
        "tokens", writes=CODES_EXTENSIONS,
        take=lambda clean: clean.codes,
        finish=lambda codes, ctx: (None, codes),
        read=_read_codes, write=_write_codes),
    "midi": Domain(
        "midi", writes=(*MIDI_EXTENSIONS, *AUDIO_EXTENSIONS),
        take=_take_midi,
        finish=lambda midi, ctx: _encoded(ctx.need("render", why="a MIDI edit")(midi), ctx,
                                          "scoring a rendered MIDI edit"),
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
        raise ParameterError(f"{spec['kind']} needs the model's {', '.join(lacking)}; give a "
                             "model (--model in the CLI)")
    return perturb(data, {**spec, **supplied, "seed": seed})


def apply(clean: Clean, spec: dict, *, context: PerturbContext, seed: int) -> Variant:
    """Perturb the clean excerpt as ``spec`` says and encode it; see the module docstring.

    Raises:
        ParameterError: A bad spec, or a source of the wrong domain (a MIDI edit of audio).
    """
    domain = domain_of(spec["kind"])
    out = perturb_with(domain.take(clean), spec, context=context, seed=seed)
    audio, codes = domain.finish(out.data, context)
    return Variant(out, audio, codes)
