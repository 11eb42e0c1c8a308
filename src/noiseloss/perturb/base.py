"""What every perturbation shares: the result type, time/span conversion, seeds, permutations.

Spans are reported on the time axis of the *output* signal. For every audio edit, with
``shift = len(out) - len(in)`` (0 unless the edit deletes or inserts)::

    in :  [ a (onset)   | span of the input ...          | b                        ]
    out:  [ a (onset)   | span (onset .. onset + length) | b, shifted by ``shift``  ]

    out[:onset]           == in[:onset]                      (bit-identical)
    out[onset + length:]  == in[onset + length - shift:]     (bit-identical)

Frames are ``hop_length`` samples: frame ``f`` starts at sample ``f * hop_length`` exactly.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from noiseloss.errors import ParameterError, check_int, check_number
from noiseloss.timeaxis import covering_frames


@dataclass(frozen=True)
class Perturbed:
    """A perturbed signal plus what was done to it.

    Attributes:
        data: Same type as the input: float32 audio ``[samples]``, int codes ``[K, T]`` or a
            ``pretty_midi.PrettyMIDI``.
        span_samples: ``(onset, length)`` of the affected span in output samples, or None
            (MIDI edits).
        span_frames: ``(onset, length)`` in token columns: model frames of ``hop_length``
            samples (the smallest frame range that covers ``span_samples``, exact when the span
            is frame-aligned), or the columns a token edit replaced.
        params: Every parameter used, defaults and seed included, plus measured values.
        span_seconds: ``(onset, length)`` in seconds of the output, when the edit knows it in
            seconds (score edits); ``perturb.context.apply`` fills it in for the others.
    """

    data: Any
    span_samples: tuple[int, int] | None
    span_frames: tuple[int, int] | None
    params: dict
    span_seconds: tuple[float, float] | None = None


@dataclass(frozen=True)
class Choices:
    """``typing.Annotated`` metadata of a parameter: the values it takes.

    ``Annotated[str, Choices(("white", "pink"))]`` in a perturbation's signature lets a config
    be checked when it is read (``perturb.check_spec_values``); the function checks it too.
    """

    values: tuple


@dataclass(frozen=True)
class Range:
    """``typing.Annotated`` metadata of a number parameter: its closed range ``[low, high]``."""

    low: float
    high: float


@dataclass(frozen=True)
class Perturbation:
    """A registry entry: name, domain and its function, or a lazily imported ``"module:function"``.

    Calling the entry calls the function and adds ``kind`` to the returned ``params``.
    ``columns`` names the recorded parameters that become results columns
    (``noiseloss.perturb.RESULT_COLUMNS``).
    """

    name: str
    domain: str
    target: str | Callable[..., Perturbed]
    summary: str
    columns: tuple[str, ...] = ()

    @property
    def function(self) -> Callable[..., Perturbed]:
        """The perturbation function (imports its module on first use)."""
        if callable(self.target):
            return self.target
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def parameters(self) -> dict[str, inspect.Parameter]:
        """Keyword-only parameters of the function, by name (the keys a spec may hold)."""
        sig = inspect.signature(self.function)
        return {n: p for n, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY}

    def __call__(self, data, **params) -> Perturbed:
        """Apply the perturbation; ``params`` of the result start with ``kind``."""
        out = self.function(data, **params)
        return dataclasses.replace(out, params={"kind": self.name, **out.params})


def make_rng(seed) -> np.random.Generator:
    """A fresh generator for a non-negative integer ``seed`` (the seed is recorded in params)."""
    return np.random.default_rng(check_int("seed", seed, low=0))


def random_order(n: int, rng: np.random.Generator, *, derangement: bool) -> np.ndarray:
    """A uniformly random permutation of ``range(n)``, never the identity (``n >= 2``).

    Args:
        n: Number of items.
        rng: Source of randomness.
        derangement: When True, no item stays in place (uniform over derangements);
            otherwise uniform over all permutations except the identity.
    """
    if n < 2:
        raise ParameterError(f"a shuffle needs at least 2 items, got {n}")
    while True:  # rejection sampling: expected tries <= e for derangements, <= 2 otherwise
        order = rng.permutation(n)
        fixed = order == np.arange(n)
        if (not fixed.any()) if derangement else (not fixed.all()):
            return order


# -- time and spans -------------------------------------------------------------------------------
def check_rates(sample_rate, hop_length) -> tuple[int, int]:
    """Validate ``sample_rate`` (Hz) and ``hop_length`` (samples per model frame)."""
    return check_int("sample_rate", sample_rate, low=1), check_int("hop_length", hop_length, low=1)


def time_samples(name: str, *, frames, seconds, sample_rate: int, hop_length: int,
                 minimum: int = 0) -> tuple[int, dict]:
    """Convert ``{name}_frames`` or ``{name}_seconds`` (exactly one given) to samples.

    Frames convert exactly (``frames * hop_length``); seconds are rounded to the nearest sample.

    Returns:
        ``(samples, record)`` where ``record`` holds the given value under its own name.
    """
    if (frames is None) == (seconds is None):
        raise ParameterError(
            f"give exactly one of {name}_frames or {name}_seconds, got "
            f"{name}_frames={frames!r} and {name}_seconds={seconds!r}")
    if frames is not None:
        value = check_int(f"{name}_frames", frames, low=-(-minimum // hop_length))
        samples, record = value * hop_length, {f"{name}_frames": value}
    else:
        value = check_number(f"{name}_seconds", seconds, low=0.0)
        samples, record = round(value * sample_rate), {f"{name}_seconds": value}
    if samples < minimum:
        given = next(iter(record.items()))
        raise ParameterError(
            f"{given[0]} must be at least {minimum} samples ({minimum / hop_length:g} frames), "
            f"got {given[1]!r} ({samples} samples)")
    return samples, record


def check_end(what: str, end: int, total: int, *, hop_length: int | None) -> None:
    """``ParameterError`` unless ``end`` (the end of ``what``) is within a signal of ``total``.

    ``end`` and ``total`` are samples, or frames when ``hop_length`` is None (codes).
    """
    if end > total:
        if hop_length is None:
            raise ParameterError(f"{what} must end within the {total} frames of the codes, got "
                                 f"an end at frame {end}")
        raise ParameterError(
            f"{what} must end within the signal ({total} samples = {total / hop_length:g} "
            f"frames), got an end at {end} samples ({end / hop_length:g} frames)")


def audio_result(data: np.ndarray, onset_samples: int, length_samples: int, *, hop_length: int,
                 params: dict) -> Perturbed:
    """A ``Perturbed`` for an audio edit, with the span in samples and in covering frames."""
    return Perturbed(data, (onset_samples, length_samples),
                     covering_frames(onset_samples, length_samples, hop_length), params)


def as_audio(audio) -> np.ndarray:
    """Validate mono audio and view it as float32 ``[samples]`` (no copy when already float32)."""
    from noiseloss.sources.audio import validate_audio

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ParameterError(f"audio must be mono [samples], got shape {audio.shape}")
    validate_audio(audio, sample_rate=1)
    return audio
