import numpy as np
import pytest

from noiseloss.demo.sample import _top_k_draw, sample_codes
from noiseloss.demo.train import ModelSize, build_decoder, sequence_nll
from noiseloss.errors import ParameterError

TINY = ModelSize(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, ffn_dim=32,
                 max_position_embeddings=128)


@pytest.fixture(scope="module")
def decoder():
    return build_decoder(codebook_size=8, num_codebooks=4, size=TINY, seed=1).eval()


def test_greedy_sampling_with_cache_matches_the_full_forward(decoder):
    import torch

    codes = sample_codes(decoder, num_frames=12, top_k=1, batch_size=2,
                         rng=np.random.default_rng(0))
    assert codes.shape == (2, 4, 12) and codes.min() >= 0 and codes.max() < 8
    # greedy: every code is the most likely one under the full (uncached) delayed forward, i.e.
    # its NLL is the smallest over all 8 candidate values at that position
    with torch.no_grad():
        nll = sequence_nll(decoder, torch.from_numpy(codes), special_id=8).numpy()
        for k in range(4):
            for t in (0, 11):
                for b in range(2):
                    alt = codes.copy()
                    cands = []
                    for v in range(8):
                        alt[b, k, t] = v
                        cands.append(sequence_nll(decoder, torch.from_numpy(alt[b : b + 1]),
                                                  special_id=8)[0, k, t].item())
                    assert nll[b, k, t] == pytest.approx(min(cands), abs=1e-5)


def test_sampling_is_reproducible_and_depends_on_the_generator(decoder):
    a = sample_codes(decoder, num_frames=10, top_k=5, batch_size=2, rng=np.random.default_rng(3))
    b = sample_codes(decoder, num_frames=10, top_k=5, batch_size=2, rng=np.random.default_rng(3))
    c = sample_codes(decoder, num_frames=10, top_k=5, batch_size=2, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_top_k_draw_frequencies():
    logits = np.log(np.array([[1.0, 2.0, 3.0, 0.5, 0.1]]))
    rng = np.random.default_rng(0)
    draws = np.array([_top_k_draw(logits, top_k=3, rng=rng)[0] for _ in range(20000)])
    freq = np.bincount(draws, minlength=5) / draws.size
    np.testing.assert_allclose(freq, [1 / 6, 2 / 6, 3 / 6, 0, 0], atol=0.012)
    assert _top_k_draw(logits, top_k=1, rng=rng)[0] == 2
    # a top_k larger than the vocabulary keeps every code
    wide = np.array([_top_k_draw(logits, top_k=500, rng=rng)[0] for _ in range(4000)])
    assert set(wide.tolist()) == {0, 1, 2, 3, 4}


def test_sample_codes_rejects_bad_top_k(decoder):
    with pytest.raises(ParameterError, match="top_k"):
        sample_codes(decoder, num_frames=4, top_k=0, batch_size=1, rng=np.random.default_rng(0))
