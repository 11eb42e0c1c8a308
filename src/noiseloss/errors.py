"""One exception hierarchy for the whole package.

Messages name the parameter or file, the allowed values and the value received.
The CLI turns any ``NoiselossError`` into a one-line message and a non-zero exit code.
"""


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


class DependencyError(NoiselossError):
    """An optional dependency or system program is missing."""


def check_choice(name: str, value, allowed) -> None:
    """Raise ``ParameterError`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {sorted(map(str, allowed))}, got {value!r}")


def check_range(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> None:
    """Raise ``ParameterError`` unless ``low <= value <= high`` (bounds optional, open on request)."""
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "inf)" if high is None else f"{high}" + (")" if high_open else "]")
        raise ParameterError(f"{name} must be in {lo}, {hi}, got {value!r}")
