"""``noiseloss profile`` and ``noiseloss correlate`` end to end on the demo model."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from noiseloss.cli.main import main
from noiseloss.errors import ParameterError
from noiseloss.profiling import ProfileOptions, correlate, match_ratings, profile

XSS = "<img src=x onerror=alert(1)>"  # a file name cannot hold "/"


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """demo:generated plus a folder with a hostile file name, 6 s excerpts, 2 probes."""
    from noiseloss.demo.data import dataset_files

    root = tmp_path_factory.mktemp("profile")
    odd = root / "odd"
    odd.mkdir()
    shutil.copy(dataset_files("ood")[0], odd / f"{XSS}.ogg")
    out = root / "out"
    code = main(["profile", "demo:generated", str(odd), "--out", str(out), "--probes", "2",
                 "--excerpt-seconds", "6"])
    return out, code


def test_profile_ranks_every_clip_with_every_metric(profiled):
    out, code = profiled
    assert code == 0
    clips = pd.read_csv(out / "clips.csv")
    assert len(clips) == 16 and sorted(clips["dataset"].unique()) == ["generated", "odd"]
    assert clips["rank"].tolist() == list(range(1, 17))
    # ranked by probe_peak, lowest (most suspect) first
    assert clips["probe_peak"].is_monotonic_increasing
    assert (clips["n_probes"] == 2).all() and (clips["frames"] == 300).all()
    for column in ("mean_loss", "probe_peak", "probe_after", "excess_surprisal", "spike_rate",
                   "coarse_bump", "local_bump_z", "rate_confident_surprised",
                   "rate_uncertain_surprised"):
        assert clips[column].notna().all(), column
    assert ((clips["spike_rate"] >= 0) & (clips["spike_rate"] <= 1)).all()
    assert (clips["rate_confident_surprised"] + clips["rate_uncertain_surprised"] <= 1).all()
    # the probes hit the clip where the onsets say (the frame holding the onset sample)
    onsets = ProfileOptions(probes=2, excerpt_seconds=6.0).onset_fractions()
    results = pd.read_parquet(out / "run" / "results.parquet")
    probes = results[results["kind"] == "noise"]
    assert sorted(probes["onset_frame"].unique()) == [round(f * 6 * 32000) // 640
                                                      for f in onsets]
    spans = pd.read_csv(out / "spans.csv")
    assert (spans["end_s"] > spans["start_s"]).all() and (spans["end_s"] <= 6.0).all()


def test_clips_of_any_length_get_every_probe(tmp_path):
    """5 s and 10 s clips in a 15 s profile: each probed at the same fractions of its length;
    a 2 s clip is refused with the minimum named; the run lists the short clips."""
    import json

    import soundfile as sf

    from noiseloss.demo.data import dataset_files

    audio, rate = sf.read(dataset_files("ood")[0], dtype="float32")
    clips = tmp_path / "clips"
    clips.mkdir()
    for seconds in (2, 5, 10):
        sf.write(clips / f"c{seconds:02d}.wav", audio[: seconds * rate], rate)
    options = ProfileOptions(probes=3)
    result = profile([clips], model="demo", out_dir=tmp_path / "out", options=options,
                     page=False)
    assert sorted(result.clips["item"]) == ["c05.wav", "c10.wav"]
    assert (result.clips["n_probes"] == 3).all() and result.clips["probe_peak"].notna().all()
    (label, reason), = result.failed.items()
    assert "c02.wav" in label and "shorter than the 3 s" in reason
    results = pd.read_parquet(tmp_path / "out" / "run" / "results.parquet")
    fractions = options.onset_fractions()
    for seconds in (5, 10):
        probes = results[(results["item"] == f"c{seconds:02d}.wav") & (results["kind"] == "noise")]
        assert sorted(probes["onset_frame"]) == [round(f * seconds * 32000) // 640
                                                 for f in fractions]
    provenance = json.loads((tmp_path / "out" / "run" / "provenance.json").read_text())
    assert provenance["shorter_than_excerpt"] == {"demo clips/c05.wav": 5.0,
                                                  "demo clips/c10.wav": 10.0}


def test_profile_page_escapes_file_names(profiled):
    out, _ = profiled
    page = (out / "index.html").read_text()
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    plots = list((out / "plots").glob("clip-*.png"))
    assert len(plots) == 16 and len(list((out / "plots").glob("metrics-*.png"))) == 1
    assert all(f'src="plots/{p.name}"' in page for p in plots)


def test_profile_rerun_scores_nothing_and_gives_the_same_table(profiled, tmp_path):
    out, _ = profiled
    before = pd.read_parquet(out / "clips.parquet")
    sources = ["demo:generated", str(next((out.parent / "odd").iterdir()).parent)]
    result = profile(sources, out_dir=out, options=ProfileOptions(probes=2, excerpt_seconds=6.0),
                     page=False)
    pd.testing.assert_frame_equal(result.clips, before)
    assert (out / "run" / "results.parquet").is_file()


def test_built_in_sets_of_every_family_are_sources():
    from noiseloss.profiling import datasets_of

    specs = datasets_of(["demo:ood", "demo-midi:ood", "demo-midi:train"])
    assert [(s.name, s.source) for s in specs] == [
        ("ood", "demo:ood"), ("demo-midi-ood", "demo-midi:ood"),
        ("demo-midi-train", "demo-midi:train")]


def test_profile_refuses_bad_input(tmp_path):
    with pytest.raises(ParameterError, match="source not found: .*demo-midi:NAME"):
        profile([str(tmp_path / "missing")], out_dir=tmp_path / "o")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="exists and is not a folder"):
        profile(["demo:train"], out_dir=tmp_path / "file")
    with pytest.raises(ParameterError, match="no room for probes"):
        ProfileOptions(excerpt_seconds=3.0)
    with pytest.raises(ParameterError, match="rank_by"):
        ProfileOptions(rank_by="onset_sensitivity")  # a model-level metric


def _clip_folder(tmp_path, values):
    clips = pd.DataFrame({"model": "m", "dataset": "d",
                          "item": [f"sub/clip{i}.wav" for i in range(len(values))],
                          "probe_peak": values, "mean_loss": np.linspace(3, 2, len(values))})
    folder = tmp_path / "prof"
    folder.mkdir()
    clips.to_parquet(folder / "clips.parquet")
    return folder


def test_correlate_recovers_a_known_ranking_and_lists_unmatched(tmp_path):
    values = np.arange(12, dtype=float)
    systems = np.repeat(["a", "b", "c", "d"], 3)
    folder = _clip_folder(tmp_path, values)
    ratings = pd.DataFrame({"file": [f"clip{i}.wav" for i in range(12)] + ["ghost.wav"],
                            "rating": [*(2.0 * values + 1.0), 5.0],
                            "system": [*systems, "a"]})
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    result = correlate(folder, tmp_path / "ratings.csv", seed=0)
    assert result["unmatched"] == ["ghost.wav"] and result["matched"] == 12
    assert result["ambiguous"] == []
    table = result["table"].set_index(["level", "metric", "method"])
    for method in ("spearman", "pearson", "kendall"):
        assert table.loc[("clip", "probe_peak", method), "value"] == pytest.approx(1.0)
        assert table.loc[("clip", "mean_loss", method), "value"] == pytest.approx(-1.0)
        assert table.loc[("system", "probe_peak", method), "value"] == pytest.approx(1.0)
    assert table.loc[("clip", "probe_peak", "spearman"), "n"] == 12
    assert table.loc[("system", "probe_peak", "kendall"), "n"] == 4
    assert table.loc[("clip", "probe_peak", "spearman"), "expected"] == 1
    assert table.loc[("clip", "mean_loss", "spearman"), "expected"] == -1
    again = correlate(folder, ratings, seed=0)["table"]
    pd.testing.assert_frame_equal(again, result["table"])
    assert main(["correlate", str(folder), str(tmp_path / "ratings.csv"),
                 "--out", str(tmp_path / "c.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "c.csv")) == len(result["table"])


def test_five_systems_get_no_interval_but_the_reason(tmp_path, capsys):
    """5 systems: a bootstrap over 5 points gives [-1, +1] or NaN, so no interval is given;
    the correlation is, and one sentence says why its interval is not. 15 clips get both."""
    values = np.arange(15, dtype=float)
    folder = _clip_folder(tmp_path, values)
    pd.DataFrame({"file": [f"clip{i}.wav" for i in range(15)],
                  "rating": 2.0 * values + np.sin(values),
                  "system": np.repeat(list("abcde"), 3)}).to_csv(tmp_path / "r.csv", index=False)
    table = correlate(folder, tmp_path / "r.csv", seed=0)["table"]
    system, clip = table[table["level"] == "system"], table[table["level"] == "clip"]
    assert len(system) == 2 * 3 and (system["n"] == 5).all()
    assert system["value"].notna().all() and system[["ci_low", "ci_high"]].isna().all().all()
    assert set(system["note"]) == {"too few systems for an interval (has 5, needs ≥ 10)"}
    assert (clip["note"] == "").all() and clip[["ci_low", "ci_high"]].notna().all().all()
    assert main(["correlate", str(folder), str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().err
    assert "nan" not in out.lower() and "[-1.000, +1.000]" not in out
    assert out.count("too few systems for an interval") == 1
    rows = [line for line in out.splitlines() if line.startswith("system m ")]
    assert len(rows) == 6 and all("[" not in line for line in rows)


def test_ratings_match_by_item_name_or_stem_and_never_ambiguously():
    clips = pd.DataFrame({"model": "m", "item": ["a/x.wav", "b/x.wav", "a/y.wav"],
                          "probe_peak": [1.0, 2.0, 3.0]})
    ratings = pd.DataFrame({"file": ["a/x.wav", "x.wav", "y", "z.wav"], "rating": [1, 2, 3, 4]})
    joined, unmatched, ambiguous = match_ratings(clips, ratings)
    assert joined["item"].tolist() == ["a/x.wav", "a/y.wav"]
    assert unmatched == ["z.wav"] and ambiguous == ["x.wav"]  # x.wav names two clips


def test_a_listening_test_layout_joins_each_rating_to_one_clip():
    """One folder per system holding files of the same names: ``sysA/clip0.wav`` and
    ``sysB/clip0.wav`` are two clips, each rating joins one (n = ratings), a bare name is
    ambiguous."""
    clips = pd.DataFrame({"model": "m", "dataset": ["sysA", "sysA", "sysB", "sysB"],
                          "item": ["clip0.wav", "clip1.wav", "clip0.wav", "clip1.wav"],
                          "probe_peak": [1.0, 2.0, 3.0, 4.0]})
    ratings = pd.DataFrame({"file": ["sysA/clip0.wav", "sysB/clip0.wav", "sysA/clip1.wav",
                                     "sysB/clip1.wav", "./sysB/clip1.wav", "clip0.wav"],
                            "rating": [1, 2, 3, 4, 5, 6]})
    joined, unmatched, ambiguous = match_ratings(clips, ratings)
    assert len(joined) == 5 and unmatched == [] and ambiguous == ["clip0.wav"]
    assert joined[["dataset", "item", "rating"]].values.tolist() == [
        ["sysA", "clip0.wav", 1.0], ["sysB", "clip0.wav", 2.0], ["sysA", "clip1.wav", 3.0],
        ["sysB", "clip1.wav", 4.0], ["sysB", "clip1.wav", 5.0]]
    pd.testing.assert_series_equal(joined["probe_peak"], pd.Series([1.0, 3.0, 2.0, 4.0, 4.0],
                                                                    name="probe_peak"))


def test_correlate_refuses_bad_ratings(tmp_path):
    folder = _clip_folder(tmp_path, np.arange(4.0))
    (tmp_path / "r.csv").write_text("name,score\na,1\n")
    with pytest.raises(ParameterError, match="lacks the column"):
        correlate(folder, tmp_path / "r.csv")
    (tmp_path / "r.csv").write_text("file,rating\nclip0.wav,good\n")
    with pytest.raises(ParameterError, match="not a number.*clip0.wav"):
        correlate(folder, tmp_path / "r.csv")
    with pytest.raises(ParameterError, match="neither clips.parquet"):
        correlate(tmp_path / "r.csv", tmp_path / "r.csv")
    # one matched clip: every correlation is undefined (NaN), none is dropped
    table = correlate(folder, pd.DataFrame({"file": ["clip0.wav"], "rating": [1.0]}))["table"]
    assert len(table) == 2 * 3 and table["value"].isna().all() and (table["n"] == 1).all()
    assert set(table["note"]) == {"undefined: fewer than 3 clips (has 1)"}


def test_a_symbolic_model_is_probed_with_random_notes_at_the_same_fractions(tmp_path):
    """ppm on scores of 6 s and 12 s: every clip gets its 3 probes, each a note-noise span of
    ``score_probe_seconds`` starting at its onset fraction of the score's end; the probe
    metrics have values; the page says what the probes were."""
    import pretty_midi

    from noiseloss.analysis.run import read_results

    folders = {name: tmp_path / name for name in ("corpus", "pieces")}
    for name, folder in folders.items():
        folder.mkdir()
        for i, notes in enumerate((24, 48)):
            rng = np.random.default_rng(i + (10 if name == "corpus" else 20))
            walk = np.clip(60 + np.cumsum(rng.choice([-2, -1, 1, 2], size=notes)), 45, 85)
            score = pretty_midi.PrettyMIDI()
            piano = pretty_midi.Instrument(program=0)
            piano.notes = [pretty_midi.Note(velocity=80, pitch=int(p), start=0.25 * k,
                                            end=0.25 * k + 0.2) for k, p in enumerate(walk)]
            score.instruments.append(piano)
            score.write(str(folder / f"{i}.mid"))
    options = ProfileOptions(probes=3, score_probe_seconds=0.5)
    result = profile([str(folders["pieces"])], model="ppm",
                     model_options={"corpus": str(folders["corpus"])}, out_dir=tmp_path / "out",
                     options=options)
    assert (result.clips["n_probes"] == 3).all()
    assert result.clips[["probe_peak", "probe_after"]].notna().all().all()
    probes = read_results(tmp_path / "out" / "run")
    probes = probes[probes["kind"] == "note-noise"]
    ends = {"0.mid": 23 * 0.25 + 0.2, "1.mid": 47 * 0.25 + 0.2}  # the last note off
    for row in probes.itertuples():
        spec = json.loads(row.spec)
        assert spec["onset_fraction"] in options.onset_fractions()
        assert row.onset_seconds == pytest.approx(spec["onset_fraction"] * ends[row.item],
                                                  abs=0.26)  # the first event in the span
        assert row.length_frames >= 1
    assert "bursts of random notes (note-noise) of 0.5 s" in (
        tmp_path / "out" / "index.html").read_text()
