"""Exactness of the MusicGen likelihood recipe on tiny seeded random models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from noiseloss.errors import ModelLoadError, ParameterError
from noiseloss.scoring.pattern import delay_codes, gather_nll
from noiseloss.scoring.windows import plan_windows

K, SPECIAL = 4, 2048


def random_codes(rng, frames):
    return rng.integers(0, SPECIAL, size=(K, frames))


@pytest.mark.parametrize("frames", [1, 2, 3, 5, 9, 17])
def test_delayed_layout_matches_independent_construction(frames, rng):
    codes = random_codes(rng, frames)
    expected = np.full((K, frames + K), SPECIAL)
    for t in range(frames):
        for k in range(K):
            expected[k, t + k + 1] = codes[k, t]
    got = delay_codes(torch.from_numpy(codes), special_id=SPECIAL).numpy()
    np.testing.assert_array_equal(got, expected)
    assert (got[:, 0] == SPECIAL).all()


# transformers returns the prompt unchanged when max_length < 2K - 1, hence T >= 3 here.
@pytest.mark.parametrize("frames", [3, 4, 12])
def test_delayed_layout_matches_transformers_pattern_mask(tiny_scorer, frames, rng):
    codes = torch.from_numpy(random_codes(rng, frames))
    prompt = torch.cat([torch.full((K, 1), SPECIAL), codes], dim=1)
    _, mask = tiny_scorer.decoder.build_delay_pattern_mask(prompt, SPECIAL, max_length=frames + K)
    np.testing.assert_array_equal(mask.numpy(), delay_codes(codes, special_id=SPECIAL).numpy())


@pytest.mark.parametrize("frames", [1, 4, 25])
def test_mean_of_codebook_means_equals_transformers_loss(tiny_scorer, frames, rng):
    codes = random_codes(rng, frames)
    res = tiny_scorer.score_codes([codes])[0]
    layout = delay_codes(torch.from_numpy(codes)[None], special_id=SPECIAL)  # [1, K, T+4]
    out = tiny_scorer.decoder(input_ids=layout[..., :-1].reshape(K, -1),
                              labels=layout[..., 1:].transpose(1, 2))
    assert res.nll.shape == (K, frames) and res.nll.dtype == np.float32
    assert res.loss() == pytest.approx(out.loss.item(), abs=1e-5)


def test_causality_of_the_delay_pattern(tiny_scorer, rng):
    frames, t0 = 20, 8
    codes = random_codes(rng, frames)
    edited = codes.copy()
    edited[0, t0] = (codes[0, t0] + 1) % SPECIAL
    a, b = (r.nll for r in tiny_scorer.score_codes([codes, edited], batch_size=1))
    k_idx, t_idx = np.indices((K, frames))
    allowed = t_idx >= t0 - np.maximum(0, k_idx - 1)
    np.testing.assert_array_equal(a[~allowed], b[~allowed])  # bit-identical outside
    changed = a != b
    assert changed[0, t0] and changed[2, t0 - 1] and changed[3, t0 - 2]
    assert not changed[~allowed].any()


def test_right_padded_batch_equals_items(tiny_scorer, rng):
    items = [random_codes(rng, n) for n in (7, 30, 13, 1)]
    batched = tiny_scorer.score_codes(items, batch_size=4)
    single = tiny_scorer.score_codes(items, batch_size=1)
    for b, s in zip(batched, single, strict=True):
        np.testing.assert_allclose(b.nll, s.nll, atol=1e-5, rtol=0)


def test_decoder_only_equals_null_text_condition(tiny_scorer, rng):
    codes = random_codes(rng, 16)
    res = tiny_scorer.score_codes([codes])[0]
    full = tiny_scorer.full_model
    layout = delay_codes(torch.from_numpy(codes)[None], special_id=SPECIAL)[..., :-1]
    with torch.inference_mode():
        logits = full(**full.get_unconditional_inputs(1),
                      decoder_input_ids=layout.reshape(K, -1)).logits
    null_nll = gather_nll(logits.reshape(K, layout.shape[-1], -1), torch.from_numpy(codes),
                          alignment="delayed").numpy()
    np.testing.assert_allclose(res.nll, null_nll, atol=1e-6, rtol=0)
    assert res.conditioning == "unconditional"


def test_text_condition_and_guidance_identities(tiny_scorer, rng):
    codes = random_codes(rng, 16)
    uncond = tiny_scorer.score_codes([codes])[0]
    text = tiny_scorer.score_codes([codes], text="calm piano")[0]
    assert text.conditioning == "text" and text.text == "calm piano"
    assert np.abs(text.nll - uncond.nll).max() > 1e-4
    # u + g (c - u): g = 1 is the text likelihood, g = 0 the unconditional one.
    g1 = tiny_scorer.score_codes([codes], text="calm piano", guidance_scale=1.0)[0]
    g0 = tiny_scorer.score_codes([codes], text="calm piano", guidance_scale=0.0)[0]
    assert g1.conditioning == "cfg-guided"
    np.testing.assert_allclose(g1.nll, text.nll, atol=1e-5)
    np.testing.assert_allclose(g0.nll, uncond.nll, atol=1e-5)
    with pytest.raises(ParameterError, match="requires text"):
        tiny_scorer.score_codes([codes], guidance_scale=3.0)


def test_legacy_undelayed_alignment_is_the_plain_shift(tiny_scorer, rng):
    codes = random_codes(rng, 12)
    res = tiny_scorer.score_codes([codes], alignment="legacy-undelayed")[0]
    with torch.inference_mode():
        logits = tiny_scorer.decoder(input_ids=torch.from_numpy(codes[:, :-1])).logits
    logp = torch.log_softmax(logits.float(), dim=-1).numpy()  # [K, T-1, V]
    expected = -np.take_along_axis(logp, codes[:, 1:, None], axis=2)[..., 0]
    assert np.isnan(res.nll[:, 0]).all()
    np.testing.assert_allclose(res.nll[:, 1:], expected, atol=1e-5)
    assert res.alignment == "legacy-undelayed"


def test_plan_windows_scores_every_frame_once():
    for frames, window, stride in [(100, 40, 15), (41, 40, 40), (7, 40, 20), (1500, 1500, 750),
                                   (3001, 1500, 750)]:
        plan = plan_windows(frames, window_frames=window, stride_frames=stride)
        covered = np.concatenate([np.arange(w.score_start, w.end) for w in plan])
        np.testing.assert_array_equal(covered, np.arange(frames))
        assert all(w.end - w.context_start <= window for w in plan)
    with pytest.raises(ParameterError, match="stride_frames"):
        plan_windows(10, window_frames=5, stride_frames=6)


def test_windowed_scoring(tiny_model_dir, tiny_scorer, rng):
    from noiseloss import load_model

    codes = random_codes(rng, 100)
    covering = load_model(str(tiny_model_dir), window_frames=120, stride_frames=60)
    np.testing.assert_array_equal(covering.score_codes([codes])[0].nll,
                                  tiny_scorer.score_codes([codes])[0].nll)
    strided = load_model(str(tiny_model_dir), window_frames=40, stride_frames=15)
    res = strided.score_codes([codes], batch_size=3)[0]
    assert np.isfinite(res.nll).all()
    assert [tuple(w) for w in res.windows][:2] == [(0, 0, 40), (15, 40, 55)]
    for ctx, start, end in res.windows:  # each window = that segment scored on its own
        alone = tiny_scorer.score_codes([codes[:, ctx:end]])[0].nll
        np.testing.assert_allclose(res.nll[:, start:end], alone[:, start - ctx:], atol=1e-5)


def test_legacy_windows_without_overlap_score_every_frame_but_the_first(tiny_model_dir, rng):
    from noiseloss import load_model

    codes = random_codes(rng, 100)
    adjacent = load_model(str(tiny_model_dir), window_frames=40, stride_frames=40)
    res = adjacent.score_codes([codes], alignment="legacy-undelayed")[0]
    assert [tuple(w) for w in res.windows] == [(0, 0, 40), (39, 40, 80), (60, 80, 100)]
    assert np.isnan(res.nll[:, 0]).all() and np.isfinite(res.nll[:, 1:]).all()
    delayed = adjacent.score_codes([codes])[0]
    assert [tuple(w) for w in delayed.windows] == [(0, 0, 40), (40, 40, 80), (60, 80, 100)]


def test_bad_codes_and_missing_model_are_clear_errors(tiny_scorer):
    with pytest.raises(ParameterError, match=r"codes must be \[K=4, T\]"):
        tiny_scorer.score_codes([np.zeros((3, 5), dtype=int)])
    with pytest.raises(ParameterError, match=r"codes must be in \[0, 2048\)"):
        tiny_scorer.score_codes([np.full((4, 5), 2048)])
    with pytest.raises(ParameterError, match="at least 2 frame"):
        tiny_scorer.score_codes([np.zeros((4, 1), dtype=int)], alignment="legacy-undelayed")
    from noiseloss import load_model

    with pytest.raises(ModelLoadError, match="never downloads"):
        load_model("no-such-org/no-such-musicgen")


def test_model_id_resolves_from_the_local_hf_cache(tiny_model_dir, tmp_path, monkeypatch, rng):
    import shutil

    from noiseloss import load_model

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny-org--tiny-musicgen"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    model = load_model("tiny-org/tiny-musicgen")
    prov = model.provenance()
    assert prov["revision"] == commit and prov["source"] == "hf-cache"
    codes = random_codes(rng, 9)
    reference = load_model(str(tiny_model_dir)).score_codes([codes])[0].nll
    np.testing.assert_array_equal(model.score_codes([codes])[0].nll, reference)


def test_entropy_is_that_of_the_logits_read_for_each_target(tiny_scorer, rng):
    codes = random_codes(rng, 9)
    res = tiny_scorer.score_codes([codes])[0]
    layout = delay_codes(torch.from_numpy(codes)[None], special_id=SPECIAL)[..., :-1]
    with torch.inference_mode():
        logits = tiny_scorer.decoder(input_ids=layout.reshape(K, -1)).logits  # [K, S, V]
    expected = np.array([[torch.distributions.Categorical(logits=logits[k, t + k].double())
                          .entropy().item() for t in range(9)] for k in range(K)])
    assert res.entropy.shape == res.nll.shape and res.entropy.dtype == np.float32
    np.testing.assert_allclose(res.entropy, expected, atol=1e-5, rtol=0)
    legacy = tiny_scorer.score_codes([codes], alignment="legacy-undelayed")[0]
    assert np.isnan(legacy.entropy[:, 0]).all() and np.isfinite(legacy.entropy[:, 1:]).all()


def test_bfloat16_on_cpu_needs_native_bf16(tiny_model_dir, tiny_scorer, rng, monkeypatch):
    from noiseloss import load_model
    from noiseloss.scoring import options

    monkeypatch.setattr(options, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    with pytest.raises(ParameterError, match=r"needs native bf16 \(avx512_bf16 or amx_bf16"):
        options.ScoringOptions(dtype="bfloat16")
    monkeypatch.setattr(options, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    half = load_model(str(tiny_model_dir), dtype="bfloat16")
    assert str(next(half.decoder.parameters()).dtype) == "torch.bfloat16"
    codes = random_codes(rng, 12)
    low, ref = half.score_codes([codes])[0], tiny_scorer.score_codes([codes])[0]
    assert low.nll.dtype == np.float32 and np.isfinite(low.nll).all()
    assert np.abs(low.nll - ref.nll).mean() < 0.05
