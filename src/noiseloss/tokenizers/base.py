"""Tokenizer protocol: a signal (audio or a score) -> token ids ``[K codebooks, T]`` on a clock.

``Tokenizer.tokenize(signal)`` is what every model's tokenizer answers: the ids and the time in
seconds of each column (``noiseloss.timeaxis.TimeAxis``). An ``AudioTokenizer`` reads mono audio
at a fixed rate into frames; a ``ScoreTokenizer`` reads a score (``pretty_midi.PrettyMIDI``: notes
with onsets and durations in seconds, pitches, velocities, instruments) into events.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
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


@dataclass(frozen=True, eq=False)
class Reference:
    """A clean signal, its tokens, and the codec state its variants resume from (or None)."""

    audio: np.ndarray
    tokens: Tokens
    state: object = None


def first_difference(audio: np.ndarray, reference: np.ndarray) -> int | None:
    """First sample where ``audio`` differs from ``reference`` (0 if shapes differ; None: equal)."""
    if audio.shape != reference.shape:
        return 0
    differs = (audio != reference).reshape(-1, audio.shape[-1]).any(axis=0)
    return int(differs.argmax()) if differs.any() else None


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

    def reference(self, signal) -> Reference:
        """A clean signal tokenised once, for ``tokenize_variants`` of its variants."""
        return Reference(signal, self.tokenize(signal))

    def tokenize_variants(self, signals: Sequence, *, reference: Reference) -> list[Tokens]:
        """``tokenize`` of each of several variants of ``reference``'s signal."""
        return [self.tokenize(s) for s in signals]

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
        resampler: How audio at another rate is brought to ``sample_rate`` (one of
            ``noiseloss.sources.audio.RESAMPLERS``): the resampler of its model's own pipeline,
            so that a file's codes are the ones that pipeline gives.
    """

    modality = "audio"
    sample_rate: int
    hop_length: int
    resampler: str = "soxr"

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length

    def num_frames(self, num_samples: int) -> int:
        """Frame count for a signal of ``num_samples`` samples."""
        return math.ceil(num_samples / self.hop_length)

    def tokenize(self, audio: np.ndarray) -> Tokens:
        """Codes of mono float32 ``[samples]`` at ``sample_rate``, on frames from 0 s."""
        audio = self._validated(audio)
        return self._checked(self._encode(audio), self._axis(audio))

    def reference(self, audio: np.ndarray) -> Reference:
        """Encode a clean signal once, keeping what ``tokenize_variants`` reuses of it."""
        audio = self._validated(audio)
        codes, state = self._encode_reference(audio)
        return Reference(audio, self._checked(codes, self._axis(audio)), state)

    def tokenize_variants(self, signals: Sequence[np.ndarray], *,
                          reference: Reference) -> list[Tokens]:
        """``tokenize`` of each signal, paying only for what differs from ``reference``.

        A variant equal to the reference audio before sample ``s`` has the reference's codes in
        every frame whose receptive field ends before ``s``; a codec that can resume from its
        state there (``_encode_variants``) encodes only the rest, and variants that part at
        the same frame in one batch. The codes are those of a whole-signal encode.
        """
        audios = [self._validated(a) for a in signals]
        codes: list[np.ndarray | None] = [None] * len(audios)
        resumed = []
        for i, audio in enumerate(audios):
            first = first_difference(audio, reference.audio)
            if first is None:
                codes[i] = reference.tokens.ids
            elif first == 0 or reference.state is None:
                codes[i] = self._encode(audio)
            else:
                resumed.append((i, first))
        if resumed:
            out = self._encode_variants([audios[i] for i, _ in resumed],
                                        firsts=[f for _, f in resumed], reference=reference)
            for (i, _), c in zip(resumed, out, strict=True):
                codes[i] = c
        return [self._checked(c, self._axis(a)) for c, a in zip(codes, audios, strict=True)]

    def _validated(self, audio: np.ndarray) -> np.ndarray:
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        validate_audio(audio, sample_rate=self.sample_rate)
        return audio

    def _axis(self, audio: np.ndarray) -> TimeAxis:
        return TimeAxis.frames(self.num_frames(audio.shape[-1]), frame_rate=self.frame_rate)

    @abstractmethod
    def _encode(self, audio: np.ndarray) -> np.ndarray:
        """Encode one validated mono signal; return codes ``[K, T]``."""

    def _encode_reference(self, audio: np.ndarray) -> tuple[np.ndarray, object]:
        """``(codes, state)`` of a validated signal; state None: variants are encoded whole."""
        return self._encode(audio), None

    def _encode_variants(self, audios: list[np.ndarray], *, firsts: list[int],
                         reference: Reference) -> list[np.ndarray]:
        """Codes of signals of the reference's shape that first differ from it at ``firsts``."""
        raise NotImplementedError(f"{self.name} keeps a reference state but cannot resume")

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {**super().describe(), "sample_rate": self.sample_rate,
                "hop_length": self.hop_length, "resampler": self.resampler}


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
