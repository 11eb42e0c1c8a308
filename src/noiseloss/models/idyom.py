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

Linked viewpoints (IDyOM's ``ioi (x) dur``; option ``linked``, default ``ioi*duration``) are
PPM models, LTM and STM, over the pairs of two rows' symbols (``LINKED``: ``pitch*ioi``,
``pitch*duration``, ``ioi*duration``). As IDyOM combines the viewpoints that predict one basic
attribute, a pair's distribution becomes one over each of its rows by summing over the other
member of the pair (IDyOM's ``derived->target``), and each row's own and linked distributions
are merged per model with bias 2 (``VIEWPOINT_BIAS``) before LTM and STM are (bias 7)::

    row ioi:  LTM  = combine(LTM ioi, sum over durations of LTM ioi*duration; bias 2)
              STM  = combine(STM ioi, sum over durations of STM ioi*duration; bias 2)
              p    = combine(LTM, STM; bias 7)

The whole piece is one window: the STM must see it all, as IDyOM reads a melody. Polyphony is
read note by note in order of onset, then pitch (a chord is a run of zero IOIs); drums are left
out.
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
#: The log-probability given to ids beyond a row's alphabet: ``exp(-80)`` (1.8e-35, times
#: 400 ids) is far below float32's resolution of a row's total, so the NLL and entropy that
#: the scorer computes in float32 are those of probability 0 (bit for bit), without the -1e30
#: that underflows in ``exp``: a path about 30 times slower on x86, for the 2.4 M such values
#: of a 2000-note piece.
OUTSIDE = -80.0
#: Built-in corpus of the long-term model.
DEFAULT_CORPUS = "demo-midi:train"
#: Linked viewpoints (IDyOM's ``a (x) b``): the pair of two rows' symbols, one PPM symbol.
LINKED = ("pitch*ioi", "pitch*duration", "ioi*duration")
#: Linked viewpoints of the default model (``-m linked=...`` chooses others; ``none``: none).
#: IOI with duration lowers the held-out information content for a tenth of the speed (README,
#: ``ppm``); adding the others lowered it a little more with the built-in corpus, not with a
#: larger one, at a third to a half of the speed (``benchmarks/scoring.py --symbolic``).
DEFAULT_LINKED: tuple[str, ...] = ("ioi*duration",)


def linked_viewpoints(value) -> tuple[str, ...]:
    """The ``linked`` model option as names of ``LINKED``, in that order.

    Args:
        value: None, ``""`` or ``"none"`` (none), a name such as ``"pitch*duration"`` (either
            order), several joined by commas, or a list of names.

    Raises:
        ParameterError: A name that is not one of ``LINKED``.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        value = [] if value.strip().lower() in ("", "none") else value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ParameterError(f"linked must be names of linked viewpoints {list(LINKED)} (a list "
                             f"or joined by commas) or 'none', got {value!r}")
    chosen = set()
    for name in value:
        parts = tuple(part.strip() for part in name.split("*"))
        match = [link for link in LINKED if sorted(link.split("*")) == sorted(parts)]
        if not match:
            raise ParameterError(f"linked viewpoint {name.strip()!r} is not one of {list(LINKED)} "
                                 "(or 'none')")
        chosen.add(match[0])
    return tuple(link for link in LINKED if link in chosen)


def _link_rows(link: str) -> tuple[int, int]:
    first, second = link.split("*")
    return ROWS.index(first), ROWS.index(second)


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
        linked: Names of ``LINKED`` viewpoints, each with its trained long-term ``PPM`` over
            the pair's symbols (``first * alphabet(second) + second``) in ``linked_ltms``.
    """

    def __init__(self, ltms, *, name: str, identity: dict, options: ScoringOptions,
                 linked: tuple[str, ...] = (), linked_ltms=()):
        tokenizer = ViewpointTokenizer()
        super().__init__(tokenizer, name=name, options=options, layouts={
            "rows": RowsLayout(special_id=tokenizer.codebook_size, rows=len(ROWS))})
        self.ltms, self.identity = ltms, identity
        self.linked, self.linked_ltms = linked_viewpoints(list(linked)), list(linked_ltms)
        if len(self.linked_ltms) != len(self.linked):
            raise ParameterError(f"one long-term model per linked viewpoint {list(self.linked)}, "
                                 f"got {len(self.linked_ltms)}")

    @classmethod
    def trained(cls, sequences, *, linked: tuple[str, ...], **kwargs) -> PpmScorer:
        """The scorer, its long-term models trained on ``sequences`` (viewpoint ids ``[3, T]``).

        One per row and one per linked viewpoint; ``kwargs``: ``name``, ``identity``, ``options``.
        """
        from noiseloss.models.ppm import LTM_DEFAULTS, PPM

        sizes = ViewpointTokenizer.alphabets
        ltms = [PPM(size, **LTM_DEFAULTS).fit([s[r] for s in sequences])
                for r, size in enumerate(sizes)]
        linked_ltms = []
        for link in linked:
            first, second = _link_rows(link)
            linked_ltms.append(PPM(sizes[first] * sizes[second], **LTM_DEFAULTS).fit(
                [s[first] * sizes[second] + s[second] for s in sequences]))
        return cls(ltms, linked=linked, linked_ltms=linked_ltms, **kwargs)

    def distributions(self, ids: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each row's predictive distributions for the notes ``ids`` ``[3, T]``, compact.

        Row ``r`` gets ``(symbols [S], probabilities [T, S + 1])`` (``PPM._compact``'s form:
        the last column is each other symbol's probability): ``p(x_t | x_0 .. x_{t-1})`` of
        its viewpoint, LTM and STM combined (bias 7); with linked viewpoints, each model's
        distribution first combines the row's own and those of the linked viewpoints that
        contain the row (bias 2, IDyOM's ``*viewpoint-bias*``), a linked viewpoint's
        distribution over pairs turned into one over the row's symbols by summing over the
        other symbol of the pair (IDyOM's ``derived->target``).
        """
        from noiseloss.models.ppm import LTM_STM_BIAS, PPM, STM_DEFAULTS, VIEWPOINT_BIAS, _combine_compact

        sizes = self.tokenizer.alphabets
        ids = np.asarray(ids, dtype=np.int64)
        ltm_parts = [[ltm._compact(ids[r], update=False)] for r, ltm in enumerate(self.ltms)]
        stm_parts = [[PPM(size, **STM_DEFAULTS)._compact(ids[r], update=True)]
                     for r, size in enumerate(sizes)]
        for link, ltm in zip(self.linked, self.linked_ltms, strict=True):
            first, second = _link_rows(link)
            pairs = ids[first] * sizes[second] + ids[second]
            stm = PPM(sizes[first] * sizes[second], **STM_DEFAULTS)._compact(pairs, update=True)
            for parts, compact in ((ltm_parts, ltm._compact(pairs, update=False)),
                                   (stm_parts, stm)):
                parts[first].append(_marginal(compact, sizes[first], sizes[second],
                                              keep_first=True))
                parts[second].append(_marginal(compact, sizes[first], sizes[second],
                                               keep_first=False))
        out = []
        for r, size in enumerate(sizes):
            models = [parts[r][0] if len(parts[r]) == 1 else
                      _combine_compact(parts[r], bias=VIEWPOINT_BIAS, size=size)
                      for parts in (ltm_parts, stm_parts)]
            out.append(_combine_compact(models, bias=LTM_STM_BIAS, size=size))
        return out

    def _logits(self, inputs, *, text, conditions=None):
        """Log-probabilities ``[B, 3, S, V]`` (ids beyond a row's alphabet: ``OUTSIDE``)."""
        import torch

        special = self.tokenizer.codebook_size
        batch, rows, steps = inputs.shape
        out = np.empty((batch, rows, steps, special), dtype=np.float32)
        for b in range(batch):
            ids = inputs[b, :, 1:].numpy()
            ends = [int(np.argmax(row == special)) if (row == special).any() else row.size
                    for row in ids]
            if len(set(ends)) != 1:
                raise ParameterError(f"the rows of an item must have the same notes, got {ends}")
            ids = np.concatenate([ids[:, : ends[0]], np.zeros((rows, 1), dtype=ids.dtype)],
                                 axis=1)  # the last step predicts the last target
            out[b, :, ids.shape[1]:] = OUTSIDE  # padding
            for r, (size, (columns, merged)) in enumerate(zip(
                    self.tokenizer.alphabets, self.distributions(ids), strict=True)):
                logs = np.log(np.maximum(merged, 1e-300))
                out[b, r, : ids.shape[1], size:] = OUTSIDE
                target = out[b, r, : ids.shape[1], :size]
                target[:] = logs[:, -1:]  # every symbol neither model has seen
                target[:, columns] = logs[:, :-1]
        return torch.from_numpy(out)

    def provenance(self) -> dict:
        """Model identity and settings."""
        return {**super().provenance(), **self.identity}


def _marginal(compact: tuple[np.ndarray, np.ndarray], first_size: int, second_size: int, *,
              keep_first: bool) -> tuple[np.ndarray, np.ndarray]:
    """A distribution over pairs ``first * second_size + second`` as one over ``first``.

    Or over ``second`` (``keep_first`` False): each symbol's probability is the sum over the
    pairs that hold it. Both in ``PPM._compact``'s form (a pair or symbol not listed has the
    last column's probability).
    """
    pairs, probs = compact
    kept = pairs // second_size if keep_first else pairs % second_size
    per_symbol = second_size if keep_first else first_size  # the pairs that hold a symbol
    symbols, where = np.unique(kept, return_inverse=True)
    out = np.empty((probs.shape[0], symbols.size + 1))
    out[:, -1] = per_symbol * probs[:, -1]
    if symbols.size:
        order = np.argsort(where, kind="stable")
        starts = np.searchsorted(where[order], np.arange(symbols.size))
        unlisted = per_symbol - np.bincount(where, minlength=symbols.size)
        out[:, :-1] = np.add.reduceat(probs[:, order], starts, axis=1) \
            + unlisted * probs[:, -1:]
    return symbols, out


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


def ppm_info(name: str = "ppm", *, corpus: str = DEFAULT_CORPUS,
             linked=DEFAULT_LINKED) -> ModelInfo:
    """Identity of the model: its settings and the SHA-256 of its corpus files (no training).

    Args:
        name: The model's name in results.
        corpus: A built-in MIDI set (``demo-midi:train``) or a folder of MIDI files: the
            long-term models' training data.
        linked: Linked viewpoints besides the three rows (``linked_viewpoints``: names of
            ``LINKED`` such as ``"pitch*duration"``, or ``"none"``).

    Raises:
        ModelLoadError: The corpus is missing.
        ParameterError: ``linked`` names an unknown viewpoint.
    """
    from noiseloss.errors import ConfigError
    from noiseloss.models.ppm import LTM_DEFAULTS, LTM_STM_BIAS, STM_DEFAULTS, VIEWPOINT_BIAS

    linked = linked_viewpoints(linked)
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
                "bias": LTM_STM_BIAS, "linked": list(linked)}
    if linked:
        identity["viewpoint_bias"] = VIEWPOINT_BIAS
    return ModelInfo(name, identity, window_frames=1_000_000, stride_frames=1_000_000,
                     batch_size=8, alignment="rows", details={"files": [str(p) for p in files]})


def load_ppm(info: ModelInfo, options: ScoringOptions) -> PpmScorer:
    """Train the long-term models on the corpus (seconds) and build the scorer."""
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
    return PpmScorer.trained(sequences, linked=linked_viewpoints(info.identity.get("linked")),
                             name=info.name, identity=info.identity, options=options)


BACKEND = Backend(info=ppm_info, load=load_ppm, options=("corpus", "linked"), modality="symbolic",
                  alignments={"rows": "each viewpoint row its own stream, each event predicted "
                                      "from the events before it (LTM + STM)"})
