"""Codes given as files: ``.npy`` arrays of integer codes ``[K, T]`` (never pickles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noiseloss.errors import AudioError

CODES_EXTENSIONS = (".npy",)


def is_codes_file(item) -> bool:
    """True for a path with a codes extension (``.npy``)."""
    return isinstance(item, (str, Path)) and Path(item).suffix.lower() in CODES_EXTENSIONS


def load_codes(path: str | Path) -> np.ndarray:
    """Integer codes ``[K, T]`` from a ``.npy`` file (no pickles).

    Raises:
        AudioError: The file is missing or unreadable, or does not hold a 2-D integer array.
    """
    try:
        codes = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise AudioError(f"{path}: cannot read codes ({exc})") from exc
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
        raise AudioError(f"{path}: codes must be a 2-D integer array [K, T], got "
                         f"{codes.dtype} {codes.shape}")
    return codes
