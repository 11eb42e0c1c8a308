"""One exception hierarchy for the whole package.

Messages name the parameter or file, the allowed values and the value received.
The CLI turns any ``NoiselossError`` into a one-line message and a non-zero exit code.
The validators below are the only ones: every module checks user input with them.
"""

import difflib
import math
import numbers


class NoiselossError(Exception):
    """Base class of every error raised on purpose by noiseloss."""


class ParameterError(NoiselossError, ValueError):
    """A parameter is out of range or of the wrong kind."""


class AudioError(NoiselossError):
    """An audio file or array cannot be used (unreadable, empty, non-finite, too short)."""


class ModelLoadError(NoiselossError):
    """A model or tokenizer cannot be found or loaded."""


class ConfigError(NoiselossError):
    """An experiment configuration is invalid."""


class StaleError(NoiselossError):
    """Derived outputs (analysis tables) are missing or older than what they are derived from."""


class DependencyError(NoiselossError):
    """An optional dependency or system program is missing."""


def suggest(value, allowed) -> str:
    """`` Did you mean 'x'?`` for the closest of ``allowed`` to ``value`` (empty when none is close)."""
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=3)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


def check_choice(name: str, value, allowed) -> None:
    """Raise ``ParameterError`` unless ``value`` is one of ``allowed`` (with a suggestion)."""
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {sorted(map(str, allowed))}, got {value!r}."
                             f"{suggest(value, allowed)}".rstrip("."))


def check_range(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> None:
    """Raise ``ParameterError`` unless ``low <= value <= high`` (bounds optional, open on request)."""
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "inf)" if high is None else f"{high}" + (")" if high_open else "]")
        raise ParameterError(f"{name} must be in {lo}, {hi}, got {value!r}")


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as ``int``; ``ParameterError`` unless it is an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name} must be an integer, got {value!r}")
    check_range(name, int(value), low=low, high=high)
    return int(value)


def check_ratio(name: str, value) -> float:
    """Return ``value`` as ``float``; ``ParameterError`` unless it is a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ParameterError(f"{name} must be a number in [0, 1], got {value!r}")
    check_range(name, float(value), low=0.0, high=1.0)
    return float(value)


def check_number(name: str, value, **bounds) -> float:
    """Return ``value`` as a finite ``float`` within optional ``check_range`` bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    check_range(name, float(value), **bounds)
    return float(value)


def check_keys(mapping: dict, allowed, *, where: str) -> None:
    """``ConfigError`` naming the first key of ``mapping`` not in ``allowed`` (with a suggestion)."""
    for key in mapping:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed: {sorted(allowed)}."
                              f"{suggest(key, allowed)}".rstrip("."))
