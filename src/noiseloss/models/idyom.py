"""``ppm``: an IDyOM-style model of expectation, on the same curves as the neural models.

Each note of a score is an event with three viewpoints, one row each (``ViewpointTokenizer``):
its pitch, its inter-onset interval from the previous note and its duration (10 ms bins). Each
row is predicted by two PPM models (``noiseloss.models.ppm``) as IDyOM predicts a viewpoint: a
long-term model (LTM) trained on a corpus and a short-term model (STM) that learns the piece as
it reads it, their distributions merged per event by the entropy-weighted geometric mean
(``combine``, bias 7), with IDyOM's settings (LTM: escape C; STM: escape AX with update
exclusion; both unbounded, PPM*). The NLL of a row is the information content of that
viewpoint in nats (IDyOM reports bits: divide by ln 2)::

    note         n0     n1     n2    ...       rows: 0 pitch, 1 IOI, 2 duration
    predicted    p(x_t | x_0 .. x_{t-1}) per row, LTM and STM combined

The whole piece is one window: the STM must see it all, as IDyOM reads a melody. Polyphony is
read note by note in order of onset, then pitch (a chord is a run of zero IOIs); drums are left
out. Linked viewpoints (pitch with IOI) are not modelled.
"""

from __future__ import annotations

import hashlib

import numpy as np

from noiseloss.errors import ModelLoadError, ParameterError
from noiseloss.models.base import Backend, ModelInfo
from noiseloss.scoring.layouts import DelayLayout
from noiseloss.scoring.options import ScoringOptions
from noiseloss.scoring.scorer import Scorer
from noiseloss.tokenizers.base import ScoreTokenizer

#: Bins per second of IOIs and durations, and the longest one (longer ones are capped).
TIME_BINS_PER_SECOND = 100
MAX_SECONDS = 4.0
ROWS = ("pitch", "ioi", "duration")
#: Built-in corpus of the long-term model.
DEFAULT_CORPUS = "demo-midi:train"


class ViewpointTokenizer(ScoreTokenizer):
    """A score -> ``[3, notes]``: pitch, IOI and duration bins of each pitched note."""

    name = "viewpoints"
    num_codebooks = len(ROWS)
    #: Symbols per row: 128 pitches, then the IOI and duration bins.
    alphabets = (128, int(TIME_BINS_PER_SECOND * MAX_SECONDS) + 1,
                 int(TIME_BINS_PER_SECOND * MAX_SECONDS) + 1)
    codebook_size = max(alphabets)

    def _tokenize(self, score) -> tuple[np.ndarray, np.ndarray]:
        notes = sorted((n.start, n.pitch, n.end - n.start) for inst in score.instruments
                       if not inst.is_drum for n in inst.notes)
        if not notes:
            raise ParameterError("the score has no pitched notes to score")
        onsets = np.array([n[0] for n in notes], dtype=np.float64)
        top = self.alphabets[1] - 1
        ioi = np.diff(onsets, prepend=onsets[0])
        ids = np.stack([[n[1] for n in notes],
                        np.minimum(np.round(ioi * TIME_BINS_PER_SECOND), top),
                        np.minimum(np.round(np.array([n[2] for n in notes]) *
                                            TIME_BINS_PER_SECOND), top)]).astype(np.int64)
        return ids, onsets

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {**super().describe(), "rows": list(ROWS), "alphabets": list(self.alphabets),
                "bins_per_second": TIME_BINS_PER_SECOND, "max_seconds": MAX_SECONDS}


class RowsLayout(DelayLayout):
    """Each row its own stream: token ``t`` of a row predicted from the row's tokens before it."""

    alignment = "rows"

    def __init__(self, *, special_id: int, rows: int):
        super().__init__(special_id=special_id, delays=(0,) * rows)


class PpmScorer(Scorer):
    """LTM + STM per row, merged per event (see the module docstring).

    Args:
        ltms: One trained long-term ``PPM`` per row.
        identity: Recorded with results.
    """

    def __init__(self, ltms, *, name: str, identity: dict, options: ScoringOptions):
        tokenizer = ViewpointTokenizer()
        super().__init__(tokenizer, name=name, options=options, layouts={
            "rows": RowsLayout(special_id=tokenizer.codebook_size, rows=len(ROWS))})
        self.ltms, self.identity = ltms, identity

    def _logits(self, inputs, *, text, conditions=None):
        """Log-probabilities ``[B, 3, S, V]`` (ids beyond a row's alphabet: -1e30)."""
        import torch

        from noiseloss.models.ppm import LTM_STM_BIAS, PPM, STM_DEFAULTS, combine

        special = self.tokenizer.codebook_size
        batch, rows, steps = inputs.shape
        out = np.full((batch, rows, steps, special), -1e30, dtype=np.float32)
        for b in range(batch):
            for r, (ltm, size) in enumerate(zip(self.ltms, self.tokenizer.alphabets, strict=True)):
                row = inputs[b, r, 1:].numpy()
                row = row[: int(np.argmax(row == special)) if (row == special).any() else None]
                symbols = [*row.tolist(), 0]  # the last step predicts the last target
                stm = PPM(size, **STM_DEFAULTS).predict(symbols, update=True)
                merged = combine([ltm.predict(symbols, update=False), stm], bias=LTM_STM_BIAS)
                out[b, r, : len(symbols), :size] = np.log(np.maximum(merged, 1e-300))
        return torch.from_numpy(out)

    def provenance(self) -> dict:
        """Model identity and settings."""
        return {**super().provenance(), **self.identity}


def _corpus_files(corpus: str) -> list:
    from pathlib import Path

    from noiseloss.sources.datasets import SOURCES, builtin_source
    from noiseloss.sources.midi import MIDI_EXTENSIONS

    if corpus.partition(":")[0] in SOURCES:
        family, which = builtin_source(corpus, name="ppm corpus")
        return list(family.files(which))
    folder = Path(corpus).expanduser()
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_EXTENSIONS) \
        if folder.is_dir() else []
    if not files:
        raise ModelLoadError(f"ppm corpus {corpus!r}: give a built-in set (demo-midi:train) or a "
                             "folder holding MIDI files")
    return files


def ppm_info(name: str = "ppm", *, corpus: str = DEFAULT_CORPUS) -> ModelInfo:
    """Identity of the model: its settings and the SHA-256 of its corpus files (no training).

    Raises:
        ModelLoadError: The corpus is missing.
    """
    from noiseloss.errors import ConfigError
    from noiseloss.models.ppm import LTM_DEFAULTS, LTM_STM_BIAS, STM_DEFAULTS

    try:
        files = _corpus_files(corpus)
    except ConfigError as exc:
        raise ModelLoadError(f"ppm corpus: {exc}") from exc
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    identity = {"model_id": "ppm", "corpus": corpus, "corpus_files": len(files),
                "corpus_sha256": digest.hexdigest(), "ltm": LTM_DEFAULTS, "stm": STM_DEFAULTS,
                "bias": LTM_STM_BIAS}
    return ModelInfo(name, identity, window_frames=1_000_000, stride_frames=1_000_000,
                     batch_size=8, alignment="rows", details={"files": [str(p) for p in files]})


def load_ppm(info: ModelInfo, options: ScoringOptions) -> PpmScorer:
    """Train the long-term models on the corpus (seconds) and build the scorer."""
    from noiseloss.models.ppm import LTM_DEFAULTS, PPM
    from noiseloss.sources.midi import load_score

    tokenizer = ViewpointTokenizer()
    sequences = []
    for path in info.details["files"]:
        try:
            sequences.append(tokenizer.encode(load_score(path)))
        except ParameterError:  # a file without pitched notes teaches nothing
            continue
    if not sequences:
        raise ModelLoadError(f"ppm corpus {info.identity['corpus']!r} holds no pitched notes")
    ltms = [PPM(size, **LTM_DEFAULTS).fit([s[r] for s in sequences])
            for r, size in enumerate(tokenizer.alphabets)]
    return PpmScorer(ltms, name=info.name, identity=info.identity, options=options)


BACKEND = Backend(info=ppm_info, load=load_ppm, options=("corpus",), modality="symbolic",
                  alignments={"rows": "each viewpoint row its own stream, each event predicted "
                                      "from the events before it (LTM + STM)"})
