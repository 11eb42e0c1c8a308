"""Profile metrics on synthetic curves with known answers; AUROC, bootstrap and correlations."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from noiseloss.analysis.profile import (
    LOCAL_FLOOR_NATS,
    PROFILE_METRICS,
    SCALE_FLOOR_NATS,
    coarse_bump,
    entropy_metrics,
    flag_spans,
    local_bump_z,
    metrics_of,
    model_metrics,
    probe_response,
    running_baseline,
    spike_frames,
    spike_metrics,
)
from noiseloss.analysis.stats import auroc, bootstrap_interval, correlation


def blind_metrics(nll, entropy=None, *, window_frames: int, z: float) -> dict:
    """The blind clip metrics of one curve, computed as ``clip_tables`` does."""
    residual, spikes = spike_frames(nll, window_frames=window_frames, z=z)
    return {**spike_metrics(residual, spikes), **entropy_metrics(nll, entropy)}


def test_every_metric_declares_level_unit_and_direction():
    assert set(metrics_of("clip")) | set(metrics_of("probe")) | set(metrics_of("model")) == set(
        PROFILE_METRICS)
    for name in PROFILE_METRICS:
        metric = PROFILE_METRICS.get(name)
        assert metric.degraded in ("higher", "lower") and metric.unit and metric.formula


def test_running_baseline_is_the_median_of_the_previous_frames():
    curve = np.arange(20, dtype=float) ** 2
    base = running_baseline(curve, window_frames=4)
    assert np.isnan(base[0])  # no previous frame
    assert base[1] == 0.0  # one of 4 finite is enough (W // 4)
    for t in range(4, 20):
        assert base[t] == np.median(curve[t - 4:t])


def test_a_spike_of_known_height_and_width_on_a_flat_curve():
    curve = np.full(200, 2.0)
    curve[100:106] += 3.0
    residual, spikes = spike_frames(curve, window_frames=20, z=3.0)
    assert np.flatnonzero(spikes).tolist() == list(range(100, 106))
    assert flag_spans(spikes, merge_frames=0) == [(100, 106)]
    m = blind_metrics(curve, None, window_frames=20, z=3.0)
    scored = np.isfinite(residual).sum()
    assert scored == 200 - 5  # a baseline needs W // 4 = 5 previous frames
    assert m["spike_rate"] == pytest.approx(6 / scored)
    assert m["spike_height"] == pytest.approx(3.0)
    assert all(math.isnan(m[k]) for k in ("excess_surprisal", "rate_confident_surprised"))


def test_flat_and_empty_curves_give_no_spike_and_nan_never_zero():
    flat = blind_metrics(np.full(100, 1.5), np.full(100, 1.5), window_frames=10, z=3.0)
    assert flat["spike_rate"] == 0.0 and math.isnan(flat["spike_height"])
    assert flat["excess_surprisal"] == 0.0
    empty = blind_metrics(np.full(50, np.nan), np.full(50, np.nan), window_frames=10, z=3.0)
    assert all(math.isnan(v) for v in empty.values())
    # a rise below z * SCALE_FLOOR_NATS on a flat curve is not a spike
    small = np.full(100, 1.0)
    small[60] += 2.9 * SCALE_FLOOR_NATS
    assert not spike_frames(small, window_frames=10, z=3.0)[1].any()


def test_coarse_bump_of_known_bumps():
    row = np.full(300, 2.0)
    row[100:125] += 1.0  # exactly one window high
    assert coarse_bump(row, window_frames=25) == pytest.approx(1.0)
    row = np.full(300, 2.0)
    row[100:110] += 1.0  # 10 of 25 frames
    assert coarse_bump(row, window_frames=25) == pytest.approx(10 / 25)
    assert coarse_bump(np.full(300, 2.0), window_frames=25) == 0.0
    assert math.isnan(coarse_bump(np.full(10, np.nan), window_frames=25))


def test_local_bump_z_of_known_bumps():
    """A 25-frame rise of 1 nat in one row of a flat matrix: z = 1 / floor; a row's own spread
    divides its rise; the largest row wins; a matrix without values is NaN."""
    nll = np.full((3, 300), 2.0)
    nll[1, 100:125] += 1.0
    assert local_bump_z(nll, window_frames=25) == pytest.approx(1.0 / LOCAL_FLOOR_NATS)
    rng = np.random.default_rng(0)
    row = 2.0 + rng.choice([-0.5, 0.5], size=300)  # MAD 0.5
    row[200:225] = 4.0
    spread = 1.4826 * np.median(np.abs(row - np.median(row))) + LOCAL_FLOOR_NATS
    expected = (4.0 - np.median(row)) / spread
    assert local_bump_z(row[None], window_frames=25) == pytest.approx(expected)
    assert local_bump_z(np.stack([row, nll[1]]), window_frames=25) == pytest.approx(
        1.0 / LOCAL_FLOOR_NATS)
    assert local_bump_z(np.full((2, 300), 2.0), window_frames=25) == 0.0
    assert math.isnan(local_bump_z(np.full((2, 10), np.nan), window_frames=25))


def test_spans_merge_across_small_gaps():
    mask = np.zeros(30, dtype=bool)
    mask[[3, 4, 7, 8, 20]] = True
    assert flag_spans(mask, merge_frames=2) == [(3, 9), (20, 21)]
    assert flag_spans(mask, merge_frames=0) == [(3, 5), (7, 9), (20, 21)]


def test_excess_surprisal_and_quadrants_of_constructed_curves():
    h = np.tile([1.0, 3.0], 50)  # low / high entropy alternate; median 2
    n = h + np.tile([0.5, 0.5, -0.5, -0.5], 25)  # surprised on half of each entropy half
    m = blind_metrics(n, h, window_frames=10, z=3.0)
    assert m["excess_surprisal"] == pytest.approx(0.0)
    assert m["rate_confident_surprised"] == pytest.approx(0.25)
    assert m["rate_uncertain_surprised"] == pytest.approx(0.25)
    shifted = blind_metrics(h + 0.7, h, window_frames=10, z=3.0)
    assert shifted["excess_surprisal"] == pytest.approx(0.7)
    assert shifted["rate_confident_surprised"] + shifted["rate_uncertain_surprised"] == 1.0


def test_nan_padded_windows_count_only_scored_frames():
    n = np.concatenate([np.full(100, 2.0), np.full(40, np.nan)])
    h = np.concatenate([np.full(100, 1.0), np.full(40, np.nan)])
    m = blind_metrics(n, h, window_frames=10, z=3.0)
    assert m["excess_surprisal"] == pytest.approx(1.0)
    assert m["rate_confident_surprised"] + m["rate_uncertain_surprised"] == 1.0


def test_probe_response_reads_the_span_with_its_lead_and_the_frames_after():
    delta = np.zeros(100)
    delta[48] = 0.5  # in the lead
    delta[50:58] = 2.0
    delta[54] = 4.0
    delta[58:68] = -0.3
    peak, after = probe_response(delta, onset_frame=50, length_frames=8, lead_frames=2,
                                 after_frames=10)
    assert (peak, after) == (4.0, pytest.approx(-0.3))
    assert probe_response(delta, onset_frame=50, length_frames=8, lead_frames=3,
                          after_frames=20)[1] == pytest.approx(-0.3 * 10 / 20)
    # nothing after the end of the clip: NaN, not 0
    assert math.isnan(probe_response(delta, onset_frame=92, length_frames=8, lead_frames=0,
                                     after_frames=5)[1])


def _injection_tables(slope_per_frame: float, *, clips: int = 6):
    """sequence + regions tables of a model whose effects are known exactly."""
    sequence, regions = [], []
    for clip, length in itertools.product(range(clips), (5, 10, 50, 100)):
        key = f"{clip}-{length}"
        onset = 250
        sequence.append({"key": key, "model": "m", "dataset": "d", "family": "noise",
                         "prompt": "unconditional", "alignment": "delayed", "item": f"c{clip}",
                         "perturbation_frames": length, "perturbation_seconds": length / 50,
                         "frame_rate": 50.0,
                         "onset_frame": onset, "length_frames": length,
                         "onset_seconds": onset / 50, "length_seconds": length / 50,
                         "loss_clean": 3.0 + 0.1 * clip,
                         "mean_outside_delta": slope_per_frame * length + 0.01 * clip})
        regions += [
            {"key": key, "region": "peak", "found": True, "start_frame": onset,
             "peak_delta": 1.0 + 0.2 * clip, "mean_delta": 0.5},
            {"key": key, "region": "assimilation", "found": clip % 2 == 0,
             "start_frame": onset + length, "peak_delta": 0.0, "mean_delta": -0.4},
            {"key": key, "region": "recovery", "found": True,
             "start_frame": onset + length + 25, "start_seconds": (onset + length + 25) / 50,
             "peak_delta": 0.1, "mean_delta": 0.0}]
    return pd.DataFrame(sequence), pd.DataFrame(regions)


def test_model_metrics_of_known_injections():
    sequence, regions = _injection_tables(-0.002)
    table = model_metrics(sequence, regions, short_frames=10, seed=0).set_index("metric")
    assert table.loc["onset_sensitivity", "value"] == pytest.approx(np.mean(1 + 0.2 * np.arange(6)))
    # assimilation found in half the clips only: the others are left out, not counted as 0
    assert table.loc["assimilation_depth", "value"] == pytest.approx(0.4)
    assert table.loc["assimilation_depth", "n_clips"] == 3
    assert table.loc["recovery_time", "value"] == pytest.approx(25 / 50)
    assert table.loc["length_slope", "value"] == pytest.approx(-0.002 * 50)
    assert table.loc["clean_loss", "value"] == pytest.approx(3.25)
    low, high = table.loc["onset_sensitivity", ["ci_low", "ci_high"]]
    assert low < table.loc["onset_sensitivity", "value"] < high
    # a constant statistic has a zero-width interval; the slope is exact on every resample
    assert table.loc["recovery_time", "ci_low"] == pytest.approx(0.5)
    assert table.loc["length_slope", "ci_high"] == pytest.approx(-0.1, abs=1e-9)
    again = model_metrics(sequence, regions, short_frames=10, seed=0)
    pd.testing.assert_frame_equal(again.set_index("metric"), table)
    assert model_metrics(sequence.iloc[:0], regions.iloc[:0], short_frames=10, seed=0).empty
    # no KL curves (a run stored before context memory): undefined, and the note says why
    assert table.loc[["tau_half", "tau_mem"], "value"].isna().all()
    assert table.loc["tau_mem", "note"].startswith("no injection kept its clean unit's length")


def test_context_memory_of_planted_kl_curves():
    """KL halving every 5 frames after each injection's end, cut to 0 after 30 frames: tau_half
    = 5 frames, tau_mem = 30 frames (at 50 frames/s), the same in every clip, so the interval
    has zero width; KL curves of the events of a symbolic model have no time per column."""
    sequence, regions = _injection_tables(-0.002)
    ends = sequence["onset_frame"] + sequence["length_frames"]
    kl = {}
    for key, end in zip(sequence["key"], ends, strict=True):
        curve = np.zeros(end + 60, np.float32)
        curve[end : end + 30] = 0.5 ** (np.arange(30) / 5)
        kl[key] = curve
    table = model_metrics(sequence, regions, short_frames=10, seed=0,
                          kl=pd.Series(kl)).set_index("metric")
    assert table.loc["tau_half", "value"] == pytest.approx(5 / 50)
    assert table.loc["tau_mem", "value"] == pytest.approx(30 / 50)
    assert table.loc["tau_mem", ["ci_low", "ci_high"]].tolist() == pytest.approx([0.6, 0.6])
    assert table.loc["tau_mem", "n_clips"] == 6 and table.loc["tau_mem", "note"] == ""
    events = model_metrics(sequence.assign(frame_rate=np.nan), regions, short_frames=10, seed=0,
                           kl=pd.Series(kl)).set_index("metric")
    assert np.isnan(events.loc["tau_mem", "value"])
    assert events.loc["tau_mem", "note"] == "the model's columns are events: no time per column"


def test_auroc_equals_the_pairwise_count_with_ties_as_half():
    rng = np.random.default_rng(3)
    pos = np.round(rng.normal(0.5, 1.0, 40), 1)
    neg = np.round(rng.normal(0.0, 1.0, 35), 1)
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    assert auroc(pos, neg) == pytest.approx(np.mean(pairs))
    assert auroc(pos, pos) == 0.5 and auroc([2, 3], [0, 1]) == 1.0 and auroc([0], [1]) == 0.0
    assert math.isnan(auroc([], [1.0])) and auroc([np.nan, 1.0], [0.0]) == 1.0


def test_bootstrap_intervals_are_seeded_and_cover_the_estimate():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 1.0, 50)
    a = bootstrap_interval((x,), np.mean, seed=7)
    assert a == bootstrap_interval((x,), np.mean, seed=7)
    assert a != bootstrap_interval((x,), np.mean, seed=8)
    assert a[0] < x.mean() < a[1]
    # the percentile interval of the mean is about mean +- 1.96 standard errors
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert a[1] - a[0] == pytest.approx(2 * 1.96 * se, rel=0.2)
    assert all(math.isnan(v) for v in bootstrap_interval(([1.0],), np.mean, seed=0))


def test_correlations_equal_scipy_and_known_values():
    x, y = [1, 2, 3, 4], [1, 3, 2, 4]
    assert correlation(x, y, method="kendall") == pytest.approx(4 / 6)
    assert correlation(x, y, method="spearman") == pytest.approx(0.8)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert correlation(a, b, method="pearson") == pytest.approx(stats.pearsonr(a, b).statistic)
    assert math.isnan(correlation([1, 1, 1], [1, 2, 3], method="pearson"))
    assert math.isnan(correlation([1, 2], [1, 2], method="spearman"))


def test_the_readme_states_every_metric_with_its_formula():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in PROFILE_METRICS:
        m = PROFILE_METRICS.get(name)
        assert f"| `{name}` | {m.level} | {m.unit} | {m.degraded} | {m.formula} |" in readme


def test_a_registered_metric_appears_in_the_profile_tables(monkeypatch):
    """Registering is enough: the clip table and the model table compute what the registry
    holds, with no other edit."""
    from noiseloss.analysis.profile import ProfileMetric, ProfileOptions, clip_tables

    monkeypatch.setattr(PROFILE_METRICS, "_entries", dict(PROFILE_METRICS._entries))
    monkeypatch.setattr(PROFILE_METRICS, "_help", dict(PROFILE_METRICS._help))
    PROFILE_METRICS.register("max_nll", ProfileMetric(
        "max_nll", "clip", "nats", "higher", "largest frame NLL",
        lambda clip: float(np.nanmax(clip.curves[0]))))
    PROFILE_METRICS.register("worst_clean_loss", ProfileMetric(
        "worst_clean_loss", "model", "nats", "higher", "largest clean loss of a clip's units",
        lambda units: float(units["loss_clean"].max())))
    assert metrics_of("clip")[-1] == "max_nll" and metrics_of("model")[-1] == "worst_clean_loss"
    rows = []
    for i, top in enumerate((4.0, 6.5)):
        nll = np.full((2, 100), 1.0, np.float32)
        nll[1, 40] = top  # frame 40: mean over the 2 codebooks (1 + top) / 2
        rows.append({"key": f"k{i}", "kind": "clean", "model": "m", "dataset": "d",
                     "item": f"c{i}", "prompt": "unconditional", "audio": None,
                     "num_codebooks": 2, "num_frames": 100, "frame_rate": 50.0,
                     "loss": float(nll.mean()), "nll": nll.ravel(), "entropy": None,
                     "time_s": np.arange(100) / 50.0, "duration_seconds": 2.0})
    clips, _ = clip_tables(pd.DataFrame(rows), deltas=None, options=ProfileOptions(probes=0))
    assert clips.set_index("item")["max_nll"].to_dict() == {"c0": 2.5, "c1": 3.75}
    table = model_metrics(*_injection_tables(-0.002), short_frames=10, seed=0).set_index("metric")
    assert table.loc["worst_clean_loss", "value"] == pytest.approx(np.mean(3.0 + 0.1 * np.arange(6)))
    assert table.loc["worst_clean_loss", "n_clips"] == 6
