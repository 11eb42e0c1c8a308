"""Scoring options: the one home of their defaults (configs, CLI flags and the API read them here).

``None`` means "the model decides": each backend declares its window and batch defaults.
Importing this module imports no torch.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from noiseloss.errors import ParameterError, check_choice, check_int

DTYPES = ("float32", "float16", "bfloat16")
DEVICE_PATTERN = re.compile(r"cpu|auto|mps|cuda(:\d+)?")


#: CPU features that execute bfloat16 matrix products natively (x86: AVX512-BF16 or AMX).
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The feature flags of this machine's CPU (``/proc/cpuinfo``; empty where unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def check_device(device, dtype) -> None:
    """``ParameterError`` for an unknown device string or a dtype the device cannot run.

    float16 needs a GPU; bfloat16 on CPU needs native bf16 (``NATIVE_BF16_FLAGS``). Whether
    CUDA is actually available is checked when the model is loaded.
    """
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise ParameterError(f"device must be cpu, auto, mps, cuda or cuda:N, got {device!r}")
    check_choice("dtype", dtype, DTYPES)
    if device == "cpu" and dtype == "float16":
        raise ParameterError("dtype 'float16' is only supported on GPU; use float32 or (with "
                             "native bf16) bfloat16 on CPU")
    if device == "cpu" and dtype == "bfloat16" and not set(NATIVE_BF16_FLAGS) & cpu_flags():
        needs = " or ".join(NATIVE_BF16_FLAGS)
        raise ParameterError(f"dtype 'bfloat16' on CPU needs native bf16 ({needs} in "
                             "/proc/cpuinfo), which this CPU lacks; use float32")


@dataclass(frozen=True)
class ScoringOptions:
    """How units are scored.

    Attributes:
        alignment: A layout of the model (its backend's ``Backend.alignments``); None:
            the model's own factorisation (MusicGen: ``delayed``; YuE: ``prompted``).
        batch_size: Windows per forward pass; None: the model's default. The runner scores
            as many whole groups (a clean excerpt and its variants) together as hold this many
            units, so a batch may hold several clips, each sharing its own prefix.
        device: ``cpu``, ``auto``, ``mps``, ``cuda`` or ``cuda:N``.
        dtype: Weights dtype; NLL is always computed in float32.
        window_frames: Longest window fed to the decoder; None: the model's trained length.
        stride_frames: New frames scored per window after the first; None: the model's default
            (half of ``window_frames`` when it is longer than that).
        shared_prefix: Run each prefix that rows of a batch share once and score only the
            suffixes from its cache (same NLL within float rounding; ``scorer.prefix_plan``);
            False: every sequence in full (the reference for benchmarks).
        token_budget: Most decoder positions (windows x frames) in one forward pass; a batch
            stops before the window that would exceed it (always at least one window). None:
            ``batch_size`` alone bounds a batch. Out of memory, a batch is halved and retried
            whatever the budget; later batches take the largest size that fit below the
            smallest that failed.
    """

    alignment: str | None = None
    batch_size: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    window_frames: int | None = None
    stride_frames: int | None = None
    shared_prefix: bool = True
    token_budget: int | None = None

    def __post_init__(self):
        if not isinstance(self.shared_prefix, bool):
            raise ParameterError(f"shared_prefix must be true or false, got {self.shared_prefix!r}")
        if self.alignment is not None and (not isinstance(self.alignment, str)
                                           or not self.alignment):
            raise ParameterError(f"alignment must be the name of a layout, got "
                                 f"{self.alignment!r}")
        for name in ("batch_size", "window_frames", "stride_frames", "token_budget"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), low=1)
        check_device(self.device, self.dtype)
