"""The experiment runner: config validation, failures, resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import yaml

from noiseloss.config import builtin_configs, load_config, parse_config
from noiseloss.errors import ConfigError
from noiseloss.runner.run import run_experiment


def base_config(model_dir, data_dir, **over):
    raw = {
        "name": "tiny",
        "models": [str(model_dir)],
        "datasets": {"clips": {"path": str(data_dir), "glob": "*.wav"}},
        "excerpt": {"seconds": 1.0},
        "perturbations": [{"kind": "noise", "color": "white", "onset_frames": 10,
                           "level_db": -10.0, "level_ref": "signal",
                           "grid": {"length_frames": [2, 5, 10, 20]}},
                          {"kind": "token-random", "onset_frames": 10, "length_frames": 5}],
        "scoring": {"batch_size": 5},
    }
    raw.update(over)
    return raw


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "clips"
    folder.mkdir()
    t = np.arange(32000 + 5000) / 32000
    for i in range(6):
        tone = 0.3 * np.sin(2 * np.pi * (220 + 40 * i) * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(folder / f"clip{i}.wav", tone, 32000)
    return folder


def test_builtin_configs_parse_and_expand():
    names = builtin_configs()
    assert {"paper-noise", "paper-colors", "paper-shuffle", "midi-edits"} <= set(names)
    noise = load_config("paper-noise")
    specs = noise.perturbation_specs()
    assert [s["length_frames"] for s in specs] == [5, 10, 50, 100, 150, 200]
    assert all(s["onset_frames"] == 250 and s["seed"] == 0 for s in specs)
    assert len(load_config("paper-colors").perturbation_specs()) == 10
    assert len(load_config("paper-shuffle").perturbation_specs()) == 10
    midi = load_config("midi-edits")
    assert [s["kind"] for s in midi.perturbation_specs()] == ["note-delete", "velocity", "tempo-warp"]


@pytest.mark.parametrize("change, message", [
    ({"modles": ["demo"]}, r"unknown key 'modles'; .* Did you mean 'models'\?"),
    ({"excerpt": {"seconds": -1}}, r"excerpt.seconds must be in \(0.0, 86400.0\], got -1"),
    ({"excerpt": {"offset_seconds": 1e308}}, r"excerpt.offset_seconds must be in \[0.0, 86400.0\]"),
    ({"seeds": [1.5]}, r"seeds must be a non-empty list of integers in \[0, 2\*\*63\)"),
    ({"seeds": [10**20]}, r"seeds must be a non-empty list of integers in \[0, 2\*\*63\)"),
    ({"scoring": {"alignment": "shifted"}}, r"scoring.alignment 'shifted' is not a layout of "
                                            r"models\[0\] .*; it has \['delayed', "
                                            r"'legacy-undelayed'\]"),
    ({"alignment": "delayed"}, r"config: unknown key 'alignment'"),
    ({"conditionings": [{"text": None}]}, "'conditionings' is now called 'prompts'"),
    ({"scoring": {"device": "gpu"}}, "scoring.device must be cpu, auto, mps, cuda or cuda:N"),
    ({"scoring": {"dtype": "float16"}}, "scoring.dtype 'float16' is only supported on GPU"),
    ({"analysis": {"detector": "zero-cross"}}, "Did you mean 'zero-crossing'"),
    ({"report": {"audio_examples": -1}}, r"report.audio_examples must be in \[0, inf\)"),
    ({"perturbations": [{"kind": "nosie"}]},
     r"perturbations\[0\]: unknown perturbation 'nosie'; .* Did you mean 'noise'\?"),
    ({"perturbations": [{"kind": "noise", "grid": {"length_frames": 5}}]}, "non-empty lists"),
    ({"perturbations": [{"kind": "noise", "onset_frames": 1, "grid": {"lenght_frames": [5]}}]},
     r"perturbations\[0\]: unknown parameter\(s\) \['lenght_frames'\] for kind 'noise'"),
    ({"perturbations": [{"kind": "token-random", "length_frames": 5}]},
     r"perturbations\[0\]: missing parameter\(s\) \['onset_frames'\] for kind 'token-random'"),
    ({"scoring": {"batch_size": 0}}, r"scoring.batch_size must be in \[1, inf\), got 0"),
    ({"datasets": {"x": {"path": "a", "music21": ["b"]}}}, "exactly one of source/path/music21"),
])
def test_config_errors_name_the_key(change, message, tmp_path):
    raw = base_config(tmp_path, tmp_path)
    raw.update(change)
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


@pytest.mark.parametrize("text, message", [
    ("name: a\nname: b\n", "line 2: duplicate key 'name'"),
    ("models: [demo]\ndatasets: {x: {path: a}, x: {path: b}}\n", "line 2: duplicate key 'x'"),
    ("a: &a [1, 2]\nb: *a\n", r"line 2: YAML aliases \(\*a\) are not allowed"),
    ("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b, *b]\n", "YAML aliases"),
    ("models: [demo\n", "invalid YAML"),
])
def test_config_files_refuse_duplicates_aliases_and_bad_yaml(text, message, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_config_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match="cannot read the config as UTF-8 text"):
        load_config(path)


def test_run_skips_an_unreadable_file_and_scores_the_others(tmp_path, tiny_model_dir, data_dir):
    (data_dir / "broken.wav").write_bytes(b"not a wav file at all")
    (data_dir / "broken.mid").write_bytes(b"MThd not a midi file")
    cfg = parse_config(base_config(tiny_model_dir, data_dir,
                                   datasets={"clips": {"path": str(data_dir), "glob": "*"}}))
    summary = run_experiment(cfg, tmp_path / "run")
    assert sorted(summary.failed) == ["clips/broken.mid", "clips/broken.wav"]
    assert "cannot read audio" in summary.failed["clips/broken.wav"]
    assert "cannot read MIDI" in summary.failed["clips/broken.mid"]
    table = pq.read_table(tmp_path / "run" / "results.parquet").to_pandas()
    assert summary.done == len(table) == 6 * 6
    assert sorted(table["item"].unique()) == [f"clip{i}.wav" for i in range(6)]
    clean = table[table["kind"] == "clean"]
    noisy = table[table["kind"] == "noise"]
    assert len(clean) == 6 and clean["onset_frame"].isna().all()
    assert sorted(noisy["length_frames"].unique()) == [2, 5, 10, 20]
    assert (noisy["onset_frame"] == 10).all()
    assert (table["num_frames"] == 50).all() and (table["nll"].map(len) == 200).all()
    # Before the span the perturbed curve equals the clean one bit for bit: the audio is identical
    # there (noise: minus the codec's look-ahead) and the scorer is causal; token edits show up
    # exactly 2 frames early in codebook 3 (delay pattern), never earlier.
    for _, row in table[table["kind"] != "clean"].iterrows():
        base = clean[clean["item"] == row["item"]].iloc[0]
        a = np.asarray(row["nll"]).reshape(4, 50)
        b = np.asarray(base["nll"]).reshape(4, 50)
        assert np.isfinite(a).all()
        np.testing.assert_array_equal(a[:, :7], b[:, :7])
        if row["kind"] == "token-random":
            np.testing.assert_array_equal(a[:, :8], b[:, :8])
            assert a[0, 10] != b[0, 10]
    # rerun: nothing recomputed
    again = run_experiment(cfg, tmp_path / "run")
    assert again.done == 0 and again.skipped == 36


def test_a_run_stores_each_variants_kl_and_its_context_memory(tmp_path, tiny_model_dir,
                                                              data_dir):
    """Every variant (all keep their clean unit's length here) gets its KL from the clean
    unit: exactly 0 where both see the same context (the tiny codec gives the noise variants
    their clean codes), positive over the token edit (from 2 frames early: the delay pattern);
    the run's tau_half and tau_mem are ``context_memory`` of those curves."""
    from noiseloss.analysis.memory import context_memory
    from noiseloss.analysis.run import analyze_results, read_results

    run_experiment(parse_config(base_config(tiny_model_dir, data_dir)), tmp_path / "run")
    results = read_results(tmp_path / "run")
    assert results.loc[results["kind"] == "clean", "kl"].isna().all()
    variants = results[results["kind"] != "clean"]
    assert len(variants) == 30 and (variants["kl"].map(len) == 50).all()
    edits = variants[variants["kind"] == "token-random"]
    for kl in edits["kl"]:
        assert np.all(kl[:8] == 0) and np.all(kl[8:15] > 0)
    model = analyze_results(results)["profile_model"]
    rows = model[model["family"].str.startswith("token-random")].set_index("metric")
    expected = context_memory([np.asarray(k)[None] for k in edits["kl"]], [15] * len(edits),
                              frame_rate=50.0)
    for metric in ("tau_half", "tau_mem"):
        assert rows.loc[metric, "value"] == pytest.approx(expected[f"{metric}_s"], nan_ok=True)
    assert np.isfinite(rows.loc["tau_half", "value"])


def _run_cli(cfg_path, out):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "noiseloss.cli.main", "run", str(cfg_path),
                             "--out", str(out), "--no-report"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_resume_after_sigkill_gives_the_uninterrupted_store(tmp_path, tiny_model_dir, data_dir):
    """Each run is killed right after it stored one more group (an observable event, not a
    time), so every kill lands mid-run whatever the machine's speed."""
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(base_config(tiny_model_dir, data_dir)))
    ref = _run_cli(cfg_path, tmp_path / "ref")
    assert ref.wait(timeout=300) == 0, ref.stderr.read().decode()
    out = tmp_path / "killed"
    killed = 0
    for _ in range(5):  # 6 groups (clips): the last one is left for the final run
        before = len(list((out / "store").glob("part-*.parquet")))
        proc = _run_cli(cfg_path, out)
        while proc.poll() is None and len(list((out / "store").glob("part-*.parquet"))) <= before:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        killed += proc.wait(timeout=60) == -signal.SIGKILL
    assert killed == 5
    final = _run_cli(cfg_path, out)
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()
    a = pq.read_table(tmp_path / "ref" / "results.parquet")
    b = pq.read_table(out / "results.parquet")
    assert a.num_rows == b.num_rows == 36
    # no unit was stored twice
    stored = [k for part in sorted((out / "store").glob("part-*.parquet"))
              for k in pq.read_table(part, columns=["key"]).column("key").to_pylist()]
    assert len(stored) == len(set(stored)) == 36
    assert a.drop(["audio"]).equals(b.drop(["audio"]))


def test_midi_items_are_keyed_by_their_renderer_too(tmp_path, monkeypatch):
    import hashlib

    from noiseloss.sources import midi
    from noiseloss.sources.datasets import Item

    score = tmp_path / "a.mid"
    score.write_bytes(b"MThd-bytes")
    audio = Item("d", "a.wav", "audio", str(score))
    symbolic = Item("d", "a.mid", "midi", str(score))
    assert audio.content_hash() == hashlib.sha256(b"MThd-bytes").hexdigest()
    first = symbolic.content_hash()
    assert first != audio.content_hash() and symbolic.content_hash() == first
    monkeypatch.setattr(midi, "RENDER_VERSION", midi.RENDER_VERSION + 1)
    midi.renderer_identity.cache_clear()
    try:
        assert symbolic.content_hash() != first
    finally:
        midi.renderer_identity.cache_clear()


def test_the_next_group_is_prepared_while_one_scores(tmp_path, tiny_model_dir, data_dir,
                                                    monkeypatch):
    """While group i scores, the preparation of group i + 1 has begun (observed, not timed:
    without the overlap each wait below would run out)."""
    import threading

    from noiseloss.runner import run as runner

    order = [f"clips/clip{i}.wav" for i in range(6)]
    entered = {label: threading.Event() for label in order}
    real_prepare, real_score = runner.prepare_group, runner.score_pack

    def prepare(group, *args, **kwargs):
        entered[group.label].set()
        return real_prepare(group, *args, **kwargs)

    overlapped = []

    def score(groups, *args, **kwargs):  # packs of one group: 6 units, batches of 4
        following = order.index(groups[0].label) + 1
        if following < len(order):
            overlapped.append(entered[order[following]].wait(timeout=120))
        return real_score(groups, *args, **kwargs)

    monkeypatch.setattr(runner, "prepare_group", prepare)
    monkeypatch.setattr(runner, "score_pack", score)
    from noiseloss.runner.run import LocalExecutor

    summary = run_experiment(parse_config(base_config(tiny_model_dir, data_dir)), tmp_path / "run",
                             executor=LocalExecutor(prefetch=True))
    assert overlapped == [True] * 5 and summary.done == 36 and not summary.failed


def test_packs_hold_whole_groups_of_one_model_and_prompt():
    from noiseloss.config import Prompt
    from noiseloss.runner.run import Group, Work, packs

    plain, text = Prompt(), Prompt(text="jazz")

    def work(model, prompt, units, name):
        todo = tuple((f"{name}-{u}", None) for u in range(units))
        return Work(Group(model, name, "hash", prompt, todo), todo, save_audio=False)

    queue = [work("a", plain, 3, "g0"), work("a", text, 3, "g1"), work("a", plain, 4, "g2"),
             work("a", plain, 2, "g3"), work("b", plain, 9, "g4"), work("a", text, 3, "g5")]
    names = [[w.group.item for w in pack] for pack in packs(queue, capacity={"a": 7, "b": 4})]
    # a pack leaves when the next group would overflow it; then the open ones, by key
    assert names == [["g0", "g2"], ["g3"], ["g1", "g5"], ["g4"]]


def test_packed_groups_score_as_they_do_alone(tmp_path, tiny_model_dir, data_dir, monkeypatch):
    """Batches of 12 hold two groups of 6 units: the NLL of every unit within 1e-4 of
    batches of 5 that hold one group, and nothing missing."""
    from noiseloss.runner import run as runner

    sizes, real_score = [], runner.score_pack

    def score(groups, *args):
        sizes.append(len(groups))
        return real_score(groups, *args)

    monkeypatch.setattr(runner, "score_pack", score)
    alone = run_experiment(parse_config(base_config(tiny_model_dir, data_dir)), tmp_path / "a")
    assert sizes == [1] * 6
    packed = run_experiment(parse_config(base_config(tiny_model_dir, data_dir,
                                                     scoring={"batch_size": 12})),
                            tmp_path / "b")
    assert sizes[6:] == [2] * 3
    assert alone.done == packed.done == 36 and not packed.failed
    a = pq.read_table(tmp_path / "a" / "results.parquet").to_pandas().set_index("key")
    b = pq.read_table(tmp_path / "b" / "results.parquet").to_pandas().set_index("key")
    assert sorted(a.index) == sorted(b.index)
    for key in a.index:
        np.testing.assert_allclose(b.loc[key, "nll"], a.loc[key, "nll"], atol=1e-4,
                                   equal_nan=True)


def test_a_scoring_error_in_a_pack_fails_its_own_group_only():
    from noiseloss.config import Prompt
    from noiseloss.errors import ParameterError
    from noiseloss.runner.run import Group, Prepared, score_pack

    class Scorer:
        def score_codes(self, codes, **options):
            if any(c.shape[1] == 3 for c in codes):
                raise ParameterError("too short")
            return [c.shape[1] for c in codes]

    def group(name, frames):
        return Group("m", SimpleNamespace(dataset="d", item_id=name), "h", Prompt(), ()), [
            Prepared(f"{name}{i}", None, np.zeros((1, n)), None) for i, n in enumerate(frames)]

    (g0, p0), (g1, p1), (g2, p2) = group("x", [5, 6]), group("y", [3, 4]), group("z", [7])
    failed = [{}, {}, {}]
    assert score_pack([g0, g1, g2], [p0, p1, p2], Scorer(), failed) == [[5, 6], [], [7]]
    assert failed == [{}, {"d/y [clean]": "too short"}, {}]


def test_a_store_written_before_the_time_axis_resumes_and_gets_its_times(tmp_path,
                                                                          tiny_model_dir,
                                                                          data_dir):
    """Parts without the time columns (the release before them) are stored units: nothing is
    rescored, and the analysis derives times and spans in seconds from the frames."""
    import pyarrow.parquet as pq

    from noiseloss.analysis import analyze_run
    from noiseloss.analysis.run import read_results

    cfg = parse_config(base_config(tiny_model_dir, data_dir))
    run_experiment(cfg, tmp_path / "run")
    new = read_results(tmp_path / "run")
    added = ["modality", "time_s", "duration_seconds", "onset_seconds", "length_seconds"]
    for part in (tmp_path / "run" / "store").glob("part-*.parquet"):
        pq.write_table(pq.read_table(part).drop_columns(added), part)
    again = run_experiment(cfg, tmp_path / "run")
    assert again.done == 0 and again.skipped == 36
    old = read_results(tmp_path / "run")
    assert (old["modality"] == "audio").all()
    for (_, a), (_, b) in zip(new.iterrows(), old.iterrows(), strict=True):
        np.testing.assert_array_equal(a["time_s"], np.arange(50) / 50.0)
        np.testing.assert_array_equal(a["time_s"], b["time_s"])
        assert a["duration_seconds"] == b["duration_seconds"] == 1.0
        if a["kind"] != "clean":  # spans of frame-aligned edits: frames / 50 exactly
            assert a["onset_seconds"] == b["onset_seconds"] == 10 / 50
            assert a["length_seconds"] == b["length_seconds"] == a["length_frames"] / 50
    regions = analyze_run(tmp_path / "run")["regions"]
    measured = regions.dropna(subset=["start_frame"])
    assert not measured.empty
    np.testing.assert_allclose(measured["start_seconds"], measured["start_frame"] / 50.0)


def test_a_refused_run_leaves_no_folder(tmp_path):
    """A run refused before any work (a text prompt for a model without text conditioning)
    exits with the key at fault and leaves no run folder behind."""
    cfg = parse_config({"models": ["demo"], "datasets": {"d": {"source": "demo:train"}},
                        "prompts": [{"text": "calm piano"}]})
    with pytest.raises(ConfigError, match=r"prompts\[0\].text: model 'demo' has no text "
                                          r"conditioning"):
        run_experiment(cfg, tmp_path / "new" / "run")
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError):
        run_experiment(cfg, kept)
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
