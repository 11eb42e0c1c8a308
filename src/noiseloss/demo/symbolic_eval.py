"""How ``demo-midi`` is judged: an n-gram baseline per row, and the exact-repeat test.

**Baseline.** Each row of the arrival-time events is predicted from the same row of the
previous ``order - 1`` events, with its own alphabet:

- time: the onset interval ``t[e] - t[e-1]`` (a time token is the previous one plus this, so a
  distribution over intervals is one over time tokens; the first event's interval is from 0),
- duration: the duration bins,
- note: the note (``128 * instrument + pitch``) or the rest.

Events before the first are a ``START`` symbol. Probabilities are Dirichlet-smoothed and
interpolated down to an add-one unigram::

    p_1(x)     = (n(x) + 1) / (N + A)
    p_k(x | h) = (n(h, x) + beta * p_{k-1}(x | h')) / (n(h) + beta)     h' = h without its oldest

where ``A`` is the row's alphabet and ``n`` are counts over the training pieces.

**Repeat test.** A seeded 40-note random-walk melody played twice in a row: a model that reads
its context predicts the second occurrence far better than the first. It passes when the mean
NLL per token of the second occurrence is at most ``REPEAT_RATIO`` times that of the first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from noiseloss.errors import ParameterError
from noiseloss.tokenizers.amt import AmtVocab

#: Passing ratio of the repeat test (second occurrence over first, mean NLL per token).
REPEAT_RATIO = 0.6
ROWS = ("time", "duration", "note")


def row_symbols(codes: np.ndarray, vocab: AmtVocab) -> list[np.ndarray]:
    """The three symbol rows of codes ``[3, E]``: onset intervals, durations, notes.

    The codes' times count from the piece's first event (its interval is 0).
    """
    times = codes[0] - vocab.time_offset
    return [np.diff(times, prepend=0), codes[1] - vocab.dur_offset, codes[2] - vocab.note_offset]


def alphabet_sizes(vocab: AmtVocab) -> tuple[int, int, int]:
    """Symbols per row: time bins, duration bins, notes and the rest."""
    return vocab.time_bins, vocab.dur_bins, vocab.instruments * vocab.pitches + 1


class RowNgram:
    """An order-``order`` Dirichlet-interpolated n-gram over one row's symbols (module docstring).

    Args:
        sequences: Training sequences of symbols in ``[0, alphabet)``.
        alphabet: Symbols of the row.
        order: 1 (unigram), 2 (bigram), 3 (trigram), ...
        prior_weight: ``beta``.
    """

    def __init__(self, sequences: Sequence[np.ndarray], *, alphabet: int, order: int,
                 prior_weight: float):
        self.alphabet, self.order, self.beta = int(alphabet), int(order), float(prior_weight)
        if self.order < 1 or (self.alphabet + 1) ** (self.order - 1) * self.alphabet >= 2**62:
            raise ParameterError(f"order {order} over {alphabet} symbols: give 1 <= order and "
                                 "contexts that fit 64-bit keys")
        self.start = self.alphabet  # context symbol before the first event
        self.unigram = np.ones(self.alphabet)
        for seq in sequences:
            self.unigram += np.bincount(np.asarray(seq, dtype=np.int64), minlength=self.alphabet)
        self.unigram /= self.unigram.sum()
        # per context length k >= 1: sorted joint keys and counts, sorted context keys and counts
        self.tables = {}
        for k in range(1, self.order):
            joint = np.concatenate([self._keys(np.asarray(s, dtype=np.int64), k, joint=True)
                                    for s in sequences]) if sequences else np.zeros(0, np.int64)
            context = joint // self.alphabet
            self.tables[k] = (*np.unique(joint, return_counts=True),
                              *np.unique(context, return_counts=True))

    def _keys(self, seq: np.ndarray, k: int, *, joint: bool) -> np.ndarray:
        """Per position, the key of its ``k`` previous symbols (and of the symbol: ``joint``)."""
        padded = np.concatenate([np.full(k, self.start, np.int64), seq])
        key = np.zeros(seq.size, np.int64)
        for j in range(k):  # oldest first
            key = key * (self.alphabet + 1) + padded[j : j + seq.size]
        return key * self.alphabet + seq if joint else key

    @staticmethod
    def _lookup(keys: np.ndarray, table_keys: np.ndarray, table_counts: np.ndarray) -> np.ndarray:
        if table_keys.size == 0:
            return np.zeros(keys.size)
        at = np.minimum(np.searchsorted(table_keys, keys), table_keys.size - 1)
        return np.where(table_keys[at] == keys, table_counts[at], 0).astype(np.float64)

    def prob(self, seq: np.ndarray) -> np.ndarray:
        """``p(x_e | previous)`` of every symbol of ``seq`` (float64 ``[E]``)."""
        seq = np.asarray(seq, dtype=np.int64)
        p = self.unigram[seq]
        for k in range(1, self.order):
            joint_keys, joint_counts, ctx_keys, ctx_counts = self.tables[k]
            n_joint = self._lookup(self._keys(seq, k, joint=True), joint_keys, joint_counts)
            n_ctx = self._lookup(self._keys(seq, k, joint=False), ctx_keys, ctx_counts)
            p = (n_joint + self.beta * p) / (n_ctx + self.beta)
        return p


class EventNgram:
    """A ``RowNgram`` per row of arrival-time events (time intervals, durations, notes).

    Args:
        train_codes: Codes ``[3, E_i]`` of the training pieces (times from their first event).
        vocab: Their vocabulary.
        order: Order of every row's model.
        prior_weight: ``beta`` of every row's model.
    """

    def __init__(self, train_codes: Sequence[np.ndarray], vocab: AmtVocab, *, order: int,
                 prior_weight: float):
        self.vocab, self.order, self.prior_weight = vocab, order, prior_weight
        rows = [row_symbols(c, vocab) for c in train_codes]
        self.rows = [RowNgram([r[k] for r in rows], alphabet=size, order=order,
                              prior_weight=prior_weight)
                     for k, size in enumerate(alphabet_sizes(vocab))]

    def nll(self, codes: np.ndarray) -> np.ndarray:
        """NLL float64 ``[3, E]`` (nats) of a piece's codes, each row from its own history."""
        return np.stack([-np.log(model.prob(symbols)) for model, symbols in
                         zip(self.rows, row_symbols(codes, self.vocab), strict=True)])


def mean_nll(nlls: Sequence[np.ndarray]) -> dict:
    """Mean NLL per token over every token of every item ``[3, E_i]``, and per row."""
    tokens = sum(n.size for n in nlls)
    out = {"mean": float(sum(np.sum(n, dtype=np.float64) for n in nlls) / tokens)}
    for k, name in enumerate(ROWS):
        out[name] = float(sum(np.sum(n[k], dtype=np.float64) for n in nlls) /
                          sum(n.shape[1] for n in nlls))
    return out


# -- the exact-repeat test -----------------------------------------------------------------------
def repeat_melody(*, seed: int, notes: int = 40, low: int = 55, high: int = 79):
    """A seeded random-walk melody of ``notes`` notes played twice in a row (``PrettyMIDI``).

    Pitches move by 1-4 semitones up or down (reflected into ``[low, high]``) from 67; each
    note lasts an eighth or a quarter at 120 quarters a minute (0.25 or 0.5 s), legato; the
    second occurrence starts when the first ends.
    """
    import pretty_midi

    rng = np.random.default_rng(seed)
    pitch, pitches = 67, []
    for _ in range(notes):
        pitches.append(pitch)
        pitch += int(rng.choice([-4, -3, -2, -1, 1, 2, 3, 4]))
        if pitch < low or pitch > high:
            pitch = 2 * (low if pitch < low else high) - pitch
    lengths = rng.choice([0.25, 0.5], size=notes)
    inst = pretty_midi.Instrument(program=0)
    start = 0.0
    for _ in range(2):
        for p, length in zip(pitches, lengths, strict=True):
            inst.notes.append(pretty_midi.Note(velocity=80, pitch=p, start=start,
                                               end=start + float(length)))
            start += float(length)
    score = pretty_midi.PrettyMIDI()
    score.instruments.append(inst)
    return score


def repeat_test(scorer, *, seed: int, notes: int = 40) -> dict:
    """Score ``repeat_melody`` with ``scorer``: mean NLL of each occurrence, their ratio, passed.

    Every token of the 2 x ``notes`` events is scored in one window (the scorer's windows must
    hold them).
    """
    tokens = scorer.tokenize(repeat_melody(seed=seed, notes=notes))
    nll = scorer.score_codes([tokens.ids], axes=[tokens.axis])[0].nll.astype(np.float64)
    first, second = nll[:, :notes], nll[:, notes:]
    ratio = float(second.mean() / first.mean())
    return {"seed": seed, "notes": notes, "first_nll": float(first.mean()),
            "second_nll": float(second.mean()), "ratio": ratio,
            "first_per_row": [float(x) for x in first.mean(axis=1)],
            "second_per_row": [float(x) for x in second.mean(axis=1)],
            "required_ratio": REPEAT_RATIO, "passed": bool(ratio <= REPEAT_RATIO)}


__all__ = ["REPEAT_RATIO", "ROWS", "EventNgram", "RowNgram", "mean_nll", "repeat_melody",
           "repeat_test", "row_symbols"]
