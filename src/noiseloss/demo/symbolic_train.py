"""Train ``demo-midi``: a GPT-2 on arrival-time events, presented as the ``amt`` backend scores them.

A piece is its arrival-time codes ``[3, E]`` (``noiseloss.tokenizers.amt``) in a compact
vocabulary of the published layout (``compact_vocab``). A training example is a crop of at
most ``window_events`` consecutive events whose times span less than the vocabulary's time
tokens, given to the model exactly as ``ArrivalLayout.inputs`` gives a scored window (the
``AUTOREGRESS`` flag, then the tokens with times counted from the crop's first event); its
targets are the crop's tokens, so that the training loss of a crop is the mean of the NLL the
scorer reports for the same window. Batches hold crops of similar length, right-padded (padding
is never attended to by earlier positions and never a target).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from noiseloss.errors import ParameterError
from noiseloss.tokenizers.amt import AmtTokenizer, AmtVocab

#: Target id of padding (``torch.nn.functional.cross_entropy``'s ``ignore_index``).
IGNORE = -100


@dataclass(frozen=True)
class MidiModelSize:
    """GPT-2 shape; positions = 1 + 3 x ``window_events`` (the flag and the events' tokens)."""

    n_embd: int = 256
    n_layer: int = 4
    n_head: int = 4
    window_events: int = 128
    #: ``sinusoidal``: the embeddings of positions and of time, duration and note ids start as
    #: sinusoidal features of their value (``value_embeddings``); ``random``: GPT-2's.
    value_init: str = "sinusoidal"


@dataclass(frozen=True)
class MidiTrainConfig:
    """Optimisation settings (AdamW, linear warm-up then cosine decay to 10 %)."""

    steps: int = 3200
    #: Tokens per batch (rows x padded length): long crops come in small batches.
    batch_tokens: int = 6144
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 100
    dropout: float = 0.0
    #: Each training crop is transposed by a random number of semitones in ``[-t, t]`` (0: none;
    #: a crop that would leave the MIDI range is not transposed).
    transpose: int = 0
    #: Probability that a training crop is replaced by a passage of it played twice
    #: (``repeat_crop``): music repeats, but an ABC tune's repeats are often not written out.
    repeat: float = 0.0


def compact_vocab(*, time_bins: int, dur_bins: int) -> AmtVocab:
    """The published layout shrunk: ``time_bins`` times, ``dur_bins`` durations, one instrument.

    Ids: times ``[0, T)``, durations ``[T, T + D)``, notes ``[T + D, T + D + 128)``, then
    ``REST`` and ``AUTOREGRESS``.
    """
    rest = time_bins + dur_bins + 128
    return AmtVocab(time_bins=time_bins, dur_bins=dur_bins, instruments=1, pitches=128,
                    vocab_size=rest + 2, autoregress=rest + 1)


def piece_codes(score, vocab: AmtVocab) -> np.ndarray:
    """Codes int64 ``[3, E]`` of a whole piece in ``vocab``, times counted from its first event.

    The tokenizer itself is used, with a vocabulary of the same durations and notes but room
    for any time, then its ids are moved to ``vocab``'s offsets: the time row of a long piece
    may exceed ``vocab.time_bins``; a crop or a scored window counts its times from its own first
    event.
    """
    wide_times = 10**8
    wide = AmtVocab(time_bins=wide_times, dur_bins=vocab.dur_bins, instruments=vocab.instruments,
                    pitches=vocab.pitches, vocab_size=wide_times + vocab.dur_bins +
                    vocab.instruments * vocab.pitches + 2,
                    autoregress=wide_times + vocab.dur_bins + vocab.instruments * vocab.pitches + 1)
    ids = AmtTokenizer(wide).tokenize(score).ids.copy()
    ids[0] += vocab.time_offset - wide.time_offset
    ids[1] += vocab.dur_offset - wide.dur_offset
    ids[2] += vocab.note_offset - wide.note_offset
    return ids


def build_model(vocab: AmtVocab, *, size: MidiModelSize, seed: int, dropout: float = 0.0):
    """A freshly initialised ``GPT2LMHeadModel`` whose config declares ``vocab`` (``noiseloss_amt``)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab.vocab_size, n_positions=1 + 3 * size.window_events, n_embd=size.n_embd,
        n_layer=size.n_layer, n_head=size.n_head, resid_pdrop=dropout, embd_pdrop=dropout,
        attn_pdrop=dropout, bos_token_id=vocab.autoregress, eos_token_id=vocab.autoregress,
        noiseloss_amt=asdict(vocab))
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    if size.value_init == "sinusoidal":
        with torch.no_grad():
            weight = model.get_input_embeddings().weight  # tied with the output layer
            for offset, count in ((vocab.time_offset, vocab.time_bins),
                                  (vocab.dur_offset, vocab.dur_bins),
                                  (vocab.note_offset, vocab.instruments * vocab.pitches)):
                weight[offset : offset + count] = torch.from_numpy(
                    value_embeddings(count, size.n_embd, std=config.initializer_range))
            positions = model.transformer.wpe.weight
            positions.copy_(torch.from_numpy(value_embeddings(
                config.n_positions, size.n_embd, std=config.initializer_range)))
    elif size.value_init != "random":
        raise ParameterError(f"value_init must be sinusoidal or random, got {size.value_init!r}")
    return model


def value_embeddings(count: int, width: int, *, std: float) -> np.ndarray:
    """float32 ``[count, width]``: sin and cos of ``value / 10000^(2i / width)``, scaled to ``std``.

    Positions, and ids whose values are quantities (a time, a duration, a pitch), start with the
    geometry of the original transformer's positions, so that ``value + k`` is one linear map
    away from ``value``: the model need not discover the order of thousands of time ids, and
    attending to the event before (three positions back) is easy from the start.
    """
    values = np.arange(count, dtype=np.float64)[:, None]
    rates = 10000.0 ** (-np.arange(width // 2, dtype=np.float64) * 2 / width)
    features = np.zeros((count, width))
    features[:, 0 : 2 * (width // 2) : 2] = np.sin(values * rates)
    features[:, 1 : 2 * (width // 2) : 2] = np.cos(values * rates)
    return (features * std * math.sqrt(2)).astype(np.float32)


# -- crops ---------------------------------------------------------------------------------------
def crop_end(times: np.ndarray, start: int, *, window_events: int, time_bins: int) -> int:
    """End (exclusive) of the crop at ``start``: ``window_events`` at most, spanning < ``time_bins``."""
    end = min(len(times), start + window_events)
    return start + int(np.searchsorted(times[start:end], times[start] + time_bins, side="left"))


def last_start(times: np.ndarray, *, window_events: int, time_bins: int) -> int:
    """The first start whose crop reaches the piece's end (later starts add nothing new)."""
    by_count = max(0, len(times) - window_events)
    by_time = int(np.searchsorted(times, times[-1] - time_bins + 1, side="left"))
    return max(by_count, by_time)


class CropSampler:
    """Random crops of pieces, every event about equally often.

    A piece is drawn with probability proportional to its events over its crop length (a
    piece shorter than a window is one crop; a long one many), then a start uniformly among the
    starts up to ``last_start``.

    Args:
        pieces: Codes ``[3, E_i]`` per piece (``piece_codes``).
        window_events: Longest crop, events.
        time_bins: Crops span less than this many time bins.
        rng: Source of the draws.
    """

    def __init__(self, pieces: Sequence[np.ndarray], *, window_events: int, time_bins: int,
                 rng: np.random.Generator):
        self.pieces = [p for p in pieces if p.shape[1] > 0]
        if not self.pieces:
            raise ParameterError("no training piece has events")
        self.window_events, self.time_bins, self.rng = window_events, time_bins, rng
        self.last = np.array([last_start(p[0], window_events=window_events, time_bins=time_bins)
                              for p in self.pieces])
        weights = np.array([p.shape[1] / min(p.shape[1], window_events) for p in self.pieces])
        self.cumulative = np.cumsum(weights / weights.sum())

    def draw(self, count: int) -> list[np.ndarray]:
        """``count`` crops ``[3, L]`` (``1 <= L <= window_events``)."""
        which = np.minimum(np.searchsorted(self.cumulative, self.rng.random(count), side="right"),
                           len(self.pieces) - 1)
        crops = []
        for w in which:
            start = int(self.rng.integers(0, self.last[w] + 1))
            times = self.pieces[w][0]
            end = crop_end(times, start, window_events=self.window_events,
                           time_bins=self.time_bins)
            crops.append(self.pieces[w][:, start:end])
        return crops


def transpose(crop: np.ndarray, semitones: int, vocab: AmtVocab) -> np.ndarray:
    """The crop ``[3, L]`` with every note moved by ``semitones`` (rests kept).

    Unchanged when a note would leave its instrument's ``vocab.pitches``.
    """
    notes = crop[2] - vocab.note_offset
    pitched = notes < vocab.instruments * vocab.pitches
    pitch = notes % vocab.pitches + semitones
    if semitones == 0 or ((pitch < 0) | (pitch >= vocab.pitches))[pitched].any():
        return crop
    out = crop.copy()
    out[2, pitched] += semitones
    return out


def repeat_crop(crop: np.ndarray, *, rng: np.random.Generator, min_events: int = 8) -> np.ndarray:
    """The crop's first ``m`` events played twice in a row, ``m`` uniform in ``[min_events, L // 2]``.

    The second occurrence starts where the crop's event ``m`` starts (the passage's own
    spacing), and the result is cut to span less than the time bins the crop spanned. A crop of
    fewer than ``2 * min_events`` events is returned unchanged.

        crop:    e0 e1 ... e(m-1) e(m) ...          times t0 .. t(m) ..
        result:  e0 e1 ... e(m-1) e0' ... e(m-1)'   e_i' = e_i with time t_i + t(m) - t0
    """
    length = crop.shape[1]
    if length < 2 * min_events:
        return crop
    m = int(rng.integers(min_events, length // 2 + 1))
    second = crop[:, :m].copy()
    second[0] += crop[0, m] - crop[0, 0]
    out = np.concatenate([crop[:, :m], second], axis=1)
    return out[:, : int(np.searchsorted(out[0], crop[0, 0] + (crop[0, -1] - crop[0, 0]) + 1))]


def present(crops: Sequence[np.ndarray], layout) -> tuple:
    """Inputs and targets int64 ``[B, S]`` of crops, each as ``layout.inputs`` presents a window.

    Row ``b`` holds ``layout.inputs(crop)`` (``AUTOREGRESS`` and the crop's tokens with times
    from its first event, minus the last) and its targets (the same stream shifted by one, the
    last token included); shorter rows are padded with ``layout.pad_id`` / ``IGNORE``.
    """
    import torch

    width = 3 * max(c.shape[1] for c in crops)
    inputs = torch.full((len(crops), width), layout.pad_id, dtype=torch.long)
    targets = torch.full((len(crops), width), IGNORE, dtype=torch.long)
    for b, crop in enumerate(crops):
        codes = torch.from_numpy(np.ascontiguousarray(crop))
        row = layout.inputs(codes)[0]
        inputs[b, : row.numel()] = row
        targets[b, : row.numel()] = torch.cat([row[1:], codes[2, -1:]])
    return inputs, targets


def length_batches(crops: Sequence[np.ndarray], *, batch_tokens: int,
                   rng: np.random.Generator) -> list[list[np.ndarray]]:
    """Crops grouped by length into batches of at most ``batch_tokens`` padded tokens, shuffled."""
    ordered = sorted(crops, key=lambda c: c.shape[1])
    batches, current = [], []
    for crop in reversed(ordered):  # longest first: a batch's width is its first crop's
        width = 3 * (current[0].shape[1] if current else crop.shape[1])
        if current and (len(current) + 1) * width > batch_tokens:
            batches.append(current)
            current = []
        current.append(crop)
    if current:
        batches.append(current)
    return [batches[i] for i in rng.permutation(len(batches))]


def sequence_loss(model, inputs, targets):
    """Mean NLL per target token (padding excluded) and the number of target tokens."""
    import torch

    logits = model(input_ids=inputs, use_cache=False).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                             targets.reshape(-1), ignore_index=IGNORE)
    return loss, int((targets != IGNORE).sum())


def learning_rate(step: int, *, config: MidiTrainConfig) -> float:
    """Linear warm-up for ``warmup_steps`` then cosine decay to 10 % at ``steps``."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(model, train_codes: Sequence[np.ndarray], validation_crops: Sequence[np.ndarray], *,
          layout, config: MidiTrainConfig, seed: int, repeats: Sequence[np.ndarray] = (),
          log: Callable[[dict], None] = print) -> list[dict]:
    """Train ``model`` in place on random crops; return the curve (one record per evaluation).

    Args:
        model: ``GPT2LMHeadModel`` (``build_model``).
        train_codes: Codes ``[3, E_i]`` of the training pieces.
        validation_crops: Crops evaluated every ``config.eval_every`` steps.
        layout: The ``ArrivalLayout`` of the model's vocabulary.
        config: Optimisation settings.
        seed: Seeds the crops, their order and dropout.
        repeats: Codes ``[3, 2n]`` of passages played twice (``symbolic_eval.repeat_melody``);
            each record's ``repeat_ratio`` is their mean ``repeat_ratio``.
        log: Receives each record (step, train_loss, validation_loss, repeat_ratio, lr, tokens,
            elapsed_s, tokens_per_s).
    """
    import torch

    vocab = layout.vocab
    window = (model.config.n_positions - 1) // 3
    rng = np.random.default_rng(seed)
    sampler = CropSampler(train_codes, window_events=window, time_bins=vocab.time_bins, rng=rng)
    torch.manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay, betas=(0.9, 0.95))
    mean_length = float(np.mean([c.shape[1] for c in sampler.draw(256)]))
    per_round = max(8, int(8 * config.batch_tokens / (3 * mean_length)))
    shifts = np.arange(-config.transpose, config.transpose + 1)
    queue: list[list[np.ndarray]] = []
    curve, running, tokens, start = [], [], 0, time.monotonic()
    for step in range(config.steps):
        if not queue:
            crops = [transpose(c, int(rng.choice(shifts)), vocab) for c in sampler.draw(per_round)]
            crops = [repeat_crop(c, rng=rng) if rng.random() < config.repeat else c
                     for c in crops]
            queue = length_batches(crops, batch_tokens=config.batch_tokens, rng=rng)
        model.train()
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, config=config)
        inputs, targets = present(queue.pop(), layout)
        loss, count = sequence_loss(model, inputs, targets)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimiser.step()
        running.append((loss.item(), count))
        tokens += count
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            elapsed = time.monotonic() - start
            record = {"step": step + 1,
                      "train_loss": sum(v * n for v, n in running) / sum(n for _, n in running),
                      "validation_loss": crops_loss(model, validation_crops, layout=layout),
                      "repeat_ratio": (float(np.mean([repeat_ratio(model, r, layout=layout)
                                                      for r in repeats])) if repeats else None),
                      "lr": learning_rate(step, config=config), "tokens": tokens,
                      "elapsed_s": round(elapsed, 1), "tokens_per_s": round(tokens / elapsed)}
            running = []
            curve.append(record)
            log(record)
    model.eval()
    return curve


def crops_loss(model, crops: Sequence[np.ndarray], *, layout, batch_tokens: int = 8192) -> float:
    """Mean NLL per token of ``crops`` in eval mode (all tokens of all crops)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for batch in length_batches(crops, batch_tokens=batch_tokens,
                                    rng=np.random.default_rng(0)):
            loss, n = sequence_loss(model, *present(batch, layout))
            total += loss.item() * n
            count += n
    return total / max(count, 1)


def repeat_ratio(model, codes: np.ndarray, *, layout) -> float:
    """Mean NLL of the second half of ``codes`` ``[3, 2n]`` over that of the first (eval mode)."""
    import torch

    model.eval()
    inputs, targets = present([codes], layout)
    with torch.inference_mode():
        logits = model(input_ids=inputs, use_cache=False).logits[0].float()
        nll = torch.nn.functional.cross_entropy(logits, targets[0], reduction="none").numpy()
    half = nll.size // 2
    return float(nll[half:].mean() / nll[:half].mean())


def write_curve(curve: Sequence[dict], path) -> None:
    """Write the training curve as JSON lines."""
    with open(path, "w", encoding="utf-8") as fh:
        for record in curve:
            fh.write(json.dumps(record) + "\n")


__all__ = ["CropSampler", "MidiModelSize", "MidiTrainConfig", "build_model", "compact_vocab",
           "crops_loss", "length_batches", "piece_codes", "present", "repeat_crop", "repeat_ratio",
           "train", "transpose",
           "value_embeddings"]
