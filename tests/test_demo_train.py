import math

import numpy as np
import pytest

from noiseloss.demo.train import (
    ModelSize,
    TrainConfig,
    bigram_logprobs,
    bigram_nll,
    build_decoder,
    crop_loss,
    crop_sampler,
    learning_rate,
    mean_token_nll,
    musicgen_loss,
    sequence_nll,
    train,
    unigram_logprobs,
    unigram_nll,
)
from noiseloss.errors import ParameterError

TINY = ModelSize(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=32,
                 max_position_embeddings=128)


class _FixedTokenizer:
    name, sample_rate, hop_length, num_codebooks, codebook_size = "fixed", 32000, 640, 4, 8
    modality = "audio"
    frame_rate = 50.0

    def describe(self):
        return {"name": self.name}


def test_training_nll_is_the_scoring_path_nll():
    import torch

    from noiseloss.models.musicgen import MusicgenScorer
    from noiseloss.scoring.options import ScoringOptions

    decoder = build_decoder(codebook_size=8, num_codebooks=4, size=TINY, seed=0).eval()
    codes = np.random.default_rng(0).integers(0, 8, size=(2, 4, 20))
    with torch.no_grad():
        nll = sequence_nll(decoder, torch.from_numpy(codes), special_id=8).numpy()
    scorer = MusicgenScorer(decoder, _FixedTokenizer(), name="t",
                            options=ScoringOptions(window_frames=20, stride_frames=10, batch_size=8,
                                                   alignment="delayed"))
    results = scorer.score_codes(list(codes))
    for b in range(2):
        np.testing.assert_allclose(nll[b], results[b].nll, rtol=1e-5, atol=1e-5)
    loss = musicgen_loss(torch.from_numpy(nll))
    assert float(loss) == pytest.approx(np.mean([r.loss() for r in results]), rel=1e-6)


def test_build_decoder_is_seeded_and_uses_special_id_c():
    a = build_decoder(codebook_size=8, num_codebooks=4, size=TINY, seed=5)
    b = build_decoder(codebook_size=8, num_codebooks=4, size=TINY, seed=5)
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert bool((pa == pb).all())
    assert a.config.pad_token_id == a.config.bos_token_id == 8 == a.config.vocab_size
    assert a.training  # fresh models train (dropout); callers must .eval()


def test_crop_sampler_returns_contiguous_slices_of_long_enough_pieces():
    long = np.arange(4 * 30).reshape(4, 30)
    short = np.full((4, 5), -1)
    draw = crop_sampler([short, long], crop_frames=10, rng=np.random.default_rng(0))
    crops = draw(64)
    assert crops.shape == (64, 4, 10)
    starts = crops[:, 0, 0]
    assert starts.min() >= 0 and starts.max() <= 20  # never the short piece (-1)
    np.testing.assert_array_equal(crops, np.stack([long[:, s : s + 10] for s in starts]))
    assert len(set(starts.tolist())) > 10
    with pytest.raises(ParameterError, match="crop_frames=10"):
        crop_sampler([short], crop_frames=10, rng=np.random.default_rng(0))


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=110, warmup_steps=10, learning_rate=1e-3)
    assert learning_rate(0, config=cfg) == pytest.approx(1e-4)
    assert learning_rate(9, config=cfg) == pytest.approx(1e-3)
    assert learning_rate(10, config=cfg) == pytest.approx(1e-3)
    assert learning_rate(60, config=cfg) == pytest.approx(1e-3 * (0.1 + 0.45))
    assert learning_rate(110, config=cfg) == pytest.approx(1e-4)


def test_unigram_and_bigram_golden_values():
    codes = [np.array([[0, 0, 1]])]
    uni = unigram_logprobs(codes, codebook_size=2)
    np.testing.assert_allclose(np.exp(uni), [[3 / 5, 2 / 5]])
    add_one = bigram_logprobs(codes, codebook_size=2, prior_weight=None)
    np.testing.assert_allclose(np.exp(add_one[0]), [[2 / 4, 2 / 4], [1 / 2, 1 / 2]])
    dirichlet = bigram_logprobs(codes, codebook_size=2, prior_weight=5.0)
    # row 0: (n + 5 p) / (2 + 5) with n = [1, 1], p = [0.6, 0.4]
    np.testing.assert_allclose(np.exp(dirichlet[0, 0]), [(1 + 3) / 7, (1 + 2) / 7])
    np.testing.assert_allclose(np.exp(dirichlet[0, 1]), [0.6, 0.4])  # unseen context
    item = np.array([[1, 0, 0]])
    np.testing.assert_allclose(unigram_nll(item, uni), [[-math.log(0.4), -math.log(0.6),
                                                          -math.log(0.6)]])
    np.testing.assert_allclose(bigram_nll(item, add_one, uni),
                               [[-math.log(0.4), math.log(2), math.log(2)]])
    assert mean_token_nll([np.ones((4, 3)), 3 * np.ones((4, 1))]) == pytest.approx(1.5)


def test_training_learns_a_periodic_sequence():
    rng = np.random.default_rng(0)
    pattern = rng.integers(0, 8, size=(4, 6))
    piece = np.tile(pattern, (1, 12))  # period 6, 72 frames
    decoder = build_decoder(codebook_size=8, num_codebooks=4, size=TINY, seed=0)
    val = piece[None, :, :24]
    before = crop_loss(decoder, val)
    cfg = TrainConfig(steps=60, batch_size=4, crop_frames=24, learning_rate=1e-2,
                      warmup_steps=5, eval_every=30)
    curve = train(decoder, [piece], val, config=cfg, seed=0, log=lambda r: None)
    assert [r["step"] for r in curve] == [30, 60]
    assert not decoder.training
    assert before > math.log(8) - 0.5
    assert curve[-1]["validation_loss"] < before - 1.0
    assert curve[-1]["validation_loss"] == pytest.approx(crop_loss(decoder, val), rel=1e-6)
