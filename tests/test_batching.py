"""Batches bounded by a token budget, and halving on out-of-memory (simulated on CPU)."""

from __future__ import annotations

import numpy as np
import pytest


def _codes(seed: int, lengths):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 2048, size=(4, n)) for n in lengths]


def _spy(scorer, monkeypatch, *, fits: int | None = None):
    """Record the windows of every forward; raise OutOfMemoryError above ``fits`` windows."""
    import torch

    sizes = []
    original = scorer._score_segments

    def score(segments, **kwargs):
        sizes.append([s.shape[1] for s in segments])
        if fits is not None and len(segments) > fits:
            raise torch.cuda.OutOfMemoryError("simulated: CUDA out of memory")
        return original(segments, **kwargs)

    monkeypatch.setattr(scorer, "_score_segments", score)
    return sizes


def test_token_budget_bounds_every_batch_and_keeps_the_numbers(tiny_model_dir, monkeypatch):
    from noiseloss.models import load_model

    codes = _codes(0, [40, 40, 40, 30, 30, 20, 10])
    reference = load_model(str(tiny_model_dir), batch_size=7).score_codes(codes)
    scorer = load_model(str(tiny_model_dir), batch_size=7, token_budget=100)
    sizes = _spy(scorer, monkeypatch)
    results = scorer.score_codes(codes)
    # longest first; each batch holds at most 100 positions of its widest window
    assert sizes == [[40, 40], [40, 30], [30, 20, 10]]
    assert all(len(b) * max(b) <= 100 for b in sizes)
    for got, want in zip(results, reference, strict=True):
        np.testing.assert_allclose(got.nll, want.nll, atol=1e-4)
        np.testing.assert_allclose(got.entropy, want.entropy, atol=1e-4)
    # a window longer than the budget still goes (alone)
    small = load_model(str(tiny_model_dir), batch_size=7, token_budget=5)
    assert np.isfinite(small.score_codes(codes[:2])[0].nll).all()


def test_out_of_memory_halves_the_batch_and_remembers_what_fits(tiny_model_dir, monkeypatch):
    from noiseloss.models import load_model

    codes = _codes(1, [30] * 7)
    reference = load_model(str(tiny_model_dir), batch_size=7).score_codes(codes)
    scorer = load_model(str(tiny_model_dir), batch_size=7)
    sizes = _spy(scorer, monkeypatch, fits=2)
    results = scorer.score_codes(codes)
    assert [len(b) for b in sizes] == [7, 3, 1, 2, 4, 2, 2]  # 7 -> 3 + 4 -> (1 + 2) + (2 + 2)
    assert scorer.batch_cap == 2
    for got, want in zip(results, reference, strict=True):
        np.testing.assert_allclose(got.nll, want.nll, atol=1e-4)
    sizes.clear()
    scorer.score_codes(codes)  # the next call starts at the size that fit
    assert [len(b) for b in sizes] == [2, 2, 2, 1]


def test_one_window_that_does_not_fit_is_a_clear_error(tiny_model_dir, monkeypatch):
    from noiseloss.errors import ParameterError
    from noiseloss.models import load_model

    scorer = load_model(str(tiny_model_dir), batch_size=2)
    _spy(scorer, monkeypatch, fits=0)
    with pytest.raises(ParameterError, match="one window of 30 frames does not fit.*bfloat16"):
        scorer.score_codes(_codes(2, [30, 30]))
