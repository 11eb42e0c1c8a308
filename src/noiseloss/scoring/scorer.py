"""The scorer template: audio or codes -> per-token NLL and entropy ``[R, T]``.

Batching, windowing and conditioning live here, once; the token layout (how codes become decoder
inputs and where each target is read) is a strategy of the backend (``scoring.layouts``). A
backend implements ``_logits`` (one forward pass of its decoder) and chooses its layouts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from noiseloss.errors import ParameterError, check_choice, check_int
from noiseloss.scoring.layouts import Layout
from noiseloss.scoring.options import ScoringOptions
from noiseloss.scoring.pattern import kl_divergence
from noiseloss.scoring.result import ScoreResult
from noiseloss.scoring.windows import Window, plan_windows
from noiseloss.sources.audio import load_audio, resample, to_mono, to_stereo, validate_audio
from noiseloss.sources.codes import is_codes_file, load_codes
from noiseloss.timeaxis import TimeAxis
from noiseloss.tokenizers.base import Tokenizer, Tokens

AudioInput = str | Path | np.ndarray


class Scorer(ABC):
    """A music LM that scores token sequences under one of its layouts.

    Args:
        tokenizer: Turns audio into codes ``[K, T]``.
        layouts: Alignment name -> ``Layout``; the first is the model's own factorisation.
        name: Model id recorded in results.
        options: Scoring options resolved by the model (``ModelInfo.resolve``: windows, batch
            size and alignment set); ``alignment`` and ``batch_size`` are the defaults of
            ``score_codes``.
    """

    #: Audio channels the tokenizer encodes (2: stereo, ``[2, samples]``).
    channels: int = 1

    def __init__(self, tokenizer: Tokenizer, *, layouts: dict[str, Layout], name: str,
                 options: ScoringOptions):
        self.tokenizer = tokenizer
        self.layouts = dict(layouts)
        self.name = name
        if None in (options.window_frames, options.stride_frames, options.batch_size,
                    options.alignment):
            raise ParameterError(f"{name}: scoring options must be resolved by the model, got "
                                 f"{options}")
        check_choice("alignment", options.alignment, self.layouts)
        plan_windows(1, window_frames=options.window_frames,
                     stride_frames=options.stride_frames)  # validate
        self.options = options
        #: Decoder positions computed so far (a shared prefix counts once): the work done.
        self.positions_computed = 0
        #: Windows per forward pass after an out-of-memory error: the largest batch that fit,
        #: below the smallest that failed (None: none failed).
        self.batch_cap: int | None = None
        self._smallest_failure: int | None = None

    # -- properties ---------------------------------------------------------------------------
    @property
    def modality(self) -> str:
        """What it reads: ``audio`` or ``symbolic`` (a score)."""
        return self.tokenizer.modality

    @property
    def sample_rate(self) -> int | None:
        """Rate in Hz that audio is resampled to (None: a symbolic model)."""
        return getattr(self.tokenizer, "sample_rate", None)

    @property
    def resampler(self) -> str:
        """How audio at another rate is resampled (``AudioTokenizer.resampler``)."""
        return getattr(self.tokenizer, "resampler", "soxr")

    @property
    def frame_rate(self) -> float | None:
        """Frames per second (None: a symbolic model's columns are events)."""
        return getattr(self.tokenizer, "frame_rate", None)

    @property
    def num_codebooks(self) -> int:
        """K, rows of the codes."""
        return self.tokenizer.num_codebooks

    @property
    def supports_text(self) -> bool:
        """Whether ``text=`` conditioning is available."""
        return False

    #: Names of the per-item audio conditions it accepts (``melody`` for MusicGen-Melody).
    conditions: tuple[str, ...] = ()

    # -- the hook -----------------------------------------------------------------------------
    @abstractmethod
    def _logits(self, inputs, *, text: str | None, conditions: list | None):
        """Logits float ``[B, C, S', V]`` for decoder inputs int64 ``[B, C, S]``.

        ``text=None`` is the unconditional (null-condition) distribution; ``conditions`` holds
        one backend-specific condition per batch item (None: none).
        """

    def _cached_logits(self, inputs, cache):
        """``(logits [B, C, S, V], cache)``: unconditional, continuing ``cache`` (None: start).

        ``NotImplemented`` when the backend has no cached forward (full scoring is used).
        """
        return NotImplemented

    def audio_condition(self, name: str, audio: np.ndarray):
        """The per-item condition ``name`` (one of ``conditions``) of mono audio at the model rate."""
        raise ParameterError(f"model {self.name!r} takes no {name} condition")

    def provenance(self) -> dict:
        """Model identity recorded with results (id, revision or weight hash, dtype, device)."""
        return {"model": self.name, "tokenizer": self.tokenizer.describe()}

    # -- public API ---------------------------------------------------------------------------
    def load(self, source: AudioInput, *, sample_rate: int | None = None) -> np.ndarray:
        """Audio at the model rate from a path or an array (``sample_rate`` needed for arrays).

        Mono float32 ``[samples]``; ``[2, samples]`` for a stereo model (mono is duplicated).
        """
        if isinstance(source, (str, Path)):
            return load_audio(source, sample_rate=self.sample_rate, min_samples=1,
                              channels=self.channels, resampler=self.resampler)
        if sample_rate is None:
            raise ParameterError("sample_rate is required when scoring an array")
        array = to_stereo(source) if self.channels == 2 else to_mono(source)
        audio = resample(array, orig_sr=int(sample_rate), target_sr=self.sample_rate,
                         resampler=self.resampler)
        validate_audio(audio, sample_rate=self.sample_rate, name="audio array")
        return audio

    def encode(self, signal) -> np.ndarray:
        """Codes int64 ``[K, T]`` of audio at the model rate, or of a score (symbolic models)."""
        return self.tokenizer.encode(signal)

    def tokenize(self, signal) -> Tokens:
        """Codes and the time of each column (``noiseloss.tokenizers.base.Tokens``)."""
        return self.tokenizer.tokenize(signal)

    def reference(self, audio: np.ndarray):
        """The clean audio encoded once, for its variants (``AudioTokenizer.reference``)."""
        return self.tokenizer.reference(audio)

    def perturb_context(self, *, render=None, reference=None):
        """What a perturbation may take from this model (``noiseloss.perturb.PerturbContext``).

        Args:
            render: ``pretty_midi.PrettyMIDI`` -> audio at the model rate (MIDI sources and edits
                of an audio model).
            reference: The clean excerpt's ``reference``: perturbed audio of its length is then
                encoded only from where it differs, several variants in one call.
        """
        from noiseloss.perturb import PerturbContext

        tokenize_all = None
        if reference is not None:
            def tokenize_all(signals):
                return self.tokenizer.tokenize_variants(signals, reference=reference)
        return PerturbContext(sample_rate=self.sample_rate, resampler=self.resampler,
                              hop_length=getattr(self.tokenizer, "hop_length", None),
                              codebook_size=self.tokenizer.codebook_size, modality=self.modality,
                              encode=self.encode, tokenize=self.tokenize,
                              tokenize_all=tokenize_all, render=render)

    def score(
        self,
        audio: AudioInput | Sequence[AudioInput],
        *,
        sample_rate: int | None = None,
        **options,
    ) -> ScoreResult | list[ScoreResult]:
        """Score one item or a list of items; see ``score_codes`` for options.

        An item is an audio file, an audio array (``sample_rate`` needed) or a ``.npy`` file of
        codes ``[K, T]`` (scored as they are).
        """
        single = isinstance(audio, (str, Path, np.ndarray))
        items = [audio] if single else list(audio)
        if self.modality == "symbolic":
            from noiseloss.sources.midi import load_score

            signals = [None if is_codes_file(a) else load_score(a) for a in items]
        else:
            signals = [None if is_codes_file(a) else self.load(a, sample_rate=sample_rate)
                       for a in items]
        tokens = [None if s is None else self.tokenize(s) for s in signals]
        results = self.score_codes(
            [load_codes(a) if t is None else t.ids for a, t in zip(items, tokens, strict=True)],
            axes=[None if t is None else t.axis for t in tokens], **options)
        if self.modality == "audio":
            for res, sig in zip(results, signals, strict=True):
                res.num_samples = None if sig is None else int(sig.shape[-1])
        return results[0] if single else results

    def check_options(self, *, text: str | None = None, guidance_scale: float | None = None,
                      alignment: str | None = None, batch_size: int | None = None,
                      condition: str | None = None) -> None:
        """Raise ``ParameterError`` for scoring options this model cannot honour.

        ``condition``: the name of an audio condition (``melody``) the caller will pass.
        """
        if alignment is not None:
            check_choice("alignment", alignment, self.layouts)
        if batch_size is not None:
            check_int("batch_size", batch_size, low=1)
        if text is not None and not self.supports_text:
            raise ParameterError(f"model {self.name!r} has no text conditioning; got text={text!r}")
        if guidance_scale is not None and text is None:
            raise ParameterError("guidance_scale (classifier-free guidance) requires text")
        if condition is not None and condition not in self.conditions:
            raise ParameterError(f"model {self.name!r} takes no {condition} condition "
                                 f"(it takes: {list(self.conditions) or 'none'})")

    def score_codes(
        self,
        codes: Sequence[np.ndarray],
        *,
        text: str | None = None,
        guidance_scale: float | None = None,
        alignment: str | None = None,
        batch_size: int | None = None,
        conditions: Sequence | None = None,
        axes: Sequence[TimeAxis | None] | None = None,
        references: Sequence[int | None] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[ScoreResult]:
        """Per-token NLL and predictive entropy for a list of code matrices ``[K, T_i]``.

        Windows of all items are sorted by length, then position, and scored in right-padded
        batches of at most ``batch_size`` windows and ``options.token_budget`` positions (no
        attention mask needed: attention is causal). A batch that runs out of accelerator
        memory is halved and retried; ``batch_cap`` then keeps the size that fit.

        Args:
            codes: One int ``[K, T]`` array per item.
            text: Text condition (None: unconditional, the null condition).
            guidance_scale: If set, score the classifier-free-guided distribution
                ``log_softmax(u + g (c - u))`` instead of a likelihood; requires ``text``.
            alignment: A layout of this model (``layouts``); None: ``options.alignment``.
            batch_size: Windows per forward pass; None: ``options.batch_size``.
            conditions: One backend condition per item (MusicGen-Melody: chroma features), or
                None.
            axes: The time axis of each item's columns (None, or None for an item: frames at
                the model's frame rate; a symbolic model's codes need theirs).
            references: For each item, the index of another item of the same shape, or None.
                The item then also gets ``ScoreResult.kl``: at every token, the KL divergence
                from the reference's next-token distribution to its own (``divergence``). A
                referenced item has no reference itself; a layout that gives no distributions
                gives no KL.
            on_batch: Called with the number of windows after each forward pass (progress).
        """
        self.check_options(text=text, guidance_scale=guidance_scale, alignment=alignment,
                           batch_size=batch_size)
        if conditions is not None and not self.conditions and any(c is not None for c in conditions):
            raise ParameterError(f"model {self.name!r} takes no audio condition")
        layout = self.layouts[alignment or self.options.alignment]
        batch_size = batch_size or self.options.batch_size
        arrays = [self._check_codes(c, layout) for c in codes]
        axes = list(axes) if axes is not None else [None] * len(arrays)
        if len(axes) != len(arrays) or any(
                x is not None and len(x) != a.shape[1] for x, a in zip(axes, arrays, strict=False)):
            raise ParameterError("axes must hold one time axis per item, as long as its codes")
        if self.frame_rate is None and None in axes:
            raise ParameterError(f"model {self.name!r} reads events: give the time axis of each "
                                 "item's codes (axes=)")
        conditions = list(conditions) if conditions is not None else [None] * len(arrays)
        if len(conditions) != len(arrays):
            raise ParameterError(f"conditions must hold one entry per item ({len(arrays)}), got "
                                 f"{len(conditions)}")
        refs = self._check_references(references, arrays)
        plans = [plan_windows(a.shape[1], window_frames=self.options.window_frames,
                              stride_frames=self.options.stride_frames,
                              min_context_frames=layout.context_frames) for a in arrays]
        jobs: list[tuple[int, Window]] = [(i, w) for i, plan in enumerate(plans) for w in plan]
        # longest first; among equal lengths by position, so that the same window of every
        # variant shares a batch (and its prefix); a referenced window before those that read it
        jobs.sort(key=lambda j: (j[1].context_start - j[1].end, j[1].context_start,
                                 refs[j[0]] is not None))
        referenced = {j for j in refs if j is not None}
        readers = Counter((j, w) for j, plan in zip(refs, plans, strict=True) if j is not None
                          for w in plan)
        held: dict = {}  # (referenced item, window) -> its log-probabilities, until all read
        nll: list[np.ndarray | None] = [None] * len(arrays)
        entropy: list[np.ndarray | None] = [None] * len(arrays)
        kl: list[np.ndarray | None] = [None] * len(arrays)
        for chunk in self._batches(jobs, batch_size=batch_size):
            out = self._fitting(chunk, arrays, layout=layout, text=text,
                                guidance_scale=guidance_scale, conditions=conditions,
                                log_probs=[i in referenced or refs[i] is not None
                                           for i, _ in chunk])
            for (i, w), (seg_nll, seg_entropy, logp) in zip(chunk, out, strict=True):
                shape = (seg_nll.shape[0], arrays[i].shape[1])
                if nll[i] is None:
                    nll[i] = np.full(shape, np.nan, np.float32)
                    entropy[i] = np.full(shape, np.nan, np.float32)
                keep = w.score_start - w.context_start
                nll[i][:, w.score_start : w.end] = seg_nll[:, keep:].numpy()
                entropy[i][:, w.score_start : w.end] = seg_entropy[:, keep:].numpy()
                if i in referenced:
                    held[i, w] = logp
                if refs[i] is None:
                    continue
                ref_logp = held[refs[i], w]
                readers[refs[i], w] -= 1
                if not readers[refs[i], w]:
                    del held[refs[i], w]
                if ref_logp is not None and logp is not None:
                    if kl[i] is None:
                        kl[i] = np.full(shape, np.nan, np.float32)
                    kl[i][:, w.score_start : w.end] = kl_divergence(
                        ref_logp, logp)[:, keep:].cpu().numpy()
            if on_batch is not None:
                on_batch(len(chunk))
        conditioning = "unconditional" if text is None else (
            "text" if guidance_scale is None else "cfg-guided")
        return [
            ScoreResult(
                nll=n, entropy=e, codes=a, frame_rate=self.frame_rate, conditioning=conditioning,
                text=text,
                guidance_scale=guidance_scale, alignment=layout.alignment,
                lead_frames=layout.lead_frames, channels=self.channels,
                scored_rows=layout.scored_rows,
                windows=[(w.context_start, w.score_start, w.end) for w in plan],
                times=None if axis is None else axis.seconds,
                end_seconds=None if axis is None else axis.end_seconds, modality=self.modality,
                kl=d,
            )
            for n, e, a, plan, axis, d in zip(nll, entropy, arrays, plans, axes, kl, strict=True)
        ]

    def divergence(self, reference: np.ndarray, variants: Sequence[np.ndarray], *,
                   alignment: str | None = None,
                   batch_size: int | None = None) -> list[np.ndarray]:
        """How differently the model predicts after each variant's context: KL per token.

        ``KL(p(. | reference context) || p(. | variant context))`` in nats at every token of
        the reference ``[K, T]``, scored token by token like ``score_codes`` (same windows, so
        a token's two distributions see contexts of the same length)::

            token t of row r:  sum_v p_ref[r, t, v] (log p_ref[r, t, v] - log p_var[r, t, v])

        Args:
            reference: Codes ``[K, T]`` (the true context).
            variants: Codes of the same shape (the intervened contexts).
            alignment: A layout of this model; None: ``options.alignment``.
            batch_size: Windows per forward pass; None: ``options.batch_size``.

        Returns:
            One float32 ``[R, T]`` per variant (zero where its context equals the reference's).

        Raises:
            ParameterError: Shapes differ, or the layout gives no distributions.
        """
        results = self.score_codes([reference, *variants], alignment=alignment,
                                   batch_size=batch_size, references=[None, *[0] * len(variants)])
        if any(r.kl is None for r in results[1:]):
            raise ParameterError(f"alignment {results[0].alignment!r} of model {self.name!r} "
                                 "gives no next-token distributions")
        return [r.kl for r in results[1:]]

    # -- internals ----------------------------------------------------------------------------
    def _batches(self, jobs, *, batch_size: int):
        """Consecutive runs of ``jobs`` (longest first) within the size, cap and token budget.

        A job longer than the budget goes alone.
        """
        budget = self.options.token_budget
        chunk: list = []
        for job in jobs:
            size = min(batch_size, self.batch_cap or batch_size)
            widest = (chunk or [job])[0][1]  # jobs come longest first
            width = widest.end - widest.context_start
            if chunk and (len(chunk) >= size or (budget and (len(chunk) + 1) * width > budget)):
                yield chunk
                chunk = []
            chunk.append(job)
        if chunk:
            yield chunk

    def _fitting(self, chunk, arrays, *, layout, text, guidance_scale, conditions,
                 log_probs) -> list:
        """``_score_segments`` of ``chunk``; out of memory, the halves are scored in turn."""
        import torch

        segs = [torch.from_numpy(arrays[i][:, w.context_start : w.end]) for i, w in chunk]
        try:
            out = self._score_segments(segs, layout=layout, text=text,
                                       guidance_scale=guidance_scale,
                                       conditions=[conditions[i] for i, _ in chunk],
                                       log_probs=log_probs)
            if self._smallest_failure and len(chunk) < self._smallest_failure:
                self.batch_cap = max(self.batch_cap or 1, len(chunk))  # the largest that fit
            return out
        except torch.cuda.OutOfMemoryError as exc:  # torch.OutOfMemoryError from torch 2.5
            if len(chunk) == 1:
                raise ParameterError(
                    f"one window of {chunk[0][1].end - chunk[0][1].context_start} frames does "
                    f"not fit in the memory of {self.options.device}; give smaller "
                    "window_frames or dtype bfloat16 (scoring options)") from exc
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(chunk) // 2
            self._smallest_failure = min(self._smallest_failure or len(chunk), len(chunk))
            self.batch_cap = min(self.batch_cap or half, half)
            return [scored for part, wanted in ((chunk[:half], log_probs[:half]),
                                                (chunk[half:], log_probs[half:]))
                    for scored in self._fitting(part, arrays, layout=layout, text=text,
                                                guidance_scale=guidance_scale,
                                                conditions=conditions, log_probs=wanted)]

    @staticmethod
    def _check_references(references, arrays) -> list[int | None]:
        refs = list(references) if references is not None else [None] * len(arrays)
        if len(refs) != len(arrays):
            raise ParameterError(f"references must hold one entry per item ({len(arrays)}), got "
                                 f"{len(refs)}")
        for i, j in enumerate(refs):
            if j is None:
                continue
            if (not isinstance(j, int | np.integer) or not 0 <= j < len(arrays) or j == i
                    or refs[j] is not None):
                raise ParameterError(f"references[{i}] must be the index of another item that "
                                     f"has no reference, got {j!r}")
            if arrays[j].shape != arrays[i].shape:
                raise ParameterError(f"item {i} must have its reference's shape "
                                     f"{arrays[j].shape}, got {arrays[i].shape}")
        return [None if j is None else int(j) for j in refs]

    def _check_codes(self, codes: np.ndarray, layout: Layout) -> np.ndarray:
        arr = np.asarray(codes)
        if arr.ndim != 2 or arr.shape[0] != self.num_codebooks:
            raise ParameterError(f"codes must be [K={self.num_codebooks}, T], got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ParameterError(f"codes must be integers, got dtype {arr.dtype}")
        size = self.tokenizer.codebook_size
        bad = layout.out_of_range(arr, size=size)
        if bad.any():
            raise ParameterError(f"codes must be in [0, {size}), got {arr[bad].min()} .. "
                                 f"{arr[bad].max()} out of range")
        if arr.shape[1] < layout.min_frames:
            raise ParameterError(f"need at least {layout.min_frames} frame(s) for alignment "
                                 f"{layout.alignment!r}, got {arr.shape[1]}")
        return arr.astype(np.int64)

    def _score_segments(self, segments, *, layout: Layout, text, guidance_scale,
                        conditions, log_probs) -> list:
        """``(nll, entropy, log_p)`` per code segment of a right-padded batch.

        ``nll`` and ``entropy``: ``[R, T_i]`` CPU float32; ``log_p``: ``layout.log_probs`` where
        ``log_probs`` says so, else None.
        """
        import torch

        inputs = [layout.inputs(s) for s in segments]
        width = max(x.shape[1] for x in inputs)
        batch = torch.full((len(inputs), inputs[0].shape[0], max(width, 1)), layout.pad_id,
                           dtype=torch.long)
        for b, x in enumerate(inputs):
            batch[b, :, : x.shape[1]] = x
        conditions = None if all(c is None for c in conditions) else conditions
        with torch.inference_mode():
            shared = None
            if self.options.shared_prefix and text is None and conditions is None:
                shared = self._shared_logits(batch)
            if shared is not None:
                logits = shared
            else:
                logits = self._logits(batch, text=text, conditions=conditions)
                self.positions_computed += len(inputs) * batch.shape[2]
            if guidance_scale is not None:
                uncond = self._logits(batch, text=None, conditions=conditions)
                logits = uncond.float() + guidance_scale * (logits.float() - uncond.float())
            out = []
            for b, seg in enumerate(segments):
                seg = seg.to(logits.device)
                seg_nll, seg_entropy = layout.scores(logits[b], seg)
                out.append((seg_nll.cpu(), seg_entropy.cpu(),
                            layout.log_probs(logits[b], seg) if log_probs[b] else None))
            return out

    def _shared_logits(self, batch):
        """Logits of a batch ``[B, C, S]`` whose rows share prefixes (``prefix_plan``).

        Each class of rows equal over the first ``P`` inputs runs them once (the heads, one
        batched pass); each row's cache is its class's, and all rows run the suffixes::

            row 0 (class a)   [ head a, P steps (once) | suffix 0 ... ]
            row 1 (class a)   [ head a  -------------> | suffix 1 ... ]   logits[:, :, :P] are
            row 2 (class b)   [ head b, P steps (once) | suffix 2 ... ]   their head's
            row 3 (class b)   [ head b  -------------> | suffix 3 ... ]

        None when the backend has no cached forward or nothing is shared.
        """
        import torch

        from noiseloss.scoring.cache import select_cache

        prefix, owner = prefix_plan(batch)
        if prefix == 0:
            return None
        heads = sorted(set(owner))
        head = self._cached_logits(batch[heads, :, :prefix], None)
        if head is NotImplemented:
            return None
        head_logits, cache = head
        self.positions_computed += len(heads) * prefix
        index = torch.tensor([heads.index(o) for o in owner], device=head_logits.device)
        parts = [head_logits[index]]
        rows, _, steps = batch.shape
        if steps > prefix:
            tail_logits, _ = self._cached_logits(batch[:, :, prefix:], select_cache(cache, index))
            self.positions_computed += rows * (steps - prefix)
            parts.append(tail_logits)
        return torch.cat(parts, dim=2)


def prefix_plan(batch) -> tuple[int, list[int]]:
    """``(P, owner)``: the shared prefix length of least work, and each row's class.

    Rows of a batch of decoder inputs ``[B, C, S]`` whose first ``P`` steps are equal form a
    class (``owner[b]``: its first row). Running each class's prefix once and every row's
    suffix costs ``classes(P) * P + B * (S - P)`` decoder positions; ``P`` is the length, among
    those where two rows part, that costs least. ``P = 0``: nothing worth sharing.
    """
    rows, _, steps = batch.shape
    equal = (batch[:, None] == batch[None, :]).all(dim=2)  # [B, B, S]
    common = equal.int().cumprod(dim=2).sum(dim=2)  # [B, B] common prefix of each pair
    best, plan = rows * steps, (0, list(range(rows)))
    for length in sorted(set(common.flatten().tolist()) - {0}):
        owner = (common >= length).int().argmax(dim=1).tolist()  # the first row of the class
        cost = len(set(owner)) * length + rows * (steps - length)
        if cost < best:
            best, plan = cost, (length, owner)
    return plan
