"""Audio perturbations: levels, exact spans, bit-identity outside them, clipping, order edits."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest

from noiseloss.errors import AudioError, ParameterError
from noiseloss.perturb import perturb
from noiseloss.perturb.inject import fade_weights, inject_noise
from noiseloss.perturb.order import permute_blocks

SR, HOP = 32000, 640
ONSET, LENGTH = 250, 100  # frames: the paper's 5 s onset


def music(seconds: float = 15.0, seed: int = 0, amplitude: float = 0.2) -> np.ndarray:
    """A deterministic music-like clip: two partials with a slow envelope plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = amplitude * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    x += 0.25 * amplitude * np.sin(2 * np.pi * 660 * t) + 0.01 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def power_db(x) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2))


def noise_spec(**overrides) -> dict:
    return {"kind": "noise", "onset_frames": ONSET, "length_frames": LENGTH, "color": "pink",
            "level_db": -12.0, **overrides}


# -- levels ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["replace", "add"])
@pytest.mark.parametrize("level_ref", ["dbfs", "signal", "local", "lufs"])
def test_injected_level_is_within_a_tenth_of_a_db(level_ref, mode):
    x = music()
    out = perturb(x, noise_spec(level_ref=level_ref, mode=mode, level_db=-20.0),
                  sample_rate=SR, hop_length=HOP, seed=0)
    a, b = ONSET * HOP, (ONSET + LENGTH) * HOP
    injected = out.data[a:b].astype(np.float64) - (x[a:b] if mode == "add" else 0.0)
    if level_ref == "lufs":
        meter = pyloudnorm.Meter(SR)
        measured = meter.integrated_loudness(injected) - meter.integrated_loudness(x)
    else:
        reference = {"dbfs": 0.0, "signal": power_db(x), "local": power_db(x[a - SR:b + SR])}
        measured = power_db(injected) - reference[level_ref]
    assert measured == pytest.approx(-20.0, abs=0.1)
    assert out.params["reached_level_db"] == pytest.approx(-20.0, abs=1e-9)
    assert out.params["clipped_samples"] == 0


def test_signal_reference_is_recorded_and_golden():
    x = music()
    out = inject_noise(x, onset_frames=ONSET, length_frames=LENGTH, level_db=-20.0,
                       level_ref="signal", sample_rate=SR, hop_length=HOP, seed=0)
    # mean square of the clip: 0.02 * mean((0.6 + 0.4 sin)^2) + 0.05^2 / 2 + 0.01^2, where the
    # 0.5 Hz envelope spans 7.5 periods in 15 s, so mean(sin) = 2 / (15 pi)
    mean_square = 0.02 * (0.44 + 0.48 * 2 / (15 * np.pi)) + 0.05**2 / 2 + 0.01**2
    assert out.params["reference_level_db"] == pytest.approx(power_db(x), abs=1e-9)
    assert out.params["reference_level_db"] == pytest.approx(10 * np.log10(mean_square), abs=0.01)
    assert out.params["noise_gain"] == pytest.approx(10 ** ((power_db(x) - 20) / 20), rel=1e-6)


def test_lufs_works_for_spans_shorter_than_a_loudness_block():
    out = inject_noise(music(), onset_frames=ONSET, length_frames=10, level_db=-6.0,
                       level_ref="lufs", sample_rate=SR, hop_length=HOP, seed=0)
    span = out.data[ONSET * HOP:(ONSET + 10) * HOP].astype(np.float64)
    meter = pyloudnorm.Meter(SR)
    # 0.2 s of power-law noise is periodic: its loudness is that of its periodic extension
    measured = meter.integrated_loudness(np.tile(span, 2)) - meter.integrated_loudness(music())
    assert measured == pytest.approx(-6.0, abs=0.1)


def test_local_reference_follows_the_music_around_the_span():
    x = music()
    x[: 8 * SR] *= 0.1  # quiet first half: the local level at frame 250 is 20 dB lower
    common = dict(onset_frames=ONSET, length_frames=LENGTH, level_db=-10.0, sample_rate=SR,
                  hop_length=HOP, seed=0)
    local = inject_noise(x, level_ref="local", **common).params
    signal = inject_noise(x, level_ref="signal", **common).params
    assert local["reference_level_db"] < signal["reference_level_db"] - 5.0
    assert local["local_context_ms"] == 1000.0 and "local_context_ms" not in signal


# -- spans ----------------------------------------------------------------------------------------
AUDIO_CASES = {
    "noise": {"onset_frames": ONSET, "length_frames": LENGTH},
    "swap": {"onset_frames": ONSET, "block_frames": 50},
    "permute": {"onset_frames": ONSET, "length_frames": 200, "block_frames": 10},
    "reverse": {"onset_frames": ONSET, "length_frames": LENGTH},
    "delete": {"onset_frames": ONSET, "length_frames": LENGTH},
    "repeat": {"onset_frames": ONSET, "length_frames": LENGTH},
    "silence": {"onset_frames": ONSET, "length_frames": LENGTH},
}
SPAN_FRAMES = {"noise": 100, "swap": 100, "permute": 200, "reverse": 100, "delete": 0,
               "repeat": 100, "silence": 100}
LENGTH_CHANGE = {"delete": -LENGTH * HOP, "repeat": LENGTH * HOP, "silence": LENGTH * HOP}


@pytest.mark.parametrize("kind", sorted(AUDIO_CASES))
def test_outside_the_span_the_output_is_bit_identical(kind):
    x = music()
    before = x.copy()
    out = perturb(x, {"kind": kind, **AUDIO_CASES[kind]}, sample_rate=SR, hop_length=HOP, seed=3)
    y = out.data
    assert np.array_equal(x, before)  # the input is never modified
    assert y.dtype == np.float32
    shift = y.size - x.size
    assert shift == LENGTH_CHANGE.get(kind, 0)
    assert out.span_frames == (ONSET, SPAN_FRAMES[kind])
    onset, length = out.span_samples
    assert (onset, length) == (ONSET * HOP, SPAN_FRAMES[kind] * HOP)
    end = onset + length
    assert y[:onset].tobytes() == x[:onset].tobytes()
    assert y[end:].tobytes() == x[end - shift:].tobytes()
    if kind != "permute":  # a permutation may leave its first block in place
        assert y[onset] != x[onset]
    if kind in ("noise", "swap", "reverse", "silence"):
        assert y[end - 1] != x[end - 1 - shift]


def test_order_edits_move_exactly_the_expected_samples():
    x = np.arange(20 * HOP, dtype=np.float32)
    kw = dict(sample_rate=SR, hop_length=HOP)
    f = HOP  # one frame
    swap = perturb(x, {"kind": "swap", "onset_frames": 5, "block_frames": 2}, **kw).data
    assert np.array_equal(swap[5 * f:9 * f], np.r_[x[7 * f:9 * f], x[5 * f:7 * f]])
    rev = perturb(x, {"kind": "reverse", "onset_frames": 5, "length_frames": 3}, **kw).data
    assert np.array_equal(rev[5 * f:8 * f], x[5 * f:8 * f][::-1])
    cut = perturb(x, {"kind": "delete", "onset_frames": 5, "length_frames": 3}, **kw).data
    assert np.array_equal(cut, np.r_[x[:5 * f], x[8 * f:]])
    rep = perturb(x, {"kind": "repeat", "onset_frames": 5, "length_frames": 3}, **kw).data
    assert np.array_equal(rep, np.r_[x[:5 * f], x[2 * f:5 * f], x[5 * f:]])
    sil = perturb(x, {"kind": "silence", "onset_frames": 20, "length_frames": 1}, **kw).data
    assert np.array_equal(sil, np.r_[x, np.zeros(f, np.float32)])


def test_seconds_convert_exactly_to_the_same_samples_as_frames():
    x = music()
    by_frames = perturb(x, noise_spec(), sample_rate=SR, hop_length=HOP, seed=0)
    by_seconds = perturb(x, {**noise_spec(onset_frames=None, length_frames=None),
                             "onset_seconds": 5.0, "length_seconds": 2.0},
                         sample_rate=SR, hop_length=HOP, seed=0)
    assert by_seconds.data.tobytes() == by_frames.data.tobytes()
    assert by_seconds.params["onset_seconds"] == 5.0 and "onset_frames" not in by_seconds.params


def test_unaligned_seconds_report_the_covering_frames():
    out = inject_noise(music(), onset_seconds=5.01, length_seconds=2.0, sample_rate=SR,
                       hop_length=HOP, seed=0)
    assert out.span_samples == (160320, 64000)
    assert out.span_frames == (250, 101)  # samples 160320 .. 224320 touch frames 250 .. 350


# -- noise options --------------------------------------------------------------------------------
def test_same_seed_same_noise_other_seed_other_noise():
    x = music()
    a = perturb(x, noise_spec(), sample_rate=SR, hop_length=HOP, seed=0).data
    b = perturb(x, noise_spec(), sample_rate=SR, hop_length=HOP, seed=0).data
    c = perturb(x, noise_spec(), sample_rate=SR, hop_length=HOP, seed=1).data
    span = slice(ONSET * HOP, (ONSET + LENGTH) * HOP)
    assert a.tobytes() == b.tobytes()
    assert np.mean(a[span] != c[span]) > 0.99
    assert np.array_equal(np.delete(a, np.r_[span]), np.delete(c, np.r_[span]))


def test_crossfade_changes_only_samples_inside_the_span_ends():
    x = music()
    hard = inject_noise(x, onset_frames=ONSET, length_frames=LENGTH, crossfade_ms=10.0,
                        sample_rate=SR, hop_length=HOP, seed=0, level_db=-6.0)
    plain = inject_noise(x, onset_frames=ONSET, length_frames=LENGTH, sample_rate=SR,
                         hop_length=HOP, seed=0, level_db=-6.0)
    a, b, fade = ONSET * HOP, (ONSET + LENGTH) * HOP, 320
    y = hard.data
    assert y[:a].tobytes() == x[:a].tobytes() and y[b:].tobytes() == x[b:].tobytes()
    assert y[a + fade:b - fade].tobytes() == plain.data[a + fade:b - fade].tobytes()
    w = fade_weights(b - a, fade)
    assert 0 < w[0] < 0.01 and w[fade] == 1.0 and np.allclose(w[:fade], w[-fade:][::-1])
    expected = (1 - w) * x[a:b] + w * plain.data[a:b]  # plain's span is the noise itself
    assert np.allclose(y[a:b], expected, atol=1e-6)
    assert y[a] != x[a] and y[b - 1] != x[b - 1]


def test_legacy_method_is_recorded_and_differs_from_powerlaw():
    x = music()
    legacy = perturb(x, noise_spec(method="legacy-butterworth", level_ref="dbfs", level_db=-20),
                     sample_rate=SR, hop_length=HOP, seed=0)
    power = perturb(x, noise_spec(level_ref="dbfs", level_db=-20), sample_rate=SR,
                    hop_length=HOP, seed=0)
    span = slice(ONSET * HOP, (ONSET + LENGTH) * HOP)
    assert legacy.params["method"] == "legacy-butterworth"
    assert power_db(legacy.data[span]) == pytest.approx(-20.0, abs=0.01)
    assert not np.allclose(legacy.data[span], power.data[span])


# -- clipping -------------------------------------------------------------------------------------
def loud_clip_kwargs(**extra):
    return dict(onset_frames=ONSET, length_frames=LENGTH, level_db=-3.0, level_ref="signal",
                mode="add", sample_rate=SR, hop_length=HOP, seed=0, **extra)


def test_clipping_is_reported_by_default_and_samples_are_kept():
    x = music(amplitude=0.9)
    out = inject_noise(x, **loud_clip_kwargs())
    span = out.data[ONSET * HOP:(ONSET + LENGTH) * HOP]
    assert out.params["clipped_samples"] == int(np.count_nonzero(np.abs(span) > 1.0)) > 0
    assert out.params["peak"] == pytest.approx(float(np.abs(span).max())) and out.params["peak"] > 1
    assert out.params["reached_level_db"] == pytest.approx(-3.0)


def test_scale_noise_keeps_the_peak_at_full_scale_and_records_the_level_reached():
    x = music(amplitude=0.9)
    out = inject_noise(x, **loud_clip_kwargs(on_clip="scale-noise"))
    a, b = ONSET * HOP, (ONSET + LENGTH) * HOP
    assert out.params["clipped_samples"] == 0 and out.params["peak"] <= 1.0
    assert out.params["peak"] == pytest.approx(1.0, abs=1e-4)  # scaled just enough
    reached = out.params["reached_level_db"]
    assert reached < -3.0
    measured = power_db(out.data[a:b].astype(np.float64) - x[a:b]) - power_db(x)
    assert measured == pytest.approx(reached, abs=0.01)
    assert out.data[:a].tobytes() == x[:a].tobytes()  # the music is never scaled


@pytest.mark.parametrize("peak", [1.0, 1.2])
def test_scale_noise_cannot_help_when_the_music_reaches_full_scale(peak):
    x = music(amplitude=0.5)
    x[(ONSET + 3) * HOP:(ONSET + 4) * HOP] = peak  # noise of either sign would push some over
    with pytest.raises(ParameterError, match="the input itself reaches full scale"):
        inject_noise(x, **loud_clip_kwargs(on_clip="scale-noise"))


def test_clip_error_names_the_level():
    with pytest.raises(ParameterError, match=r"level_db=-3 .*peak .* > 1.0"):
        inject_noise(music(amplitude=0.9), **loud_clip_kwargs(on_clip="error"))


# -- permutations ---------------------------------------------------------------------------------
@pytest.mark.parametrize("block", [1, 2, 5, 10, 35, 50, 70, 100, 150, 200])
def test_block_permutation_preserves_the_multiset_of_blocks(block):
    x = np.arange(750 * HOP, dtype=np.float32)  # every sample unique and exact in float32
    count = max(2, 600 // block)
    orders = set()
    for seed in range(100):
        out = permute_blocks(x, onset_frames=100, length_frames=count * block, block_frames=block,
                             sample_rate=SR, hop_length=HOP, seed=seed)
        a, b = 100 * HOP, (100 + count * block) * HOP
        blocks_out = out.data[a:b].reshape(count, block * HOP)
        blocks_in = x[a:b].reshape(count, block * HOP)
        # each output block is one whole input block, and every input block is used once
        assert np.all(np.diff(blocks_out, axis=1) == 1)
        assert np.array_equal(np.sort(blocks_out[:, 0]), blocks_in[:, 0])
        assert np.array_equal(blocks_out, blocks_in[out.params["order"]])
        assert out.params["order"] != list(range(count))  # never the identity
        assert out.data[:a].tobytes() == x[:a].tobytes() and out.data[b:].tobytes() == x[b:].tobytes()
        orders.add(tuple(out.params["order"]))
    assert len(orders) >= min(math.factorial(count) - 1, 20)  # the seeds give different orders


def test_permutation_is_seeded():
    x = music()
    kw = dict(onset_frames=ONSET, length_frames=200, block_frames=10, sample_rate=SR,
              hop_length=HOP)
    assert permute_blocks(x, seed=4, **kw).params["order"] == permute_blocks(x, seed=4, **kw).params["order"]
    assert permute_blocks(x, seed=4, **kw).params["order"] != permute_blocks(x, seed=5, **kw).params["order"]


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, pattern", [
    (noise_spec(length_frames=-5), r"length_frames must be in \[1, inf\), got -5"),
    (noise_spec(onset_frames=700), r"onset_frames \+ length_frames must end within the signal "
                                   r"\(480000 samples = 750 frames\), got an end at 512000"),
    (noise_spec(color="purple"), r"color must be one of \['blue', 'brown', 'pink', 'violet', "
                                 r"'white'\], got 'purple'"),
    (noise_spec(level_ref="peak"), r"level_ref must be one of \[.*'lufs'.*\], got 'peak'"),
    (noise_spec(mode="mix"), r"mode must be one of \['add', 'replace'\], got 'mix'"),
    (noise_spec(crossfade_ms=1500.0), r"crossfade_ms must be at most half the span"),
    (noise_spec(onset_seconds=5.0), r"give exactly one of onset_frames or onset_seconds"),
    (noise_spec(onset_frames=2.5), r"onset_frames must be an integer, got 2.5"),
    (noise_spec(level_db=float("nan")), r"level_db must be a finite number, got nan"),
    ({"kind": "swap", "onset_frames": 700, "block_frames": 50},
     r"onset_frames \+ 2 \* block_frames must end within the signal"),
    ({"kind": "permute", "onset_frames": 0, "length_frames": 25, "block_frames": 10},
     r"whole number >= 2 of blocks"),
    ({"kind": "repeat", "onset_frames": 50, "length_frames": 100}, r"onset must be >= length"),
    ({"kind": "delete", "onset_frames": 0, "length_frames": 750}, r"remove the whole signal"),
    ({"kind": "reverse", "onset_frames": 0, "length_frames": 0},
     r"length_frames must be in \[1, inf\), got 0"),
    ({"kind": "reverse", "onset_frames": 0, "length_seconds": 0.0},
     r"length_seconds must be at least 1 samples .*got 0.0 \(0 samples\)"),
])
def test_bad_parameters_raise_naming_parameter_allowed_values_and_value(spec, pattern):
    with pytest.raises(ParameterError, match=pattern):
        perturb(music(), spec, sample_rate=SR, hop_length=HOP, seed=0)


def test_bad_audio_is_rejected():
    with pytest.raises(ParameterError, match=r"audio must be mono \[samples\], got shape"):
        perturb(np.zeros((100, 2), np.float32), noise_spec(), sample_rate=SR, hop_length=HOP, seed=0)
    bad = music()
    bad[10] = np.nan
    with pytest.raises(AudioError, match="non-finite"):
        perturb(bad, noise_spec(), sample_rate=SR, hop_length=HOP, seed=0)
    with pytest.raises(AudioError, match="silent"):
        perturb(np.zeros(15 * SR, np.float32), noise_spec(), sample_rate=SR, hop_length=HOP, seed=0)
