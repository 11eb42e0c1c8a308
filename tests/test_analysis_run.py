"""analyze_run on a synthetic results store whose loss differences are known in closed form."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from noiseloss.analysis import DetectorOptions, analyze_results, analyze_run, read_results
from noiseloss.errors import ParameterError

K, T, ONSET, RATE = 4, 300, 100, 50.0
LENGTHS = (5, 10, 50, 100)
PEAK, PEAK_FRAMES, DIP, AFTER, AFTER_FRAMES = 2.0, 5, -1.0, -0.5, 10


def effect(length: int) -> np.ndarray:
    """Per-frame loss change of a span at ONSET: a 5-frame peak, a dip to the span end, then a
    10-frame undershoot after it."""
    d = np.zeros(T)
    d[ONSET:ONSET + PEAK_FRAMES] = PEAK
    d[ONSET + PEAK_FRAMES:ONSET + length] = DIP
    d[ONSET + length:ONSET + length + AFTER_FRAMES] = AFTER
    return d


def _after_frames(length: int) -> int:
    return min(AFTER_FRAMES, T - ONSET - length)


def loss_delta(length: int) -> float:
    """Closed form of the whole-item loss difference (mean over all T frames)."""
    return (PEAK * PEAK_FRAMES + DIP * (length - PEAK_FRAMES)
            + AFTER * _after_frames(length)) / T


def outside_delta(length: int) -> float:
    """Closed form of the mean difference outside the span."""
    return AFTER * _after_frames(length) / (T - length)


def _row(key, *, model, dataset, item, kind, nll, spec=None, onset=None, length=None,
         color=None, scale=1.0):
    nll = np.asarray(nll, dtype=np.float32)
    return {
        "key": key, "model": model, "dataset": dataset, "item": item,
        "perturbation": "clean" if kind == "clean" else f"{kind}/{color}/len={length}",
        "kind": kind, "spec": json.dumps(spec) if spec else None,
        "params": json.dumps(spec or {}), "onset_frame": onset, "length_frames": length,
        "color": color, "level_db": None if kind == "clean" else -20.0,
        "level_ref": None if kind == "clean" else "signal", "seed": 0,
        "prompt": "unconditional", "alignment": "delayed", "num_codebooks": K,
        "num_frames": nll.shape[1], "frame_rate": RATE,
        "loss": float(np.mean([row.mean(dtype=np.float64) for row in nll])),
        "nll": nll.ravel(), "audio": f"audio/{key}.flac",
    }


def synthetic_results(*, seed: int = 0, colors=("white", "pink"), swap=True,
                      pure_noise=True) -> pd.DataFrame:
    """Two models x two data sets x three clips; noise in each colour (colour scales the effect),
    a swap family, a MIDI edit without span, a pure-noise unit; one unpaired unit."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in ("m1", "m2"):
        for dataset in ("ood", "train"):
            for i in range(3):
                item = f"clip{i}"
                base = rng.uniform(3.0, 6.0, size=(K, T))
                tag = f"{model}-{dataset}-{item}"
                rows.append(_row(f"{tag}-clean", model=model, dataset=dataset, item=item,
                                 kind="clean", nll=base))
                kinds = [("noise", c, 1.0 + 0.5 * j) for j, c in enumerate(colors)]
                kinds += [("swap", None, 0.5)] if swap else []
                for kind, color, scale in kinds:
                    for length in LENGTHS:
                        spec = {"kind": kind, "onset_frames": ONSET, "seed": 0}
                        if kind == "noise":
                            spec.update(color=color, level_db=-20, level_ref="signal",
                                        length_frames=length)
                            span = length
                        else:  # swap: two blocks of L frames, the span is 2 L
                            spec.update(block_frames=length)
                            span = 2 * length
                        rows.append(_row(
                            f"{tag}-{kind}-{color}-{length}", model=model, dataset=dataset,
                            item=item, kind=kind, nll=base + scale * effect(span), spec=spec,
                            onset=ONSET, length=span, color=color))
                rows.append(_row(f"{tag}-midi", model=model, dataset=dataset, item=item,
                                 kind="note-delete", nll=base - 0.1,
                                 spec={"kind": "note-delete", "ratio": 0.4}))
        if pure_noise:
            spec = {"kind": "noise", "color": "white", "onset_frames": 0, "length_frames": T,
                    "level_db": -20, "level_ref": "signal"}
            rows.append(_row(f"{model}-noise-clean", model=model, dataset="noise", item="white",
                             kind="clean", nll=np.full((K, T), 5.0)))
            rows.append(_row(f"{model}-noise-pure", model=model, dataset="noise", item="white",
                             kind="noise", nll=np.full((K, T), 2.0), spec=spec, onset=0,
                             length=T, color="white"))
    rows.append(_row("orphan", model="m1", dataset="elsewhere", item="x", kind="noise",
                     nll=np.ones((K, T)), spec={"kind": "noise", "color": "white"}, onset=ONSET,
                     length=5, color="white"))
    frame = pd.DataFrame(rows)
    for column in ("onset_frame", "length_frames", "seed"):
        frame[column] = frame[column].astype("Int32" if column != "seed" else "Int64")
    return frame


def write_store(directory, results: pd.DataFrame) -> None:
    """Write ``results.parquet`` with the runner's column types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(results, preserve_index=False)
    table = table.set_column(table.schema.get_field_index("nll"), "nll",
                             pa.array(list(results["nll"]), type=pa.list_(pa.float32())))
    pq.write_table(table, directory / "results.parquet")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    write_store(directory, synthetic_results())
    return directory


@pytest.fixture(scope="module")
def tables(run_dir):
    return analyze_run(run_dir)


def test_sequence_losses_match_closed_form(tables):
    seq = tables["sequence"]
    white = seq[(seq["kind"] == "noise") & (seq["color"] == "white") & (seq["onset_frame"] > 0)]
    for length in LENGTHS:
        part = white[white["length_frames"] == length]
        assert len(part) == 12  # 2 models x 2 data sets x 3 clips
        np.testing.assert_allclose(part["loss_delta"], loss_delta(length), atol=2e-6)
        np.testing.assert_allclose(part["mean_all_delta"], loss_delta(length), atol=2e-6)
        np.testing.assert_allclose(part["sum_all_delta"], loss_delta(length) * T, atol=2e-3)
        np.testing.assert_allclose(part["mean_outside_delta"], outside_delta(length), atol=2e-6)
        np.testing.assert_allclose(part["sum_outside_delta"], AFTER * AFTER_FRAMES, atol=2e-3)
        assert (part["frames_outside"] == T - length).all()
    # identities: delta = perturbed - clean for every statistic
    for stat in ("mean_all", "sum_all", "mean_outside", "sum_outside"):
        np.testing.assert_allclose(white[f"{stat}_delta"],
                                   white[f"{stat}_perturbed"] - white[f"{stat}_clean"],
                                   rtol=1e-9, atol=1e-6)


def test_midi_edit_has_no_span_and_missing_outside_stats(tables):
    midi = tables["sequence"][tables["sequence"]["kind"] == "note-delete"]
    assert len(midi) == 12  # 2 models x 2 data sets x 3 clips
    np.testing.assert_allclose(midi["loss_delta"], -0.1, atol=1e-5)
    assert midi["mean_outside_delta"].isna().all() and midi["frames_outside"].isna().all()
    assert not (tables["regions"]["kind"] == "note-delete").any()


def test_deltas_are_aligned_frame_curves(tables):
    deltas = tables["deltas"]
    row = deltas[(deltas["key"] == "m2-train-clip1-noise-pink-50")].iloc[0]
    np.testing.assert_allclose(row["delta"], 1.5 * effect(50), atol=1e-5)
    np.testing.assert_allclose(row["delta"], row["perturbed_curve"] - row["clean_curve"], atol=1e-6)
    assert row["lead_frames"] == 2 and row["frames"] == T


def test_regions_table_has_known_boundaries_and_missing_not_zero(tables):
    reg = tables["regions"]
    white = reg[(reg["color"] == "white") & (reg["onset_frame"] > 0)]
    for length in LENGTHS:
        part = white[white["length_frames"] == length].set_index("region")
        peak = part.loc["peak"].iloc[0]
        assert (peak["start_frame"], peak["end_frame"]) == (ONSET, ONSET + PEAK_FRAMES)
        assert peak["peak_delta"] == pytest.approx(PEAK, abs=1e-5)
        assert peak["peak_latency_frames"] == 0
        assim = part.loc["assimilation"]
        if length == PEAK_FRAMES:  # the peak fills the span: assimilation is empty -> missing
            assert not assim["found"].any() and assim["mean_delta"].isna().all()
            assert (assim["status"] == "empty").all()
            assert assim["region_frames"].isna().all()
        else:
            assert (assim["start_frame"] == ONSET + PEAK_FRAMES).all()
            assert (assim["end_frame"] == ONSET + length).all()
            np.testing.assert_allclose(assim["mean_delta"], DIP, atol=1e-5)
            assert assim["found"].all() and (assim["status"] == "found").all()
        rec = part.loc["recovery"]
        assert (rec["start_frame"] == ONSET + length).all() and (rec["end_frame"] == T).all()
        np.testing.assert_allclose(rec["mean_delta"], AFTER * AFTER_FRAMES / (T - ONSET - length),
                                   atol=1e-6)


def test_swap_is_measured_against_its_block_length(tables):
    seq = tables["sequence"]
    swap = seq[seq["kind"] == "swap"]
    assert set(swap["family"]) == {"swap onset_frames=100"}
    assert (swap["length_frames"] == 2 * swap["perturbation_frames"]).all()
    np.testing.assert_allclose(swap["loss_delta"],
                               [0.5 * loss_delta(2 * b) for b in swap["perturbation_frames"]],
                               atol=2e-6)


def test_edits_that_change_the_length_are_aligned_after_the_span():
    rng = np.random.default_rng(3)
    base = rng.uniform(3.0, 6.0, size=(K, T))
    cut = np.delete(base, np.s_[ONSET:ONSET + 20], axis=1)  # 20 frames deleted, gap closed
    cut[:, ONSET:ONSET + 3] += 1.0  # the junction surprises the model for 3 frames
    grown = np.insert(base, ONSET, np.full((30, K), 1.0), axis=1)  # 30 frames of silence
    rows = [_row("c", model="m", dataset="d", item="i", kind="clean", nll=base),
            _row("del", model="m", dataset="d", item="i", kind="delete", nll=cut,
                 spec={"kind": "delete", "onset_frames": ONSET, "length_frames": 20},
                 onset=ONSET, length=0),
            _row("ins", model="m", dataset="d", item="i", kind="silence", nll=grown,
                 spec={"kind": "silence", "onset_frames": ONSET, "length_frames": 30},
                 onset=ONSET, length=30)]
    tables = analyze_results(pd.DataFrame(rows))
    deltas = tables["deltas"].set_index("key")
    expected = np.zeros(T - 20)
    expected[ONSET:ONSET + 3] = 1.0
    np.testing.assert_allclose(deltas.loc["del", "delta"], expected, atol=1e-5)
    assert deltas.loc["del", "frames"] == T - 20 and deltas.loc["del", "perturbation_frames"] == 20
    inserted = deltas.loc["ins", "delta"]
    assert inserted.size == T + 30
    np.testing.assert_allclose(inserted[ONSET + 30:], 0.0, atol=1e-5)
    np.testing.assert_allclose(inserted[:ONSET], 0.0, atol=1e-5)
    regions = tables["regions"]
    peak = regions[(regions["key"] == "del") & (regions["region"] == "peak")].iloc[0]
    assert (peak["start_frame"], peak["end_frame"]) == (ONSET, ONSET + 3)
    seq = tables["sequence"].set_index("key")
    assert seq.loc["del", "mean_outside_delta"] == pytest.approx(3.0 / (T - 20), abs=1e-6)


def test_statistics_settings_and_points(tables):
    points = tables["points"]
    white = points[points["family"].str.contains('"white"') & (points["metric"] == "loss_delta")
                   & points["family"].str.contains("onset_frames=100")]
    assert len(white) == 2 * 2 * len(LENGTHS) and (white["n_items"] == 3).all()
    large = tables["stats_large"]
    row = large[large["family"].str.contains('"white"') & large["family"].str.contains(
        "onset_frames=100") & (large["metric"] == "loss_delta")].iloc[0]
    assert row["n_points"] == 16 and row["lengths"] == ",".join(f"{n / RATE:g}" for n in LENGTHS)
    assert set(white["perturbation_seconds"]) == {n / RATE for n in LENGTHS}
    # loss_delta is exactly linear in length with slope -1/T per frame, RATE frames a second
    assert row["slope"] == pytest.approx(DIP / T * RATE, rel=1e-4)
    assert row["pearson_r"] == pytest.approx(-1.0, abs=1e-6)
    # 16 points: Monte Carlo permutation p, at its floor 1 / (9999 + 1), never 0
    assert row["p_method"] == "monte-carlo (9999 permutations)"
    assert row["pearson_p_less"] == 1e-4 and row["pearson_p"] == 2e-4
    small = tables["stats_small"]
    spans = small["family"].str.contains("onset_frames=100")
    assert set(small.loc[spans, "n_points"]) == {4}
    # the pure-noise family has one length: no test, NaN rather than a number
    lone = small[small["family"].str.contains("onset_frames=0")]
    assert set(lone["n_points"]) == {1} and lone["pearson_r"].isna().all()
    group = tables["stats_group"]
    assert len(group[(group["metric"] == "loss_delta") & group["family"].str.contains('"pink"')]) == 4


def test_unpaired_unit_is_listed_as_skipped(tables):
    skipped = tables["skipped"]
    assert list(skipped["key"]) == ["orphan"]
    assert "no clean unit" in skipped["reason"].iloc[0]


def test_tables_written_with_index(run_dir, tables):
    folder = run_dir / "tables"
    index = json.loads((folder / "index.json").read_text())
    assert set(index["tables"]) == set(tables)
    for name, entry in index["tables"].items():
        assert (folder / entry["parquet"]).is_file()
        assert all(index["tables"][name]["columns"].values()), name  # every column described
    assert "csv" not in index["tables"]["deltas"] and (folder / "sequence.csv").is_file()
    back = pd.read_csv(folder / "regions.csv")
    assert len(back) == len(tables["regions"])
    assert index["options"]["detector"] == "zero-crossing"


def test_fixed_anchor_option_and_bad_inputs(run_dir):
    results = read_results(run_dir)
    fixed = analyze_results(results, options=DetectorOptions(detector="fixed-anchor"))["regions"]
    peak = fixed[(fixed["key"] == "m1-ood-clip0-noise-white-50") & (fixed["region"] == "peak")]
    assert (int(peak["start_frame"].iloc[0]), int(peak["end_frame"].iloc[0])) == (96, 105)
    with pytest.raises(ParameterError, match="unknown region detector 'nope'"):
        DetectorOptions(detector="nope")
    twice = pd.concat([results, results.assign(key=results["key"] + "-copy")])
    with pytest.raises(ParameterError, match="several clean units"):
        analyze_results(twice)
    with pytest.raises(ParameterError, match="results.parquet"):
        analyze_run(run_dir / "missing")


def test_the_alignment_column_help_lists_every_alignment():
    from noiseloss.analysis.run import COLUMN_HELP
    from noiseloss.models import alignments

    assert {"delayed", "legacy-undelayed", "prompted", "prompted-codec-range",
            "legacy-flat"} <= set(alignments())
    for alignment in alignments():
        assert alignment in COLUMN_HELP["alignment"], alignment


def test_undefined_statistics_and_model_metrics_say_why(run_dir):
    """Too few lengths, no short injection, a metric fixed by the detector: a ``note`` each,
    no interval where none is defined, and nothing else changed."""
    results = read_results(run_dir)
    noise = results["kind"] == "noise"
    two = results[~noise | results["length_frames"].isin([50, 100])]  # swap keeps 4 lengths
    tables = analyze_results(two)
    small = tables["stats_small"]
    assert set(small.loc[small["kind"] == "noise", "note"]) == {"needs ≥ 3 lengths (has 2)"}
    assert small.loc[small["kind"] == "noise", "pearson_r"].isna().all()
    assert (small.loc[small["kind"] == "swap", "note"] == "").all()
    large = tables["stats_large"]  # 2 models x 2 data sets x 2 lengths: 8 points, tested
    assert (large.loc[large["kind"] == "noise", "note"] == "").all()
    model = tables["profile_model"]
    onset = model[model["metric"] == "onset_sensitivity"]
    by_kind = onset.assign(kind=onset["family"].str.split().str[0]).groupby("kind")
    notes = by_kind["note"].agg(set).to_dict()
    assert notes == {"noise": {"no injection of ≤ 10 frames in this family"}, "swap": {""}}
    assert onset.loc[onset["note"] != "", ["value", "ci_low", "ci_high"]].isna().all().all()
    only_noise = analyze_results(two[two["kind"] != "swap"])["profile_model"]
    assert set(only_noise.loc[only_noise["metric"] == "onset_sensitivity", "note"]) == {
        "no injection of ≤ 10 frames in this run"}
    recovery = model[model["metric"] == "recovery_time"]
    assert (recovery["note"] == "").all() and recovery["ci_low"].notna().all()
    fixed = analyze_results(two, options=DetectorOptions(detector="fixed-anchor"))
    recovery = fixed["profile_model"][fixed["profile_model"]["metric"] == "recovery_time"]
    assert recovery["value"].to_numpy() == pytest.approx(4 / RATE)  # 4 frames, every clip
    assert recovery[["ci_low", "ci_high"]].isna().all().all()
    assert recovery["note"].str.startswith("fixed by construction under fixed-anchor").all()
    pd.testing.assert_frame_equal(  # the detector changes the regions, not the statistics
        fixed["stats_small"], tables["stats_small"])
