"""``noiseloss audit``: statistics against scipy, planted metrics, audio and symbolic end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pretty_midi
import pytest
from scipy import stats

from noiseloss.analysis.audit import audit_tables, damage_statistics, metric_verdicts, oriented
from noiseloss.cli.main import main

#: Ten clips, each clean (severity 0) and damaged at 1, 2, 3: 0.4 x severity + N(0, 1), rounded.
VALUES = [2.041, -2.156, 1.218, 0.632, -0.453, 0.184, -1.22, 0.968, -0.865, 3.723, 1.026, 0.847,
          -0.281, -0.268, -0.255, 0.809, 0.482, 0.161, 1.758, 1.0, 0.024, 1.946, 1.345, 0.695,
          -0.183, 0.941, 2.735, 0.93, -0.244, 1.402, -0.086, 0.908, 0.883, 0.98, 0.892, 1.87,
          -2.828, 1.421, -0.16, -0.469]
ITEMS = np.repeat(np.arange(10), 4)
SEVERITY = np.tile(np.arange(4), 10)


def test_auroc_and_spearman_equal_scipy_references():
    values = np.array(VALUES)
    out = damage_statistics(ITEMS, SEVERITY, values, seed=0, n_resamples=1000)
    damaged, clean = values[SEVERITY > 0], values[SEVERITY == 0]
    reference = stats.mannwhitneyu(damaged, clean).statistic / (damaged.size * clean.size)
    assert out["auroc"] == pytest.approx(reference, abs=1e-12) == pytest.approx(0.75)
    assert out["spearman"] == pytest.approx(stats.spearmanr(SEVERITY, values).statistic,
                                            abs=1e-12) == pytest.approx(0.2615081, abs=1e-6)
    assert (out["n_clean"], out["n_damaged"]) == (10, 30)
    # clip-bootstrap intervals: seeded, golden, around the estimate
    assert out["auroc_low"] == pytest.approx(0.536667, abs=1e-5)
    assert out["auroc_high"] == pytest.approx(0.903417, abs=1e-5)
    assert out["spearman_low"] == pytest.approx(0.073570, abs=1e-5)
    assert out["spearman_high"] == pytest.approx(0.461424, abs=1e-5)
    assert damage_statistics(ITEMS, SEVERITY, values, seed=0, n_resamples=1000) == out
    # a metric where a worse clip is lower: oriented, the same numbers
    flipped = damage_statistics(ITEMS, SEVERITY, oriented(-values, degraded="lower"), seed=0,
                                n_resamples=1000)
    assert flipped == out


def test_lowpass_and_hard_clip_change_only_their_span():
    from noiseloss.perturb import perturb

    rate, hop = 32000, 640
    t = np.arange(rate) / rate
    audio = (0.3 * np.sin(2 * np.pi * 200 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)).astype(
        np.float32)
    span = {"onset_frames": 10, "length_frames": 25, "sample_rate": rate, "hop_length": hop}
    inside = slice(10 * hop, 35 * hop)
    for spec in ({"kind": "lowpass", "cutoff_hz": 1000.0, **span},
                 {"kind": "hard-clip", "drive_db": 12.0, **span}):
        out = perturb(audio, spec)
        assert out.span_frames == (10, 25) and out.data.shape == audio.shape
        np.testing.assert_array_equal(out.data[:inside.start], audio[:inside.start])
        np.testing.assert_array_equal(out.data[inside.stop:], audio[inside.stop:])
    low = perturb(audio, {"kind": "lowpass", "cutoff_hz": 1000.0, **span}).data[inside]
    spectrum = np.abs(np.fft.rfft(low))
    bins = np.fft.rfftfreq(low.size, 1 / rate)
    assert spectrum[np.argmin(np.abs(bins - 6000))] < 1e-3 * spectrum[np.argmin(np.abs(bins - 200))]
    clipped = perturb(audio, {"kind": "hard-clip", "drive_db": 12.0, **span})
    peak = np.abs(audio[inside]).max()
    assert np.abs(clipped.data[inside]).max() == pytest.approx(peak)
    assert 0.5 < clipped.params["clipped_fraction"] < 1.0


def _planted(rng, *, clips: int = 12) -> pd.DataFrame:
    rows = []
    for clip in range(clips):
        for family in ("clean", "noise", "loop"):
            for severity in (0,) if family == "clean" else (1, 2, 3):
                noise = rng.normal(0, 0.2, size=3)
                for metric, value in (("rises", severity + noise[0]),
                                      ("falls", -severity + noise[1]), ("flat", noise[2])):
                    rows.append({"item": f"c{clip}", "family": family, "severity": severity,
                                 "level": float(severity), "metric": metric, "value": value})
    return pd.DataFrame(rows)


def test_planted_metrics_are_noticed_or_flagged_as_moving_the_wrong_way():
    values = _planted(np.random.default_rng(0))
    table, severity = audit_tables(values, {"rises": "higher", "falls": "higher",
                                            "flat": "higher"}, seed=0, n_resamples=200)
    verdicts = table.set_index(["metric", "family"])
    assert (verdicts.loc["rises", "verdict"] == "notices").all()
    assert not verdicts.loc["rises", "wrong_way"].any()
    assert verdicts.loc["falls", "wrong_way"].all()
    assert (verdicts.loc["falls", "verdict"] == "wrong way").all()
    assert (verdicts.loc["flat", "verdict"] == "misses").all()
    assert metric_verdicts(table) == {
        "rises": "rises: notices 2 of 2 families (noise, loop)",
        "falls": "falls: notices 0 of 2 families; moves the wrong way under noise, loop",
        "flat": "flat: notices 0 of 2 families"}
    # a metric declared "lower" that falls with damage is the one that notices
    turned = audit_tables(values, {"falls": "lower"}, seed=0, n_resamples=200)[0]
    assert (turned["verdict"] == "notices").all()
    # the severity table: 0 is the clean mean; the planted shift grows by about 1 / sd
    rises = severity[(severity["metric"] == "rises") & (severity["family"] == "noise")]
    assert rises["severity"].tolist() == [0, 1, 2, 3] and rises["n"].tolist() == [12] * 4
    assert rises["shift_sd"].iloc[0] == 0.0 and rises["shift_sd"].is_monotonic_increasing


AUDIO_FAMILIES = ["noise", "shuffle", "reverse", "loop", "dropout", "lowpass", "clipping"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``noiseloss audit demo:ood --model demo --tiny``, with two planted metrics registered:
    one that rises with the severity of each file (read from the manifest), one that falls."""
    from noiseloss.analysis.profile import PROFILE_METRICS, ProfileMetric

    out = tmp_path_factory.mktemp("audit") / "out"

    def severity_of(clip):  # NaN for files of other audits (the metrics stay registered)
        manifest = pd.read_csv(out / "manifest.csv")
        return float(dict(zip(manifest["file"].str.rsplit("/", n=1).str[-1],
                              manifest["severity"], strict=True)).get(clip.row["item"], np.nan))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PROFILE_METRICS, "_entries", dict(PROFILE_METRICS._entries))
        patch.setattr(PROFILE_METRICS, "_help", dict(PROFILE_METRICS._help))
        for name, sign in (("planted_rises", 1.0), ("planted_falls", -1.0)):
            PROFILE_METRICS.register(name, ProfileMetric(
                name, "clip", "1", "higher", "the file's severity (planted)",
                lambda clip, sign=sign: sign * severity_of(clip)))
        code = main(["audit", "demo:ood", "--model", "demo", "--out", str(out), "--tiny"])
        yield out, code


def test_tiny_audit_has_every_family_severity_and_metric(tiny, capsys):
    from noiseloss.analysis.profile import metrics_of

    out, code = tiny
    assert code == 0
    table = pd.read_csv(out / "audit.csv")
    metrics = [*metrics_of("clip"), *metrics_of("probe")]
    assert "mean_loss" in metrics and "planted_rises" in metrics
    assert table["metric"].unique().tolist() == metrics
    assert table["family"].unique().tolist() == AUDIO_FAMILIES
    assert len(table) == len(metrics) * len(AUDIO_FAMILIES)
    assert (table["n_clean"] <= 2).all() and (table["n_damaged"] <= 6).all()  # NaN left out
    counts = table[table["metric"] == "mean_loss"]
    assert ((counts["n_clean"] == 2) & (counts["n_damaged"] == 6)).all()
    measured = table[~table["metric"].str.startswith("planted")]
    assert measured["auroc"].between(0, 1).all() and measured["spearman"].between(-1, 1).all()
    severity = pd.read_csv(out / "severity.csv")
    ladders = severity.groupby(["metric", "family"])["severity"].apply(list)
    assert len(ladders) == len(table) and all(v == [0, 1, 2, 3] for v in ladders)
    assert severity["family"].unique().tolist() == AUDIO_FAMILIES
    # the planted metrics: noticed everywhere, and flagged as moving the wrong way everywhere
    planted = table.set_index(["metric", "family"])
    assert (planted.loc["planted_rises", "verdict"] == "notices").all()
    assert (planted.loc["planted_falls", "verdict"] == "wrong way").all()
    assert planted.loc["planted_falls", "wrong_way"].all()
    # the manifest names the files the audit wrote: 2 clips x (1 + 7 families x 3 severities)
    manifest = pd.read_csv(out / "manifest.csv")
    assert list(manifest.columns) == ["file", "item", "family", "severity", "level", "parameter"]
    assert len(manifest) == 2 * 22 and all((out / f).is_file() for f in manifest["file"])
    noise = manifest[manifest["family"] == "noise"]
    assert noise["level"].tolist() == [-30.0, -20.0, -10.0] * 2
    page = (out / "audit.html").read_text()
    assert "planted_falls: notices 0 of 7 families; moves the wrong way under noise" in page
    assert 'src="audit.png"' in page and (out / "audit.png").is_file()
    assert pd.read_parquet(out / "audit.parquet").shape == table.shape


def test_external_scores_come_in_with_their_direction(tiny, tmp_path):
    out, _ = tiny
    manifest = pd.read_csv(out / "manifest.csv")
    scores = pd.DataFrame({"file": manifest["file"].str.rsplit("/", n=1).str[-1],  # base names
                           "quality": 5.0 - manifest["severity"],  # higher = better
                           "distortion": manifest["severity"] * 0.1})  # higher = worse
    path = tmp_path / "scores.csv"
    scores.drop(index=1).to_csv(path, index=False)  # a damaged file without a score
    code = main(["audit", "demo:ood", "--model", "demo", "--out", str(out), "--tiny",
                 "--scores", str(path), "--higher-is-worse", "distortion"])
    assert code == 0
    table = pd.read_csv(out / "audit.csv").set_index(["metric", "family"])
    for metric, degraded in (("quality", "lower"), ("distortion", "higher")):
        rows = table.loc[metric]
        assert (rows["degraded"] == degraded).all()
        assert (rows["verdict"] == "notices").all() and (rows["auroc"] == 1.0).all()
        assert (rows["spearman"] > 0.9).all()
    assert table.loc["quality", "n_damaged"].min() == 5  # the file without a score: left out


def test_bad_input_is_refused_with_exit_2(tiny, tmp_path, capsys):
    out, _ = tiny
    assert main(["audit", str(tmp_path / "missing"), "--out", str(tmp_path / "o"),
                 "--tiny"]) == 2
    assert "source not found" in capsys.readouterr().err
    no_file = tmp_path / "no_file.csv"
    pd.DataFrame({"name": ["a.ogg"], "quality": [1.0]}).to_csv(no_file, index=False)
    unknown = tmp_path / "unknown.csv"
    pd.DataFrame({"file": ["nowhere.ogg"], "quality": [1.0]}).to_csv(unknown, index=False)
    for path, message in ((no_file, "must have a 'file' column"),
                          (unknown, "not in the audit's manifest")):
        assert main(["audit", "demo:ood", "--out", str(out), "--tiny", "--scores",
                     str(path)]) == 2
        assert message in capsys.readouterr().err
    assert main(["audit", "demo:ood", "--out", str(out), "--tiny", "--family", "wah"]) == 2
    assert "families must name damage families" in capsys.readouterr().err


def _melody(pitches, *, step: float) -> pretty_midi.PrettyMIDI:
    score = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=80, pitch=int(p), start=step * i,
                                    end=step * i + 0.8 * step) for i, p in enumerate(pitches)]
    score.instruments.append(piano)
    return score


def test_a_symbolic_audit_on_ppm_scores_the_midi_files_it_writes(tmp_path):
    """Six score families on MIDI files written here; the files the audit writes are the
    ones the battery scored (ppm's loss of each file equals the battery's, unit by unit), and
    every file gets its probes (random notes), so the probe metrics are audited too."""
    from noiseloss.analysis.run import read_results
    from noiseloss.auditing import AuditOptions, audit

    corpus, sources = tmp_path / "corpus", tmp_path / "pieces"
    for folder, count, seed in ((corpus, 3, 10), (sources, 4, 20)):
        folder.mkdir()
        for i in range(count):
            walk = np.clip(60 + np.cumsum(np.random.default_rng(seed + i).choice(
                [-2, -1, 1, 2], size=48)), 45, 85)
            _melody(walk, step=0.25).write(str(folder / f"{i}.mid"))
    result = audit([str(sources)], model="ppm", model_options={"corpus": str(corpus)},
                   out_dir=tmp_path / "out", options=AuditOptions(excerpt_seconds=9.0, probes=2,
                                                                  resamples=100), page=False)
    assert not result.failed
    families = ["note-noise", "shuffle", "tempo-warp", "loop", "transpose", "note-delete"]
    assert result.table["family"].unique().tolist() == families
    assert len(result.manifest) == 4 * 19
    assert result.manifest["file"].str.endswith(".mid").all()
    rows = result.table.set_index("metric")
    assert rows.loc["mean_loss", "auroc"].notna().all()
    assert rows.loc["probe_peak", "auroc"].notna().all()
    assert rows.loc["probe_after", "auroc"].notna().all()
    battery = read_results(tmp_path / "out" / "battery")
    profiled = pd.read_csv(tmp_path / "out" / "profile" / "clips.csv")
    assert (profiled["n_probes"] == 2).all()
    probes = read_results(tmp_path / "out" / "profile" / "run")
    probes = probes[probes["kind"] != "clean"]
    assert set(probes["kind"]) == {"note-noise"} and len(probes) == 2 * len(profiled)
    loss = dict(zip(profiled["item"].str[:20], profiled["mean_loss"], strict=True))
    frames = dict(zip(profiled["item"].str[:20], profiled["frames"], strict=True))
    assert len(loss) == len(battery)
    for unit in battery[battery["kind"] != "tempo-warp"].itertuples():
        # (a tempo warp's off-grid times move to the MIDI file's ticks, and a stretched
        # excerpt is cut again at 9 s by the profile)
        assert frames[unit.key[:20]] == unit.num_frames
        assert loss[unit.key[:20]] == pytest.approx(unit.loss, rel=1e-5), unit.perturbation
