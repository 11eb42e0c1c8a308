"""Region detection on synthetic curves with known boundaries; curves and smoothing helpers."""

from __future__ import annotations

import numpy as np
import pytest

from noiseloss.analysis import (
    DETECTORS,
    DetectorOptions,
    delay_lead_frames,
    detect_regions,
    frame_curve,
    moving_average,
    region_stats,
)
from noiseloss.errors import ParameterError
from noiseloss.scoring.result import ScoreResult

T, ONSET, LENGTH = 750, 250, 100


def curve(*, rise_frame=ONSET, peak_frames=5, peak=2.0, dip=-1.0, length=LENGTH, after=0.0):
    """Zero before the rise, ``peak`` for ``peak_frames``, ``dip`` to the span end, then ``after``."""
    d = np.zeros(T)
    d[rise_frame:rise_frame + peak_frames] = peak
    d[rise_frame + peak_frames:ONSET + length] = dip
    d[max(ONSET + length, rise_frame + peak_frames):] = after
    return d


def bounds(regions):
    return regions.peak, regions.assimilation, regions.recovery


def zc(d, *, length=LENGTH, lead=2, **options):
    return detect_regions(d, onset_frame=ONSET, length_frames=length, lead_frames=lead,
                          options=DetectorOptions(**options))


def test_clean_rise_at_onset():
    assert bounds(zc(curve())) == ((250, 255), (255, 350), (350, 750))
    # without smoothing the same boundaries
    assert bounds(zc(curve(), smooth_frames=1)) == ((250, 255), (255, 350), (350, 750))


def test_rise_one_frame_late():
    d = curve(rise_frame=ONSET + 1)
    assert bounds(zc(d)) == ((251, 256), (256, 350), (350, 750))
    # the authors' fixed anchor loses this peak (length 0 in their box plots): missing here
    fixed = zc(d, detector="fixed-anchor")
    assert fixed.peak is None and fixed.assimilation == (246, 354)
    stats = {row["region"]: row for row in region_stats(d, fixed, onset_frame=ONSET)}
    assert not stats["peak"]["found"]
    assert np.isnan(stats["peak"]["mean_delta"]) and np.isnan(stats["peak"]["region_frames"])


def test_peak_longer_than_span():
    d = curve(peak_frames=12, length=5)
    regions = zc(d, length=5)
    assert bounds(regions) == ((250, 262), None, (262, 750))
    stats = {row["region"]: row for row in region_stats(d, regions, onset_frame=ONSET)}
    assert stats["peak"]["region_frames"] == 12 and stats["peak"]["mean_delta"] == 2.0
    assert not stats["assimilation"]["found"] and np.isnan(stats["assimilation"]["mean_delta"])
    assert stats["recovery"]["mean_delta"] == 0.0
    # the authors' rule starts the recovery inside the peak (frame 259 < 262)
    assert bounds(zc(d, length=5, detector="fixed-anchor")) == ((246, 262), None, (259, 749))


def test_no_effect_at_all():
    d = np.zeros(T)
    regions = zc(d)
    assert regions.peak is None
    stats = {row["region"]: row for row in region_stats(d, regions, onset_frame=ONSET)}
    assert not stats["peak"]["found"]
    assert all(np.isnan(stats["peak"][k]) for k in ("mean_delta", "peak_delta", "region_frames",
                                                    "peak_latency_frames", "start_frame"))
    # the span exists and the curve is measured there: a mean of exactly 0 over 100 frames
    assert stats["assimilation"]["region_frames"] == LENGTH
    assert stats["assimilation"]["mean_delta"] == 0.0


def test_dip_without_peak():
    d = curve(peak_frames=0)
    assert bounds(zc(d)) == (None, (250, 350), (350, 750))


def test_late_rise_outside_the_peak_window_is_no_peak():
    d = curve(rise_frame=ONSET + 6, peak_frames=5)
    assert zc(d).peak is None
    assert zc(d, peak_window_frames=7).peak == (256, 261)


def test_delay_pattern_lead_is_explicit():
    # codebook 3 reacts two frames before the onset under the delay pattern
    d = curve()
    d[ONSET - 2:ONSET] = 1.0
    assert zc(d, lead=2).peak == (248, 255)
    assert zc(d, lead=0).peak == (250, 255)


def test_noisy_curves_keep_their_boundaries():
    for seed in range(20):
        d = curve(after=0.0)
        d[ONSET:] += np.random.default_rng(seed).normal(0.0, 0.3, T - ONSET)
        regions = zc(d)
        assert regions.peak == (250, 255), seed
        assert regions.assimilation == (255, 350)


def test_region_stats_latency_and_height():
    d = curve()
    d[252] = 3.5
    stats = region_stats(d, zc(d), onset_frame=ONSET)[0]
    assert stats["peak_delta"] == 3.5 and stats["peak_latency_frames"] == 2
    assert stats["mean_delta"] == pytest.approx((2.0 * 4 + 3.5) / 5)


def test_fixed_anchor_matches_the_audit_on_a_clean_rise():
    regions = zc(curve(), detector="fixed-anchor")
    # their rows 245..253 (peak) = our frames 246..254; assimilation to 249+N+4 = frame 354
    assert bounds(regions) == ((246, 255), (255, 354), (354, 749))
    assert regions.params["baseline"] == 0.0


def test_registry_and_parameter_errors():
    assert {"zero-crossing", "fixed-anchor"} <= set(DETECTORS.keys())
    with pytest.raises(ParameterError, match="region detector"):
        zc(curve(), detector="zero-crosing")
    with pytest.raises(ParameterError, match="smooth_frames"):
        zc(curve(), smooth_frames=0)
    with pytest.raises(ParameterError, match="length_frames"):
        zc(curve(), length=-1)


def test_moving_average():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    np.testing.assert_allclose(moving_average(x, window_frames=5)[2:-2],
                               np.convolve(x, np.ones(5) / 5, "valid"))
    np.testing.assert_array_equal(moving_average(x, window_frames=1), x)
    # edges average what exists; NaN is skipped
    assert moving_average(x, window_frames=5)[0] == pytest.approx(x[:3].mean())
    y = x.copy()
    y[10] = np.nan
    assert moving_average(y, window_frames=3)[10] == pytest.approx((x[9] + x[11]) / 2)
    assert np.isnan(moving_average(np.full(4, np.nan), window_frames=3)).all()
    # even windows: [t - 2, t + 1]
    assert moving_average(x, window_frames=4)[5] == pytest.approx(x[3:7].mean())


def test_frame_curve_matches_score_result():
    rng = np.random.default_rng(1)
    nll = rng.uniform(1, 7, size=(4, 30)).astype(np.float32)
    nll[:, 0] = [np.nan, 2.0, 4.0, np.nan]
    result = ScoreResult(nll=nll, codes=np.zeros((4, 30), np.int64), frame_rate=50.0)
    got = frame_curve(nll.ravel(), num_codebooks=4, num_frames=30)
    np.testing.assert_array_equal(got, result.frame_nll())
    assert got[0] == 3.0
    with pytest.raises(ParameterError, match="num_codebooks"):
        frame_curve(nll.ravel(), num_codebooks=4, num_frames=29)


def test_delay_lead_frames():
    assert delay_lead_frames(num_codebooks=4, alignment="delayed") == 2
    assert delay_lead_frames(num_codebooks=8, alignment="delayed") == 6
    assert delay_lead_frames(num_codebooks=1, alignment="delayed") == 0
    assert delay_lead_frames(num_codebooks=4, alignment="legacy-undelayed") == 0


def test_assimilation_that_rises_above_clean_is_wrong_sign_not_found():
    # spike, a short dip below clean, then above clean to the span end: the stretch after the
    # first settled crossing is not "the loss falling below clean"
    d = curve()
    d[265:ONSET + LENGTH] = 0.5
    regions = zc(d)
    assert bounds(regions) == ((250, 255), (255, 350), (350, 750))
    stats = {row["region"]: row for row in region_stats(d, regions, onset_frame=ONSET)}
    assim = stats["assimilation"]
    assert assim["status"] == "wrong-sign" and assim["found"] is False
    # the stretch is still described: 10 frames at -1, 85 at +0.5
    assert assim["region_frames"] == 95
    assert assim["mean_delta"] == pytest.approx((10 * -1.0 + 85 * 0.5) / 95)
    assert stats["peak"]["status"] == "found" and stats["peak"]["found"] is True
    # Recovery has no sign requirement
    assert stats["recovery"]["status"] == "found"


def test_a_normal_curve_finds_peak_and_assimilation():
    d = curve()
    stats = {row["region"]: row for row in region_stats(d, zc(d), onset_frame=ONSET)}
    assert [stats[name]["status"] for name in ("peak", "assimilation", "recovery")] == [
        "found", "found", "found"]
    assert all(stats[name]["found"] is True for name in stats)
    assert stats["peak"]["mean_delta"] == 2.0 and stats["assimilation"]["mean_delta"] == -1.0
    # an empty region is "empty", not "wrong-sign"
    short = curve(peak_frames=12, length=5)
    rows = {row["region"]: row for row in region_stats(short, zc(short, length=5),
                                                       onset_frame=ONSET)}
    assert rows["assimilation"]["status"] == "empty" and rows["assimilation"]["found"] is False
    # no effect at all: a mean of exactly 0 is not below clean
    flat = np.zeros(T)
    rows = {row["region"]: row for row in region_stats(flat, zc(flat), onset_frame=ONSET)}
    assert rows["peak"]["status"] == "empty"
    assert rows["assimilation"]["status"] == "wrong-sign" and not rows["assimilation"]["found"]
