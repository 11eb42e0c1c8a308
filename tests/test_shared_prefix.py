"""Shared-prefix scoring equals full scoring, and computes each distinct position once."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from noiseloss.scoring.scorer import prefix_plan

SR = 32000


def variants(rng, base, onsets, *, special):
    """The base codes and copies changed from each onset on (different prefixes)."""
    out = [base]
    for onset in onsets:
        edited = base.copy()
        edited[:, onset:] = rng.integers(0, special, size=edited[:, onset:].shape)
        out.append(edited)
    return out


def both(scorer, items, **options):
    shared = scorer.score_codes(items, **options)
    full_scorer = scorer
    previous = scorer.options
    scorer.options = dataclasses.replace(previous, shared_prefix=False)
    try:
        full = full_scorer.score_codes(items, **options)
    finally:
        scorer.options = previous
    return shared, full


def computed(scorer, items, **options):
    """``(decoder positions computed, results)`` of scoring ``items``."""
    before = scorer.positions_computed
    results = scorer.score_codes(items, **options)
    return scorer.positions_computed - before, results


def check(shared, full):
    for a, b in zip(shared, full, strict=True):
        assert a.nll.shape == b.nll.shape
        np.testing.assert_allclose(a.nll, b.nll, atol=1e-4, rtol=0, equal_nan=True)


def test_mono_musicgen_windows_and_mixed_groups(tiny_scorer, rng):
    base = rng.integers(0, 2048, size=(4, 40))
    other = rng.integers(0, 2048, size=(4, 33))
    items = variants(rng, base, (5, 12, 30), special=2048) + [base.copy()] + \
        variants(rng, other, (9,), special=2048)
    work, shared = computed(tiny_scorer, items, batch_size=7)  # one batch of two groups
    check(shared, both(tiny_scorer, items, batch_size=7)[1])
    np.testing.assert_array_equal(shared[4].nll, shared[0].nll)  # an unchanged variant
    # the batch is right-padded to the inputs of 40 frames (K - 1 = 3 steps of delay)
    steps = tiny_scorer.layouts["delayed"].inputs(torch.from_numpy(base)).shape[1]
    assert 0 < work < 7 * steps
    # windows: a batch holds the same window of the 4 variants, which share its prefix
    windowed = dataclasses.replace(tiny_scorer.options, window_frames=16, stride_frames=8)
    tiny_scorer.options, saved = windowed, tiny_scorer.options
    try:
        work, shared = computed(tiny_scorer, items[:4], batch_size=4)
        tiny_scorer.options = dataclasses.replace(windowed, shared_prefix=False)
        full_work, full = computed(tiny_scorer, items[:4], batch_size=4)
        check(shared, full)
        layout, expected = tiny_scorer.layouts["delayed"], 0
        for start, _, end in shared[0].windows:  # one batch per window position
            batch = torch.stack([layout.inputs(torch.from_numpy(x[:, start:end]))
                                 for x in items[:4]])
            prefix, owner = prefix_plan(batch)
            expected += len(set(owner)) * prefix + 4 * (batch.shape[2] - prefix)
        assert work == expected < full_work
    finally:
        tiny_scorer.options = saved


def test_prefix_plan_picks_the_classes_of_least_work():
    a, b = torch.arange(20), torch.arange(100, 120)
    rows = [a, a.clone(), b, b.clone()]
    rows[1][10:] += 1  # shares 10 steps with row 0
    rows[3][8:] += 1  # shares 8 steps with row 2
    batch = torch.stack(rows)[:, None]  # [4, 1, 20]
    # P = 8: 2 heads x 8 + 4 x 12 = 64 positions; P = 10: 3 x 10 + 4 x 10 = 70; full: 80
    assert prefix_plan(batch) == (8, [0, 0, 2, 2])
    assert prefix_plan(torch.stack([a, b])[:, None]) == (0, [0, 1])  # nothing shared
    assert prefix_plan(torch.stack([a, a])[:, None]) == (20, [0, 0])  # identical rows
    assert prefix_plan(a[None, None]) == (0, [0])


def test_stereo_and_yue_layouts(rng, tmp_path_factory):
    pytest.importorskip("transformers")
    import test_backends
    import test_yue
    from noiseloss import load_model

    stereo_dir = test_backends.stereo_dir.__wrapped__(tmp_path_factory)
    stereo = load_model(str(stereo_dir))
    check(*both(stereo, variants(rng, rng.integers(0, 2048, size=(8, 20)), (3, 11), special=2048),
                batch_size=3))
    folders = test_yue.folders.__wrapped__(tmp_path_factory)
    for stage, rows in ((1, 2), (2, 8)):
        model = load_model(str(folders / "llama"), backend=f"yue-s{stage}",
                           model_options=test_yue.options(folders, stage))
        items = variants(rng, rng.integers(0, 1024, size=(rows, 14)), (4, 9), special=1024)
        check(*both(model, items, batch_size=3))
        check(*both(model, items, batch_size=3, alignment="prompted-codec-range"))


def test_the_paper_grid_computes_each_distinct_position_once():
    """Onset frame 250 of 750, six lengths, on the demo model: the clean sequence in full, each
    variant from its first differing input step on."""
    import torch

    from noiseloss.demo.data import dataset_files
    from noiseloss.models import load_model
    from noiseloss.perturb import Clean, apply
    from noiseloss.sources.audio import load_audio

    demo = load_model("demo")
    audio = load_audio(dataset_files("train")[0], sample_rate=SR)[: 15 * SR]
    clean = Clean(audio, demo.encode(audio))
    context = demo.perturb_context()
    items = [clean.codes] + [apply(clean, {"kind": "noise", "onset_frames": 250,
                                           "length_frames": n, "level_db": -12.0,
                                           "level_ref": "signal"}, context=context, seed=0).codes
                             for n in (5, 10, 50, 100, 150, 200)]
    layout = demo.layouts["delayed"]
    inputs = [layout.inputs(torch.from_numpy(c)).numpy() for c in items]
    steps = inputs[0].shape[1]
    first_difference = min(int(np.flatnonzero((x != inputs[0]).any(axis=0))[0]) for x in inputs[1:])
    unique = first_difference + len(items) * (steps - first_difference)
    before = demo.positions_computed
    shared = demo.score_codes(items, batch_size=7)
    assert demo.positions_computed - before == unique
    # the codec looks a frame ahead (frame 249 may change), and equal codes may follow the onset
    assert first_difference >= 250
    naive = len(items) * steps
    assert naive / unique == pytest.approx(5250 / 3750, abs=0.01)
    demo.options = dataclasses.replace(demo.options, shared_prefix=False)
    check(shared, demo.score_codes(items, batch_size=7))
