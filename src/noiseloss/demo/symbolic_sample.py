"""Top-k sampling of arrival-time events from ``demo-midi`` and their decoding to MIDI.

The model writes ``time, duration, note`` in turn after the ``AUTOREGRESS`` flag. At each step
only the ids of the row due are allowed (times no earlier than the previous event's, since
events arrive in time order), then the ``top_k`` most likely of those are kept and one is drawn.
A piece starts with a note at time 0 (as a tokenized file does). A window holds
``(n_positions - 1) / 3`` events; when it is full, the last half is kept, its
times counted again from its first event (as a scored window presents them), and sampling
continues. Decoding: an event is a note ``pitch`` from ``onset`` lasting ``duration`` (at least
one 10 ms bin); rests are dropped.
"""

from __future__ import annotations

import numpy as np

from noiseloss.errors import check_range
from noiseloss.tokenizers.amt import TIME_RESOLUTION, AmtVocab


def sample_events(model, vocab: AmtVocab, *, seconds: float, top_k: int,
                  rng: np.random.Generator, max_events: int = 2000) -> np.ndarray:
    """Events int64 ``[E, 3]`` ``(onset bin, duration bins, note)`` with onsets before ``seconds``.

    ``note`` is ``128 * instrument + pitch``, or ``instruments * pitches`` for a rest; onsets
    count from the first event (0).
    """
    import torch

    from noiseloss.scoring.cache import cached_forward

    check_range("top_k", top_k, low=1)
    model.eval()
    window = (model.config.n_positions - 1) // 3
    limit = round(seconds * TIME_RESOLUTION)
    rows = [(vocab.time_offset, vocab.time_offset + vocab.time_bins),
            (vocab.dur_offset, vocab.dur_offset + vocab.dur_bins),
            (vocab.note_offset, vocab.rest + 1)]
    events: list[tuple[int, int, int]] = []
    window_events: list[tuple[int, int, int]] = []  # this window's (time token, dur, note) ids
    base = 0  # onset (bins) of the window's first event
    with torch.inference_mode():
        out, cache = cached_forward(model, None,
                                    input_ids=torch.tensor([[vocab.autoregress]]))
        logits = out.logits[0, -1]
        while len(events) < max_events:
            event = []
            for k, (low, high) in enumerate(rows):
                if k == 0:  # no earlier than the previous event; a piece starts at 0
                    low = window_events[-1][0] if window_events else low
                    high = high if events else low + 1
                if k == 2 and not events:
                    high = vocab.rest  # a piece starts with a note, never a rest
                token = _draw(logits[low:high].double().numpy(), top_k=top_k, rng=rng) + low
                event.append(token)
                out, cache = cached_forward(model, cache, input_ids=torch.tensor([[token]]))
                logits = out.logits[0, -1]
            onset = base + event[0] - vocab.time_offset
            if onset >= limit:
                break
            events.append((onset, event[1] - vocab.dur_offset, event[2] - vocab.note_offset))
            window_events.append(tuple(event))
            if len(window_events) == window:  # slide: keep the last half, times re-based
                kept = window_events[window // 2:]
                shift = kept[0][0] - vocab.time_offset
                base += shift
                window_events = [(t - shift, d, n) for t, d, n in kept]
                ids = [vocab.autoregress] + [x for e in window_events for x in e]
                out, cache = cached_forward(model, None, input_ids=torch.tensor([ids]))
                logits = out.logits[0, -1]
    return np.array(events, dtype=np.int64).reshape(-1, 3)


def _draw(logits: np.ndarray, *, top_k: int, rng: np.random.Generator) -> int:
    """One index drawn from the renormalised softmax of the ``top_k`` largest ``logits``."""
    kept = min(top_k, logits.size)
    threshold = np.partition(logits, -kept)[-kept]
    masked = np.where(logits >= threshold, logits, -np.inf)
    probs = np.exp(masked - masked.max())
    cdf = np.cumsum(probs / probs.sum())
    return int(min(np.searchsorted(cdf, rng.random(), side="right"), logits.size - 1))


def events_to_midi(events: np.ndarray, vocab: AmtVocab, *, program: int = 0):
    """A ``pretty_midi.PrettyMIDI`` of events ``[E, 3]`` (``sample_events``); rests dropped."""
    import pretty_midi

    inst = pretty_midi.Instrument(program=program)
    for onset, dur, note in np.asarray(events).tolist():
        if note >= vocab.instruments * vocab.pitches:
            continue  # a rest
        inst.notes.append(pretty_midi.Note(
            velocity=80, pitch=int(note % vocab.pitches), start=onset / TIME_RESOLUTION,
            end=(onset + max(dur, 1)) / TIME_RESOLUTION))
    score = pretty_midi.PrettyMIDI()
    if inst.notes:
        score.instruments.append(inst)
    return score


__all__ = ["events_to_midi", "sample_events"]
