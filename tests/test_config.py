"""One home per fact: config round trips, shared defaults, one message per typo, one pipeline."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from conftest import write_tones
from noiseloss.analysis import DetectorOptions
from noiseloss.cli.main import main
from noiseloss.config import builtin_configs, load_config, parse_config
from noiseloss.errors import ConfigError, ParameterError
from noiseloss.scoring.options import ScoringOptions

SR = 32000


@pytest.mark.parametrize("name", sorted(builtin_configs()))
def test_the_written_config_reads_back_equal(name, tmp_path):
    config = load_config(name)
    (tmp_path / "config.yaml").write_text(config.to_yaml())  # what the runner writes
    assert load_config(tmp_path / "config.yaml") == config
    assert parse_config(config.to_dict()) == config
    assert builtin_configs()[name] == config.description != ""
    shared = [1, 2]  # one list object in two places: written out twice, read back equal
    raw = {"models": ["demo"], "datasets": {"d": {"path": "x"}},
           "perturbations": [{"kind": "noise", "onset_frames": 5, "grid": {"length_frames": shared}},
                             {"kind": "swap", "onset_frames": 5, "grid": {"block_frames": shared}}]}
    (tmp_path / "shared.yaml").write_text(parse_config(raw).to_yaml())
    assert load_config(tmp_path / "shared.yaml") == parse_config(raw)


def test_configs_command_lists_the_builtin_experiments(capsys):
    assert main(["configs"]) == 0
    lines = dict(line.split("\t", 1) for line in capsys.readouterr().out.splitlines())
    assert lines == builtin_configs()


def test_defaults_have_one_home():
    """CLI flags show the option objects' defaults; None leaves the choice to the model."""
    from noiseloss.cli.analyze import analyze
    from noiseloss.cli.score import score

    flags = {p.name: p for p in score.params}
    scoring = ScoringOptions()
    for name in ("alignment", "device", "dtype", "batch_size", "window_frames", "stride_frames"):
        assert flags[name].default == getattr(scoring, name), name
    assert scoring.batch_size is scoring.window_frames is scoring.stride_frames is None
    help_text = {p.name: p.help for p in analyze.params}
    detector = DetectorOptions()
    for name in ("detector", "smooth_frames", "run_frames", "peak_window_frames"):
        assert f"else {getattr(detector, name)}]" in help_text[name], name
    assert load_config("paper-noise").analysis == detector


def test_models_declare_their_windows_without_loading_weights(tiny_model_dir):
    from noiseloss.models import model_info

    demo, musicgen = model_info("demo"), model_info(str(tiny_model_dir))
    assert (demo.window_frames, demo.stride_frames) == (750, 375)
    assert (musicgen.window_frames, musicgen.stride_frames) == (1500, 750)
    resolved = demo.resolve(ScoringOptions(stride_frames=300))
    assert (resolved.window_frames, resolved.stride_frames, resolved.batch_size) == (750, 300, 8)
    # a window alone: the model's stride while it fits, else half the window
    for window, stride in ((500, 375), (375, 375), (100, 50), (1, 1)):
        resolved = demo.resolve(ScoringOptions(window_frames=window))
        assert (resolved.window_frames, resolved.stride_frames) == (window, stride)
    assert set(demo.identity) == {"model_id", "source", "weights_sha256", "tokenizer_sha256"}
    assert musicgen.identity["source"] == "directory" and len(musicgen.identity["weights_sha256"]) == 64


def test_a_kind_typo_gives_one_message_from_api_cli_and_config(tmp_path, capsys):
    from noiseloss.perturb import perturb

    with pytest.raises(ParameterError) as api:
        perturb(np.zeros(6400, np.float32), {"kind": "nosie"}, sample_rate=SR, hop_length=640)
    message = str(api.value)
    assert message.startswith("unknown perturbation 'nosie'; registered: [")
    assert message.endswith("Did you mean 'noise'?")
    sf.write(tmp_path / "a.wav", np.zeros(SR, np.float32), SR)
    assert main(["perturb", str(tmp_path / "a.wav"), "--kind", "nosie", "--out",
                 str(tmp_path / "b.wav")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"
    raw = {"models": ["demo"], "datasets": {"d": {"path": "x"}}, "perturbations": [{"kind": "nosie"}]}
    with pytest.raises(ConfigError) as config:
        parse_config(raw)
    assert str(config.value) == f"perturbations[0]: {message}"


def test_device_and_dtype_are_checked_when_the_config_is_read():
    raw = {"models": ["no/such-model"], "datasets": {"d": {"path": "nowhere"}}}
    with pytest.raises(ConfigError, match="scoring.device must be cpu, auto, mps, cuda or cuda:N"):
        parse_config({**raw, "scoring": {"device": "cuda:x"}})
    with pytest.raises(ConfigError, match="scoring.dtype must be one of"):
        parse_config({**raw, "scoring": {"dtype": "float8"}})
    assert parse_config({**raw, "scoring": {"device": "cuda:1", "dtype": "bfloat16"}})


@pytest.fixture
def clips(tmp_path):
    return write_tones(tmp_path / "clips", count=6, seconds=2.0, base_hz=200, step_hz=30,
                       amplitude=0.2, seed=3)


def test_the_run_folder_config_reruns_the_experiment(tmp_path, tiny_model_dir, clips, monkeypatch):
    from noiseloss import models, run_pipeline

    config = parse_config({
        "name": "five", "models": [str(tiny_model_dir)],
        "datasets": {"clips": {"path": str(clips)}}, "excerpt": {"seconds": 1.0},
        "perturbations": [{"kind": "noise", "onset_frames": 20, "level_db": -10.0,
                           "level_ref": "signal", "grid": {"length_frames": [5, 10]}}],
        "analysis": {"smooth_frames": 3}, "report": {"audio_examples": 5}})
    run_dir = tmp_path / "run"
    result = run_pipeline(config, run_dir)
    assert result.summary.done == 18 and not result.summary.failed
    assert load_config(run_dir / "config.yaml") == config
    # the report shows the 5 examples the config asked for (one original player each)
    html = result.report.read_text()
    assert html.count("<article class=\"example\"") == 5 and html.count("<audio") == 5 * 3
    # the tables record the config's analysis options
    index = json.loads((run_dir / "tables" / "index.json").read_text())
    assert index["options"]["smooth_frames"] == 3
    # rerun from the folder's own config: nothing scored, and no weights loaded
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("weights loaded"))
    assert main(["run", str(run_dir / "config.yaml"), "--out", str(run_dir), "--no-report"]) == 0
    again = run_pipeline(run_dir / "config.yaml", run_dir, report=False)
    assert again.summary.done == 0 and again.summary.skipped == 18


@pytest.mark.parametrize("model", ["demo", "tiny"])
def test_score_and_run_agree_on_a_40_s_clip(model, tmp_path, tiny_model_dir):
    """Both commands take the model's windows (demo: 750/375, MusicGen: 1500/750 frames)."""
    name = "demo" if model == "demo" else str(tiny_model_dir)
    rng = np.random.default_rng(0)
    t = np.arange(40 * SR) / SR
    clip = 0.3 * np.sin(2 * np.pi * 330 * t * (1 + 0.1 * np.sin(t))) + 0.03 * rng.standard_normal(t.size)
    folder = tmp_path / "data"
    folder.mkdir()
    sf.write(folder / "long.wav", clip.astype(np.float32), SR)
    assert main(["score", str(folder / "long.wav"), "--model", name, "--out",
                 str(tmp_path / "score")]) == 0
    table = pq.read_table(tmp_path / "score" / "nll.parquet").to_pandas()
    frames = table["frame"].max() + 1
    assert frames == 2000
    scored = np.full((4, frames), np.nan, np.float32)
    scored[table["codebook"], table["frame"]] = table["nll"]
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({"name": "long", "models": [name],
                                  "datasets": {"d": {"path": str(folder)}},
                                  "excerpt": {"seconds": None}}))
    assert main(["run", str(config), "--out", str(tmp_path / "run"), "--no-report"]) == 0
    row = pq.read_table(tmp_path / "run" / "results.parquet").to_pylist()[0]
    np.testing.assert_allclose(np.asarray(row["nll"]).reshape(4, frames), scored, atol=1e-5)
    provenance = json.loads((tmp_path / "score" / "provenance.json").read_text())
    assert provenance["model"]["window_frames"] == (750 if model == "demo" else 1500)


def test_stores_of_version_1_are_read_as_the_current_version(tmp_path):
    from noiseloss.analysis import read_results
    from noiseloss.store.io import write_parquet
    from noiseloss.store.results import ResultsStore, results_schema

    old = {"key": "k", "model": "m", "dataset": "d", "item": "a.wav", "condition": "clean",
           "kind": "clean", "spec": "null", "params": "{}", "onset_frame": None,
           "length_frames": None, "color": None, "level_db": None, "level_ref": None, "seed": None,
           "conditioning": "unconditional", "alignment": "delayed", "num_codebooks": 4,
           "num_frames": 2, "frame_rate": 50.0, "loss": 1.5, "nll": [1.5] * 8, "audio": None}
    write_parquet(pa.Table.from_pylist([old]), tmp_path / "store" / "part-old.parquet")
    store = ResultsStore(tmp_path)
    table = store.read()
    assert table.schema == results_schema()
    assert table.column("perturbation").to_pylist() == ["clean"]
    assert table.column("prompt").to_pylist() == ["unconditional"]
    store.consolidate()
    frame = read_results(tmp_path)
    assert frame.loc[0, "prompt"] == "unconditional" and frame.loc[0, "loss"] == 1.5
    write_parquet(pa.Table.from_pylist([{"key": "k"}]), tmp_path / "results.parquet")
    with pytest.raises(ParameterError, match="is not a noiseloss results table: it lacks"):
        read_results(tmp_path)


def test_noise_columns_come_from_the_recorded_parameters():
    from noiseloss.perturb import PERTURBATIONS, RESULT_COLUMNS
    from noiseloss.store.results import results_schema

    names = results_schema().names
    assert set(RESULT_COLUMNS) <= set(names)
    assert "condition" not in names and "conditioning" not in names
    for kind in PERTURBATIONS:
        assert set(PERTURBATIONS.get(kind).columns) <= set(RESULT_COLUMNS), kind
    assert PERTURBATIONS.get("noise").columns == ("color", "level_db", "level_ref")


def test_a_zero_guidance_scale_is_labelled_as_guided():
    from noiseloss.config import Prompt

    assert Prompt(text="x", guidance_scale=0.0).label != Prompt(text="x").label
    assert Prompt(text="x", guidance_scale=0.0).label == "text='x',cfg=0.0"
    config = parse_config({"models": ["demo"], "datasets": {"d": {"path": "x"}},
                           "prompts": [{"text": "x"}, {"text": "x", "guidance_scale": 0.0}]})
    assert len({p.label for p in config.prompts}) == 2


@pytest.mark.parametrize("name", sorted(builtin_configs()))
def test_configs_are_hashable_and_immutable(name):
    import dataclasses

    config = load_config(name)
    text = config.to_yaml()
    again = load_config(name)
    assert hash(config) == hash(again) and {config: 1}[again] == 1
    assert parse_config(config.to_dict()) == config
    assert hash(parse_config(config.to_dict())) == hash(config)
    assert config.to_yaml() == text == parse_config(config.to_dict()).to_yaml()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.perturbations = ()
    if config.perturbations:
        entry = config.perturbations[0]
        with pytest.raises(TypeError):
            entry["kind"] = "swap"
        assert entry.get("kind") and isinstance(config.to_dict()["perturbations"][0], dict)
        assert hash(dataclasses.replace(config, perturbations=config.perturbations)) == hash(config)
    assert config.perturbation_specs() == again.perturbation_specs()


def test_model_options_and_perturbation_grids_are_frozen_yet_read_back_as_plain_data():
    from noiseloss.config import ModelSpec

    raw = {"models": ["demo", {"name": "m", "backend": "yue-s2", "codec": "c",
                               "extra": [1, {"a": [2]}]}],
           "datasets": {"d": {"path": "x"}, "e": {"music21": ["bach/bwv66.6"]}},
           "perturbations": [{"kind": "noise", "onset_frames": 5,
                              "grid": {"length_frames": [1, 2]}}]}
    config = parse_config(raw)
    hash(config)
    spec = config.models[1]
    assert spec.options["codec"] == "c" and dict(**spec.options)["codec"] == "c"
    with pytest.raises(TypeError):
        spec.options["codec"] = "other"
    data = spec.to_data()
    assert data == {"name": "m", "backend": "yue-s2", "codec": "c", "extra": [1, {"a": [2]}]}
    assert type(data["extra"]) is list and type(data["extra"][1]) is dict
    assert config.to_dict()["perturbations"] == raw["perturbations"]
    assert type(config.to_dict()["perturbations"][0]["grid"]["length_frames"]) is list
    assert [s["length_frames"] for s in config.perturbation_specs()] == [1, 2]
    assert hash(ModelSpec("m", "yue-s2", {"b": 1, "a": 2})) == hash(ModelSpec("m", "yue-s2",
                                                                              {"a": 2, "b": 1}))
    assert parse_config(config.to_dict()) == config


def test_the_readme_example_config_is_valid():
    """The YAML example of the README parses (the data and the checkpoint are the user's)."""
    import re
    from pathlib import Path

    import yaml

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
                 if b.startswith("name: my-experiment"))
    config = parse_config(yaml.safe_load(block))
    assert [p.label for p in config.prompts] == ["unconditional", "text='calm piano'"]
    assert len(config.perturbation_specs()) == 2 * 3 * 2
