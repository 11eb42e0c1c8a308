import numpy as np
import pytest

from noiseloss.demo import corpus

COUNTS = {"bach": 40, "palestrina": 12, "monteverdi": 10, "mozart": 6, "haydn": 4}


@pytest.fixture(scope="module")
def pieces():
    return corpus.select_pieces(seed=0, per_collection=COUNTS)


def test_selection_is_deterministic_and_seeded(pieces):
    assert corpus.select_pieces(seed=0, per_collection=COUNTS) == pieces
    other = corpus.select_pieces(seed=1, per_collection=COUNTS)
    assert {p.piece_id for p in other} != {p.piece_id for p in pieces}
    assert len(pieces) == sum(COUNTS.values())
    assert len({p.piece_id for p in pieces}) == len(pieces)
    assert [p.piece_id for p in pieces] == sorted(p.piece_id for p in pieces)


def test_split_holds_out_collections_and_a_timbre(pieces):
    by_split = {s: [p for p in pieces if p.split == s] for s in corpus.SPLITS}
    held_in = {p.collection for p in by_split["train"] + by_split["validation"]}
    assert held_in == {"bach", "palestrina", "monteverdi"}
    assert {p.collection for p in by_split["ood"]} == {"mozart", "haydn"}
    held_out = set(corpus.HELD_OUT_PROGRAMS)
    assert not {p.program for p in by_split["train"] + by_split["validation"]} & held_out
    assert {p.program for p in by_split["ood"]} & held_out
    # ceil(10 %) validation pieces per held-in collection
    for name, count in (("bach", 4), ("palestrina", 2), ("monteverdi", 1)):
        assert sum(p.collection == name for p in by_split["validation"]) == count
    assert all(p.instrument == {**corpus.PROGRAMS, **corpus.HELD_OUT_PROGRAMS}[p.program]
               for p in pieces)


def test_rank_is_uniform_and_stable():
    values = np.array([corpus.rank(str(i), seed=0) for i in range(4000)])
    assert 0 <= values.min() and values.max() < 1
    assert abs(values.mean() - 0.5) < 0.02
    assert corpus.rank("bach/bwv1.6.mxl", seed=0) == corpus.rank("bach/bwv1.6.mxl", seed=0)


def test_normalise_sets_rms_or_limits_the_peak():
    rng = np.random.default_rng(0)
    x = (0.01 * rng.standard_normal(32000)).astype(np.float32)
    y = corpus.normalise(x)
    rms_db = 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    assert rms_db == pytest.approx(corpus.TARGET_RMS_DB, abs=1e-3)
    spiky = np.zeros(32000, np.float32)
    spiky[100] = 0.01
    z = corpus.normalise(spiky)
    assert np.max(np.abs(z)) == pytest.approx(corpus.PEAK_LIMIT, rel=1e-6)
    np.testing.assert_array_equal(corpus.normalise(np.zeros(10, np.float32)), np.zeros(10))


def test_render_piece_gives_normalised_audio_of_bounded_length():
    piece = next(p for p in corpus.select_pieces(seed=0, per_collection={"bach": 3}))
    audio = corpus.render_piece(piece, sample_rate=32000, max_seconds=6.0)
    assert audio.dtype == np.float32 and 5.0 * 32000 < audio.size <= 6.0 * 32000
    assert np.max(np.abs(audio)) <= corpus.PEAK_LIMIT + 1e-6
    rms_db = 20 * np.log10(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    assert rms_db <= corpus.TARGET_RMS_DB + 1e-3
