"""Context memory (``noiseloss.analysis.memory``) on models whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from noiseloss.analysis.memory import context_memory
from noiseloss.errors import ParameterError

FRAME_RATE = 50.0


class _Codes:
    """A stand-in tokenizer: the tests score codes."""

    name, sample_rate, hop_length, codebook_size, modality = "codes", 32000, 640, 16, "audio"
    frame_rate = FRAME_RATE

    def __init__(self, books: int):
        self.num_codebooks = books

    def describe(self):
        return {"name": self.name}


def _scorer(*, window: int | None, books: int = 1, alignment: str = "delayed"):
    """A tiny random MusicGen decoder; ``window``: every token sees at most that many frames."""
    from noiseloss.demo.train import ModelSize, build_decoder
    from noiseloss.models.musicgen import MusicgenScorer
    from noiseloss.scoring.options import ScoringOptions

    decoder = build_decoder(codebook_size=16, num_codebooks=books, seed=3, size=ModelSize(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
        max_position_embeddings=256)).eval()
    frames = 200 if window is None else window + 1
    return MusicgenScorer(decoder, _Codes(books), name="tiny", options=ScoringOptions(
        window_frames=frames, stride_frames=frames if window is None else 1, batch_size=8,
        alignment=alignment))


def _interventions(rng, *, frames: int, onsets, books: int = 1):
    """Clean codes and one variant per onset with the single frame at the onset replaced."""
    clean = rng.integers(0, 16, size=(books, frames))
    variants = []
    for onset in onsets:
        variant = clean.copy()
        variant[:, onset] = (clean[:, onset] + 1 + rng.integers(0, 15, size=books)) % 16
        variants.append(variant)
    return clean, variants


class _LastFrames:
    """A model that sees only its last ``window`` inputs, each counting alike: the logits at
    step ``s`` are the sum of a random embedding of the inputs ``s - window + 1 .. s``."""

    def __new__(cls, window: int):
        import torch

        from noiseloss.scoring.layouts import DelayLayout
        from noiseloss.scoring.options import ScoringOptions
        from noiseloss.scoring.scorer import Scorer

        class Scored(Scorer):
            def _logits(self, inputs, *, text, conditions):
                steps = inputs.shape[2]
                padded = torch.nn.functional.pad(table[inputs], (0, 0, window - 1, 0))
                return sum(padded[:, :, j : j + steps] for j in range(window))  # [B, 1, S, V]

        table = torch.randn(17, 16, generator=torch.Generator().manual_seed(window))
        return Scored(_Codes(1), layouts={"delayed": DelayLayout(special_id=16, delays=(0,))},
                      name=f"last-{window}", options=ScoringOptions(
                          window_frames=500, stride_frames=500, batch_size=8,
                          alignment="delayed"))


@pytest.mark.parametrize("window", [6, 15])
def test_a_model_of_the_last_w_frames_remembers_w_frames(window):
    """tau_mem = W / frame rate for a model that sees only its last W frames."""
    rng = np.random.default_rng(window)
    onsets = [10, 20, 31]
    clean, variants = _interventions(rng, frames=70, onsets=onsets)
    kl = _LastFrames(window).divergence(clean, variants)
    for curve, onset in zip(kl, onsets, strict=True):
        assert np.all(curve[:, : onset + 1] == 0)  # a token never sees its own frame or later
        assert np.all(curve[:, onset + 1 : onset + 1 + window] > 1e-3)
        assert np.all(curve[:, onset + 1 + window :] == 0)  # nor a frame W back
    memory = context_memory(kl, [o + 1 for o in onsets], frame_rate=FRAME_RATE)
    assert memory["tau_mem_s"] == pytest.approx(window / FRAME_RATE)
    assert 0 < memory["tau_half_s"] <= memory["tau_mem_s"]


@pytest.mark.parametrize("window", [6, 15])
def test_windowed_scoring_of_a_transformer_forgets_after_the_window(window):
    """Scoring windows of W + 1 frames, stride 1: no token's prediction depends on a frame more
    than W back, so the KL is exactly 0 from W frames after the span on, and tau_mem <= W."""
    rng = np.random.default_rng(window)
    onsets = [10, 20, 31]
    clean, variants = _interventions(rng, frames=70, onsets=onsets)
    kl = _scorer(window=window).divergence(clean, variants)
    for curve, onset in zip(kl, onsets, strict=True):
        assert np.all(curve[:, : onset + 1] == 0)
        assert curve[0, onset + 1] > 0
        assert np.all(curve[:, onset + 1 + window :] == 0)
    memory = context_memory(kl, [o + 1 for o in onsets], frame_rate=FRAME_RATE)
    assert 0 < memory["tau_mem_s"] <= window / FRAME_RATE


def test_divergence_is_zero_for_the_reference_and_matches_a_direct_computation():
    """KL of a variant equal to the reference is 0; a 4-codebook delayed model equals KL
    computed from two separate forward passes."""
    import torch

    from noiseloss.scoring.pattern import gather_logits

    rng = np.random.default_rng(0)
    clean, (variant,) = _interventions(rng, frames=30, onsets=[12], books=4)
    scorer = _scorer(window=None, books=4)
    same, kl = scorer.divergence(clean, [clean, variant])
    assert np.all(same == 0)
    layout = scorer.layouts["delayed"]
    with torch.no_grad():
        logp = [gather_logits(scorer._logits(layout.inputs(torch.from_numpy(c))[None], text=None,
                                             conditions=None)[0], torch.from_numpy(c),
                              alignment="delayed").float().log_softmax(-1) for c in (clean,
                                                                                     variant)]
    expected = (logp[0].exp() * (logp[0] - logp[1])).sum(-1).numpy()
    np.testing.assert_allclose(kl, expected, atol=1e-6)
    assert np.all(kl[0, :13] == 0) and kl[0, 13] > 0  # codebook 0 sees frame 12 at frame 13
    assert np.all(kl[3, :10] == 0)  # codebook 3 (delay 3) sees frame 12 from frame 10 on


def test_context_memory_of_planted_curves():
    """A curve of known shape: peak 1 at d = 2, half at d = 5, below 1 % from d = 9."""
    curve = np.array([0.2, 0.6, 1.0, 0.8, 0.6, 0.5, 0.3, 0.1, 0.02, 0.005, 0.0, 0.001])
    kl = [np.concatenate([np.zeros(4), curve])[None] for _ in range(3)]
    memory = context_memory(kl, [4, 4, 4], frame_rate=10.0)
    assert memory["peak_nats"] == 1.0
    assert memory["tau_half_s"] == pytest.approx(0.5)
    assert memory["tau_mem_s"] == pytest.approx(0.9)
    flat = context_memory([np.zeros((1, 10))], [3], frame_rate=10.0)
    assert np.isnan(flat["tau_mem_s"]) and "same" in flat["note"]
    slow = context_memory([np.ones((1, 10))], [3], frame_rate=10.0)
    assert np.isnan(slow["tau_mem_s"]) and "0.7 s after" in slow["note"]
    with pytest.raises(ParameterError, match="one end per KL curve"):
        context_memory(kl, [4], frame_rate=10.0)


def test_divergence_refuses_variants_of_another_shape():
    scorer = _scorer(window=None)
    clean = np.zeros((1, 20), dtype=np.int64)
    with pytest.raises(ParameterError, match="reference's shape"):
        scorer.divergence(clean, [np.zeros((1, 19), dtype=np.int64)])
