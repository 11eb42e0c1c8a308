"""Arrival-time events of the Anticipatory Music Transformer (Thickstun et al. 2023).

A score becomes events of three tokens, ``(time, duration, note)``, in the order the notes start
(notes that start together keep the file's playback order)::

    time      TIME_OFFSET + round(100 * onset_s)        (10 ms bins)
    duration  DUR_OFFSET  + min(round(100 * (offset_s - onset_s)), MAX_DUR - 1)
    note      NOTE_OFFSET + 128 * instrument + pitch    (instrument 128: drums)

Wherever more than one second passes without an onset, a rest event ``(t + 100, 0, REST)`` is
inserted every second (the authors' padding of training data). Codes are ``[3, T]``: row 0 the
time tokens, row 1 the durations, row 2 the notes; times are counted from the first event (a
training window starts at 0). A piece may last longer than the vocabulary's time tokens: its
later time codes then lie beyond them, and the scorer presents each window with times counted
from the window's first event, as in training (``models.amt.ArrivalLayout``). Unclosed notes
last 250 ms (``sources.midi.load_score``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from noiseloss.errors import ParameterError
from noiseloss.tokenizers.base import ScoreTokenizer

#: Time bins per second (10 ms).
TIME_RESOLUTION = 100


@dataclass(frozen=True)
class AmtVocab:
    """Where each kind of token lives in an arrival-time vocabulary.

    Attributes:
        time_bins: Time tokens (``MAX_TIME``: 100 s at 10 ms for the published models).
        dur_bins: Duration tokens (``MAX_DUR``: 10 s).
        instruments: Instrument codes (129: the General MIDI programs and drums). A compact
            vocabulary with 1 reads every pitched note as instrument 0 and leaves drums out
            (a piano roll).
        pitches: Pitches per instrument (128).
        vocab_size: Ids of the model (the published models: 55,028, with anticipated controls
            and special tokens beyond the ones scored here).
        autoregress: The ``AUTOREGRESS`` flag that starts a sequence.
    """

    time_bins: int = 10000
    dur_bins: int = 1000
    instruments: int = 129
    pitches: int = 128
    vocab_size: int = 55028
    autoregress: int = 55026

    @property
    def time_offset(self) -> int:
        """First time token."""
        return 0

    @property
    def dur_offset(self) -> int:
        """First duration token."""
        return self.time_offset + self.time_bins

    @property
    def note_offset(self) -> int:
        """First note token."""
        return self.dur_offset + self.dur_bins

    @property
    def rest(self) -> int:
        """The rest (padding) note token."""
        return self.note_offset + self.instruments * self.pitches

    @classmethod
    def from_config(cls, config) -> AmtVocab:
        """The vocabulary of a GPT-2 config.

        Its ``noiseloss_amt`` fields if it has them (a compact vocabulary of the same
        structure, as ``demo-midi`` uses), else the published one.

        Raises:
            ParameterError: The config's vocabulary size fits neither.
        """
        fields = getattr(config, "noiseloss_amt", None)
        vocab = cls(**fields) if fields else cls()
        if vocab.rest >= vocab.vocab_size or vocab.autoregress >= vocab.vocab_size or \
                int(config.vocab_size) != vocab.vocab_size:
            raise ParameterError(
                f"the model's vocabulary ({config.vocab_size} ids) is not an arrival-time "
                f"vocabulary: the published AMT models have {cls().vocab_size}; a compact one "
                "declares its layout in config.json as noiseloss_amt")
        return vocab


class AmtTokenizer(ScoreTokenizer):
    """A score -> ``[3, T]`` arrival-time events (see the module docstring).

    Args:
        vocab: The model's ``AmtVocab``.
    """

    name = "amt-arrival"
    num_codebooks = 3

    def __init__(self, vocab: AmtVocab | None = None):
        self.vocab = vocab or AmtVocab()
        self.codebook_size = self.vocab.vocab_size

    def events(self, score) -> np.ndarray:
        """``[E, 3]`` int64 ``(onset bin, duration bins, note)`` of the notes, in event order.

        The note is ``128 * instrument + pitch``; ties in onset keep playback ``order``
        (``load_score``), else the order of instruments and notes in the score.
        """
        rows = []
        piano_roll = self.vocab.instruments == 1
        for i, inst in enumerate(score.instruments):
            if piano_roll and inst.is_drum:
                continue
            instrument = 0 if piano_roll else 128 if inst.is_drum else inst.program
            if instrument >= self.vocab.instruments:
                raise ParameterError(f"instrument {instrument} is beyond this model's "
                                     f"{self.vocab.instruments} instruments")
            for j, note in enumerate(inst.notes):
                rows.append((round(TIME_RESOLUTION * note.start),
                             round(TIME_RESOLUTION * (note.end - note.start)),
                             self.vocab.pitches * instrument + note.pitch,
                             getattr(note, "order", float("inf")), i, j))
        rows.sort(key=lambda r: (r[0], r[3], r[4], r[5]))
        events = np.array([r[:3] for r in rows], dtype=np.int64).reshape(-1, 3)
        if (events[:, 1] < 0).any():
            raise ParameterError("a note ends before it starts")
        events[:, 1] = np.minimum(events[:, 1], self.vocab.dur_bins - 1)
        return events

    def _tokenize(self, score) -> tuple[np.ndarray, np.ndarray]:
        events = self.events(score)
        if events.size == 0:
            drums = sum(len(inst.notes) for inst in score.instruments if inst.is_drum)
            raise ParameterError("the score has no notes to score" + (
                f" (its {drums} drum note(s) are left out: this model reads pitched notes "
                "only)" if drums else ""))
        padded, previous = [], 0
        for onset, dur, note in events:
            while onset > previous + TIME_RESOLUTION:  # a rest every second of silence
                previous += TIME_RESOLUTION
                padded.append((previous, 0, None))
            padded.append((onset, dur, note))
            previous = onset
        v = self.vocab
        onsets = np.array([p[0] for p in padded], dtype=np.int64)
        ids = np.array([[v.time_offset + t - onsets[0] for t in onsets],
                        [v.dur_offset + d for _, d, _ in padded],
                        [v.rest if n is None else v.note_offset + n for _, _, n in padded]],
                       dtype=np.int64)
        return ids, onsets / TIME_RESOLUTION

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {**super().describe(), "time_resolution_hz": TIME_RESOLUTION,
                **{k: getattr(self.vocab, k) for k in ("time_bins", "dur_bins", "instruments",
                                                       "vocab_size")}}
