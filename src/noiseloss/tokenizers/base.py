"""Tokenizer protocol: a signal (audio or a score) -> token ids ``[K codebooks, T]`` on a clock.

``Tokenizer.tokenize(signal)`` is what every model's tokenizer answers: the ids and the time in
seconds of each column (``noiseloss.timeaxis.TimeAxis``). An ``AudioTokenizer`` reads mono audio
at a fixed rate into frames; a ``ScoreTokenizer`` reads a score (``pretty_midi.PrettyMIDI``: notes
with onsets and durations in seconds, pitches, velocities, instruments) into events.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from noiseloss.errors import ParameterError
from noiseloss.sources.audio import validate_audio
from noiseloss.timeaxis import TimeAxis


@dataclass(frozen=True, eq=False)
class Tokens:
    """Token ids int64 ``[K, T]`` and the time axis of their ``T`` columns."""

    ids: np.ndarray
    axis: TimeAxis


class Tokenizer(ABC):
    """Any signal -> ``Tokens``; subclasses set the attributes below and implement ``tokenize``.

    Attributes:
        name: Recorded in provenance.
        modality: ``audio`` or ``symbolic`` (``noiseloss.timeaxis.MODALITIES``).
        num_codebooks: K, rows of the ids.
        codebook_size: Ids per row are in ``[0, codebook_size)``.
    """

    name: str
    modality: str
    num_codebooks: int
    codebook_size: int

    @abstractmethod
    def tokenize(self, signal) -> Tokens:
        """The ids ``[K, T]`` of ``signal`` and the time of each column."""

    def encode(self, signal) -> np.ndarray:
        """The ids int64 ``[K, T]`` of ``signal`` (``tokenize`` without the axis)."""
        return self.tokenize(signal).ids

    def _checked(self, ids, axis: TimeAxis) -> Tokens:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.shape != (self.num_codebooks, len(axis)):
            raise RuntimeError(f"{self.name} returned ids {ids.shape}, expected "
                               f"{(self.num_codebooks, len(axis))}")
        return Tokens(ids, axis)

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {"name": self.name, "modality": self.modality,
                "num_codebooks": self.num_codebooks, "codebook_size": self.codebook_size}


class AudioTokenizer(Tokenizer):
    """Audio codec with ``T = ceil(samples / hop_length)`` frames; subclasses implement ``_encode``.

    Attributes:
        sample_rate: Rate in Hz of the mono audio it reads.
        hop_length: Samples per frame.
    """

    modality = "audio"
    sample_rate: int
    hop_length: int

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        """Frame count for a signal of ``num_samples`` samples."""
        return math.ceil(num_samples / self.hop_length)

    def tokenize(self, audio: np.ndarray) -> Tokens:
        """Codes of mono float32 ``[samples]`` at ``sample_rate``, on frames from 0 s."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        validate_audio(audio, sample_rate=self.sample_rate)
        axis = TimeAxis.frames(self.num_frames(audio.shape[-1]), frame_rate=self.frame_rate)
        return self._checked(self._encode(audio), axis)

    @abstractmethod
    def _encode(self, audio: np.ndarray) -> np.ndarray:
        """Encode one validated mono signal; return codes ``[K, T]``."""

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {**super().describe(), "sample_rate": self.sample_rate,
                "hop_length": self.hop_length}


class ScoreTokenizer(Tokenizer):
    """Score -> events; subclasses implement ``_tokenize``."""

    modality = "symbolic"

    def tokenize(self, score) -> Tokens:
        """Events of a ``pretty_midi.PrettyMIDI``, each at the onset of its note."""
        import pretty_midi

        if not isinstance(score, pretty_midi.PrettyMIDI):
            raise ParameterError(f"a symbolic model reads a score (pretty_midi.PrettyMIDI), "
                                 f"got {type(score).__name__}")
        ids, onsets = self._tokenize(score)
        return self._checked(ids, TimeAxis.events(onsets, end_seconds=max(
            score.get_end_time(), float(np.max(onsets, initial=0.0)))))

    @abstractmethod
    def _tokenize(self, score) -> tuple[np.ndarray, np.ndarray]:
        """``(ids [K, T], onsets_seconds [T])`` of a score."""
