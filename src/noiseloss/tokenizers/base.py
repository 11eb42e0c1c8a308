"""Tokenizer protocol: mono audio at a fixed rate -> integer codes ``[K codebooks, T frames]``."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from noiseloss.sources.audio import validate_audio


class Tokenizer(ABC):
    """Audio tokenizer with ``T = ceil(samples / hop_length)`` frames of ``num_codebooks`` codes.

    Subclasses set the attributes below and implement ``_encode``.
    """

    name: str
    sample_rate: int
    hop_length: int
    num_codebooks: int
    codebook_size: int

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        """Frame count for a signal of ``num_samples`` samples."""
        return math.ceil(num_samples / self.hop_length)

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """Encode mono float32 ``[samples]`` at ``sample_rate`` into int64 codes ``[K, T]``."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        validate_audio(audio, sample_rate=self.sample_rate)
        codes = np.asarray(self._encode(audio), dtype=np.int64)
        expected = (self.num_codebooks, self.num_frames(audio.shape[-1]))
        if codes.shape != expected:
            raise RuntimeError(f"{self.name} returned codes {codes.shape}, expected {expected}")
        return codes

    @abstractmethod
    def _encode(self, audio: np.ndarray) -> np.ndarray:
        """Encode one validated mono signal; return codes ``[K, T]``."""

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {
            "name": self.name,
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "num_codebooks": self.num_codebooks,
            "codebook_size": self.codebook_size,
        }
