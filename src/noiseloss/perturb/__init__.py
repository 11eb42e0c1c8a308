"""Perturbations: pure functions registered by name, applied from a dict/YAML spec.

>>> out = perturb(audio, {"kind": "noise", "color": "pink", "onset_frames": 250,
...                       "length_frames": 100, "level_db": -20, "level_ref": "signal"},
...               sample_rate=32000, hop_length=640, seed=0)

A spec is the keyword arguments of the registered function plus ``kind``. ``sample_rate``,
``hop_length`` and ``seed`` may sit in the spec or be passed to ``perturb``; kinds that do not use
one of them ignore it. ``perturb.context.apply`` perturbs an excerpt for a model, filling in what
the model supplies (``PerturbContext``). Listing ``PERTURBATIONS`` imports no perturbation module.

Adding a perturbation is its function (keyword-only parameters, returns ``Perturbed``) plus one
line in ``_ENTRIES``; ``RESULT_COLUMNS`` names recorded parameters worth a results column.

Registered kinds (``PERTURBATIONS.describe(name)`` gives one line each):

    audio   noise, swap, permute, reverse, delete, repeat, silence, lowpass, hard-clip
    tokens  token-random, token-noise, token-repeat
    score   note-delete, velocity, tempo-warp, pitch-shift, bar-shuffle, note-noise, loop,
            transpose-span, score-swap, score-permute
"""

from __future__ import annotations

from collections.abc import Mapping

from noiseloss.errors import ParameterError
from noiseloss.perturb.base import Perturbation, Perturbed
from noiseloss.perturb.context import (
    CONTEXT_FIELDS,
    DOMAINS,
    Clean,
    PerturbContext,
    apply,
    apply_all,
    perturb_with,
)
from noiseloss.perturb.levels import (
    LEVEL_REFS,
    loudness_lufs,
    noise_level_db,
    reference_level_db,
    rms_db,
)
from noiseloss.perturb.noise import NOISE_COLORS, NOISE_METHODS, legacy_filter, noise
from noiseloss.registry import Registry

PERTURBATIONS: Registry[Perturbation] = Registry("perturbation")

# Arguments that come from the model or the experiment rather than from the perturbation itself.
CONTEXT_KEYS = (*CONTEXT_FIELDS, "seed")

#: Recorded parameters (``Perturbed.params``) that become columns of the results table:
#: name -> (Arrow type, description). A kind lists the ones it records in its entry.
RESULT_COLUMNS = {
    "color": ("string", "noise colour, if any"),
    "level_db": ("float64", "perturbation level in dB, if any"),
    "level_ref": ("string", "what level_db is relative to: dbfs (absolute RMS), signal, local, lufs"),
}

_ENTRIES = [
    ("noise", "audio", "inject:inject_noise",
     "coloured noise replacing (or added to) a span, level in dBFS, dB re signal/local, or LU",
     ("color", "level_db", "level_ref")),
    ("swap", "audio", "order:swap_blocks",
     "swap two adjacent L-frame blocks at the onset (the paper's shuffle)"),
    ("permute", "audio", "order:permute_blocks",
     "random permutation of the L-frame blocks of a window, each block exactly once"),
    ("reverse", "audio", "order:reverse_span", "play a span backwards"),
    ("delete", "audio", "order:delete_span", "cut a span out and close the gap"),
    ("repeat", "audio", "order:repeat_span",
     "play the L frames before the onset again at the onset"),
    ("silence", "audio", "order:insert_silence", "insert L frames of silence at the onset"),
    ("lowpass", "audio", "filters:lowpass", "low-pass a span (zero-phase Butterworth)"),
    ("hard-clip", "audio", "filters:hard_clip",
     "overdrive a span into hard clipping at its own peak (drive in dB)"),
    ("token-random", "tokens", "tokens:random_tokens", "replace a span of codes with random codes"),
    ("token-noise", "tokens", "tokens:noise_tokens",
     "replace a span of codes with the codes of a noise signal (any tokenizer)",
     ("color", "level_db")),
    ("token-repeat", "tokens", "tokens:repeat_token", "replace a span of codes with one code"),
    ("note-delete", "score", "midi_edits:delete_notes", "delete a fraction of the notes"),
    ("velocity", "score", "midi_edits:change_velocity",
     "new random velocity for a fraction of the notes"),
    ("tempo-warp", "score", "midi_edits:warp_tempo",
     "time-stretch a fraction of the duration, segment by segment"),
    ("pitch-shift", "score", "midi_edits:shift_pitch",
     "shift a fraction of the notes by a semitone, an octave or a scale step of the key"),
    ("bar-shuffle", "score", "midi_edits:shuffle_bars", "reorder segments of whole bars"),
    ("note-noise", "score", "score_spans:note_noise",
     "random notes replace a span (symbolic white noise: the span's density, the piece's range)"),
    ("loop", "score", "score_spans:loop", "the bar before a span repeated through it"),
    ("transpose-span", "score", "score_spans:transpose_span",
     "the notes of a span shifted by N semitones"),
    ("score-swap", "score", "score_spans:score_swap",
     "swap two adjacent blocks of a score, in seconds"),
    ("score-permute", "score", "score_spans:score_permute",
     "random permutation of N blocks of a score, in seconds"),
]
for _name, _domain, _target, _summary, *_columns in _ENTRIES:
    PERTURBATIONS.register(_name, Perturbation(_name, _domain, f"noiseloss.perturb.{_target}",
                                               _summary, *_columns), help=_summary)


def perturb(data, spec: Mapping, *, sample_rate: int | None = None,
            hop_length: int | None = None, seed: int | None = None) -> Perturbed:
    """Apply the perturbation described by ``spec`` to ``data``.

    Args:
        data: float audio ``[samples]``, integer codes ``[K, T]`` or ``pretty_midi.PrettyMIDI``,
            as the kind's domain requires (the input is never modified).
        spec: ``{"kind": name, **keyword arguments of that perturbation}``.
        sample_rate: Rate in Hz (audio and token-noise kinds); may also be in ``spec``.
        hop_length: Samples per model frame; may also be in ``spec``.
        seed: Seed of random kinds; may also be in ``spec``.

    Returns:
        The ``Perturbed`` result; its ``params`` start with ``kind``.

    Raises:
        ParameterError: Unknown kind or key, a missing or conflicting parameter, or a bad value
            (the message names the parameter, the allowed values and the value given).
    """
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise ParameterError(f"spec must be a mapping with a 'kind' key, got {spec!r}")
    kind = spec["kind"]
    entry = PERTURBATIONS.get(kind)
    params = {k: v for k, v in spec.items() if k != "kind"}
    for name, value in (("sample_rate", sample_rate), ("hop_length", hop_length), ("seed", seed)):
        if value is None:
            continue
        if name in params and params[name] != value:
            raise ParameterError(f"{name} is given twice with different values: {params[name]!r} "
                                 f"in the spec and {value!r} as an argument")
        params[name] = value
    check_spec_keys(kind, params)
    accepted = entry.parameters()
    return entry(data, **{k: v for k, v in params.items() if k in accepted})


def check_spec_values(kind: str, params: Mapping, *, grid: Mapping | None = None) -> None:
    """Raise ``ParameterError`` if a value is not what its parameter declares.

    Catches, when a config is read, what would otherwise fail unit by unit: a string where a
    number belongs (YAML reads ``1.0e308`` without an exponent sign as a string), a number
    where a string belongs, a fraction where an integer belongs, NaN, inf, a choice that does
    not exist (``Annotated[str, Choices(...)]``), a number out of its declared range
    (``Annotated[float, Range(...)]``), a negative ``*_frames`` / ``*_seconds`` / ``*_ms`` and a
    ``ratio`` outside [0, 1]. The declarations are the function's signature, read with
    ``typing.get_type_hints`` (postponed annotations or not); parameters of other types, and
    functions whose annotations cannot be resolved, are left to the function, which checks its
    own values when it runs.

    Args:
        kind: A registered perturbation.
        params: Fixed parameters (key -> value).
        grid: Grid axes (key -> list of values); each value is checked.
    """
    import math

    from noiseloss.errors import suggest
    from noiseloss.perturb.base import Choices, Range

    declared = _declared(PERTURBATIONS.get(kind).function)
    pairs = [*params.items(), *((k, v) for k, values in (grid or {}).items() for v in values)]
    for key, value in pairs:
        if key not in declared or value is None:
            continue
        types, meta = declared[key]
        choices = next((m.values for m in meta if isinstance(m, Choices)), None)
        bounds = next((m for m in meta if isinstance(m, Range)), None)
        if types == {"str"}:
            if not isinstance(value, str):
                raise ParameterError(f"{key} must be a string, got {value!r}")
            if choices is not None and value not in choices:
                raise ParameterError(f"{key} must be one of {list(choices)}, got {value!r}."
                                     f"{suggest(value, choices)}".rstrip("."))
            continue
        if not types or not types <= {"int", "float"}:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParameterError(f"{key} must be a number, got {value!r}")
        if types == {"int"} and not isinstance(value, int):
            raise ParameterError(f"{key} must be an integer, got {value!r}")
        if not math.isfinite(value):
            raise ParameterError(f"{key} must be a finite number, got {value!r}")
        if bounds is not None and not bounds.low <= value <= bounds.high:
            raise ParameterError(f"{key} must be in [{bounds.low:g}, {bounds.high:g}], got "
                                 f"{value!r}")
        if key.endswith(("_frames", "_seconds", "_ms")) and value < 0:
            raise ParameterError(f"{key} must be >= 0, got {value!r}")
        if key == "ratio" and not 0 <= value <= 1:
            raise ParameterError(f"ratio must be in [0, 1], got {value!r}")


def _declared(function) -> dict[str, tuple[set[str], list]]:
    """Per keyword parameter: the types it allows (their names, None left out) and metadata.

    The metadata are its ``Annotated`` extras; empty when the annotations cannot be resolved.
    """
    import inspect
    import typing

    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:  # an annotation naming what its module does not define
        return {}
    return {name: _unpack(hints[name]) for name, p in inspect.signature(function).parameters.items()
            if p.kind is p.KEYWORD_ONLY and name in hints}


def _unpack(hint) -> tuple[set[str], list]:
    import types
    import typing

    meta = []
    if typing.get_origin(hint) is typing.Annotated:
        hint, *meta = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        names = set()
        for arg in typing.get_args(hint):
            inner, more = _unpack(arg)
            names |= inner
            meta += more
        return names, meta
    if hint is None or hint is type(None):
        return set(), meta
    return {hint.__name__ if isinstance(hint, type) else repr(hint)}, meta


def check_spec_keys(kind: str, keys, *, supplied=()) -> None:
    """Raise ``ParameterError`` if ``kind`` does not accept one of ``keys`` or lacks a required one.

    Args:
        kind: A registered perturbation.
        keys: Parameter names of a spec (``kind`` excluded).
        supplied: Names that the caller fills in later (they count as present).
    """
    accepted = PERTURBATIONS.get(kind).parameters()
    unknown = sorted(set(keys) - set(accepted) - set(CONTEXT_KEYS))
    if unknown:
        from noiseloss.errors import suggest

        hints = "".join(suggest(key, accepted) for key in unknown)
        raise ParameterError(f"unknown parameter(s) {unknown} for kind {kind!r}; allowed: "
                             f"{sorted(accepted)}.{hints}".rstrip("."))
    present = set(keys) | set(supplied)
    missing = sorted(n for n, p in accepted.items() if p.default is p.empty and n not in present)
    if missing:
        raise ParameterError(f"missing parameter(s) {missing} for kind {kind!r}")


__all__ = [
    "CONTEXT_KEYS",
    "DOMAINS",
    "RESULT_COLUMNS",
    "Clean",
    "PerturbContext",
    "apply",
    "apply_all",
    "perturb_with",
    "LEVEL_REFS",
    "NOISE_COLORS",
    "NOISE_METHODS",
    "PERTURBATIONS",
    "Perturbation",
    "check_spec_keys",
    "Perturbed",
    "legacy_filter",
    "loudness_lufs",
    "noise",
    "noise_level_db",
    "perturb",
    "reference_level_db",
    "rms_db",
]
