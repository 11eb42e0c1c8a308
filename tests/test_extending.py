"""docs/extending.md, followed verbatim: each recipe's code runs, then its extension is used."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "extending.md"


def recipe(title: str) -> str:
    """The Python code blocks of the section ``## {title}`` of the guide, joined."""
    sections = re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.M)
    body = next(s for s in sections if s.startswith(title + "\n"))
    blocks = re.findall(r"```python\n(.*?)```", body, flags=re.S)
    assert blocks, title
    return "\n".join(blocks)


@pytest.fixture
def follow(monkeypatch):
    """Run a recipe; whatever it registers is forgotten after the test."""
    from noiseloss.analysis import DETECTORS, METRICS
    from noiseloss.analysis.profile import PROFILE_METRICS
    from noiseloss.models import MODELS
    from noiseloss.perturb import PERTURBATIONS

    for registry in (DETECTORS, METRICS, MODELS, PERTURBATIONS, PROFILE_METRICS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
        monkeypatch.setattr(registry, "_help", dict(registry._help))

    def run(title: str) -> dict:
        namespace = {"__name__": f"recipe_{title.split()[-1]}"}
        # dont_inherit: without this module's postponed annotations, as a user's module runs
        code = compile(recipe(title), str(DOC), "exec", dont_inherit=True)
        exec(code, namespace)  # noqa: S102 (our own docs)
        return namespace

    return run


def test_a_perturbation(follow):
    from noiseloss.config import parse_config
    from noiseloss.errors import ConfigError
    from noiseloss.perturb import perturb

    follow("A perturbation")
    audio = np.full(6400, 0.5, np.float32)
    out = perturb(audio, {"kind": "attenuate", "onset_frames": 2, "length_frames": 3,
                          "gain_db": -20.0}, sample_rate=32000, hop_length=640, seed=0)
    assert out.span_frames == (2, 3) and out.params["kind"] == "attenuate"
    np.testing.assert_allclose(out.data[1280:3200], 0.05, rtol=1e-6)
    np.testing.assert_array_equal(out.data[:1280], audio[:1280])
    config = parse_config({"models": ["demo"], "datasets": {"d": {"path": "x"}},
                           "perturbations": [{"kind": "attenuate", "onset_frames": 250,
                                              "gain_db": -30,
                                              "grid": {"length_frames": [10, 100]}}]})
    assert [s["length_frames"] for s in config.perturbation_specs()] == [10, 100]
    with pytest.raises(ConfigError, match="gain_db must be a number, got 'loud'"):
        parse_config({"models": ["demo"], "datasets": {"d": {"path": "x"}},
                      "perturbations": [{"kind": "attenuate", "onset_frames": 250,
                                         "length_frames": 10, "gain_db": "loud"}]})


def test_a_region_detector(follow):
    from noiseloss.analysis import DetectorOptions, detect_regions

    follow("A region detector")
    delta = np.zeros(100)
    regions = detect_regions(delta, onset_frame=40, length_frames=20, lead_frames=2,
                             options=DetectorOptions(detector="span-only"))
    assert (regions.peak, regions.assimilation, regions.recovery) == ((40, 45), (45, 60), (60, 100))


def test_a_metric(follow, tmp_path):
    from noiseloss.analysis import analyze_run
    from noiseloss.figures import draw_all
    from test_analysis_run import LENGTHS, synthetic_results, write_store  # a known synthetic run

    follow("A metric tested against the perturbation length")
    write_store(tmp_path, synthetic_results())
    tables = analyze_run(tmp_path)
    tested = tables["stats_small"].set_index(["family", "metric"])
    new = tested.xs("mean_all_delta", level="metric")
    # no edit changes the length here, so the mean over all frames is the whole-item loss
    # difference: the same points, the same slopes
    old = tested.xs("loss_delta", level="metric").loc[new.index]
    assert len(new) >= 2 and new["n_points"].max() == len(LENGTHS)
    np.testing.assert_allclose(new["slope"], old["slope"], rtol=1e-6)
    drawn = draw_all(tmp_path, tables)
    assert drawn and all(p.stat().st_size > 5000 for p in drawn.values())


def test_a_model(follow):
    from noiseloss import load_model

    follow("A model")
    scorer = load_model("uniform")
    assert scorer.options.window_frames == 750
    audio = 0.1 * np.random.default_rng(0).standard_normal(32000 * 20).astype(np.float32)
    result = scorer.score(audio, sample_rate=32000)
    assert result.nll.shape == (4, 1000)
    np.testing.assert_allclose(result.nll, math.log(512), rtol=1e-6)
    np.testing.assert_allclose(result.entropy, math.log(512), rtol=1e-6)  # uniform: log V


# Each style of annotation: (source of the annotation, whether annotations are postponed).
ANNOTATION_STYLES = [("int", False), ("int | None", False), ("Optional[int]", False),
                     ("typing.Optional[int]", False), ("int", True), ("int | None", True),
                     ("Optional[int]", True), ("Union[int, None]", True)]


@pytest.mark.parametrize(("annotation", "postponed"), ANNOTATION_STYLES)
def test_spec_values_are_checked_whatever_the_annotation_style(follow, annotation, postponed):
    """A real type (a module without postponed annotations, like the recipe) and its string
    form are checked alike: ``int``, ``int | None``, ``Optional[int]``."""
    from noiseloss.errors import ParameterError
    from noiseloss.perturb import PERTURBATIONS, Perturbation, check_spec_values

    future = "from __future__ import annotations\n" if postponed else ""
    source = (f"{future}import typing\nfrom typing import Optional, Union\n"
              f"def edit(data, *, count: {annotation} = None, gain: float = 0.0,\n"
              f"         name: str = 'x', mode: 'str | None' = None, other: list = ()):\n"
              "    return data\n")
    namespace = {}
    exec(compile(source, "<edit>", "exec", dont_inherit=True), namespace)  # noqa: S102
    annotations = namespace["edit"].__annotations__
    assert isinstance(annotations["count"], str) == postponed
    PERTURBATIONS.register("annotated-edit", Perturbation("annotated-edit", "audio",
                                                          namespace["edit"], "test"))
    check_spec_values("annotated-edit", {"count": 3, "gain": 1, "name": "n", "mode": None,
                                         "other": "anything"})
    for params, message in [({"count": "3"}, "count must be a number"),
                            ({"count": 1.5}, "count must be an integer"),
                            ({"gain": "loud"}, "gain must be a number"),
                            ({"gain": float("nan")}, "gain must be a finite number"),
                            ({"name": 3}, "name must be a string"),
                            ({"mode": 3}, "mode must be a string")]:
        with pytest.raises(ParameterError, match=message):
            check_spec_values("annotated-edit", params)
    with pytest.raises(ParameterError, match="count must be an integer"):
        check_spec_values("annotated-edit", {}, grid={"count": [1, 2.5]})


def _pitch_cache_nll(pitches) -> np.ndarray:
    """The toy's NLL computed independently: ``-log((1 + count so far) / (128 + t))``."""
    out = []
    for t, pitch in enumerate(pitches):
        out.append(-math.log((1 + list(pitches[:t]).count(pitch)) / (128 + t)))
    return np.array(out)


def test_a_symbolic_model(follow, tmp_path):
    """The toy symbolic model scores a MIDI file's notes through ``noiseloss run``: clean and
    perturbed units, its NLL equal to an independent count, regions and spans in seconds."""
    import pandas as pd
    import pretty_midi
    import yaml
    from click.testing import CliRunner

    from noiseloss import load_model
    from noiseloss.cli.main import cli
    from noiseloss.config import parse_config
    from noiseloss.errors import ConfigError

    follow("A symbolic model")
    midi_path = Path(__file__).parent / "fixtures" / "midi" / "bwv66_6.mid"
    notes = sorted((n.start, n.pitch) for inst in pretty_midi.PrettyMIDI(str(midi_path)).instruments
                   for n in inst.notes)
    result = load_model("pitch-cache").score(midi_path)
    assert result.modality == "symbolic" and result.frame_rate is None
    np.testing.assert_array_equal(result.codes[0], [p for _, p in notes])
    np.testing.assert_allclose(result.axis.seconds, [s for s, _ in notes])
    np.testing.assert_allclose(result.nll[0], _pitch_cache_nll([p for _, p in notes]), atol=1e-5)

    config = {"name": "toy", "models": ["pitch-cache"],
              "datasets": {"bach": {"path": str(midi_path)}},
              "excerpt": {"seconds": 15.0, "offset_seconds": 0.0},
              "perturbations": [{"kind": "token-random", "onset_frames": 20,
                                 "grid": {"length_frames": [10, 20]}},
                                {"kind": "note-delete", "ratio": 0.3}]}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "run")])
    assert out.exit_code == 0, out.output
    results = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert set(results["kind"]) == {"clean", "token-random", "note-delete"}
    assert (results["modality"] == "symbolic").all() and results["frame_rate"].isna().all()
    clean = results[results["kind"] == "clean"].iloc[0]
    excerpt = [p for s, p in notes if s < 15.0]
    np.testing.assert_allclose(clean["nll"], _pitch_cache_nll(excerpt), atol=1e-5)
    np.testing.assert_allclose(clean["time_s"], [s for s, _ in notes if s < 15.0])
    token = results[results["kind"] == "token-random"].sort_values("length_frames")
    assert token["onset_frame"].tolist() == [20, 20]
    # the span in seconds is the onsets of events 20 and 30 (40): read off the time axis
    times = np.asarray(clean["time_s"])
    np.testing.assert_allclose(token["onset_seconds"], times[20])
    np.testing.assert_allclose(token["onset_seconds"] + token["length_seconds"],
                               [times[30], times[40]])
    deleted = results[results["kind"] == "note-delete"].iloc[0]
    assert 0 <= deleted["onset_seconds"] < deleted["onset_seconds"] + deleted["length_seconds"] <= 15
    regions = pd.read_parquet(tmp_path / "run" / "tables" / "regions.parquet")
    assert {"start_seconds", "end_seconds"} <= set(regions.columns) and len(regions) == 9
    measured = regions.dropna(subset=["start_frame"])
    for _, row in measured.iterrows():
        unit = results[results["key"] == row["key"]].iloc[0]
        assert row["start_seconds"] == pytest.approx(unit["time_s"][int(row["start_frame"])])
    assert (tmp_path / "run" / "report" / "index.html").is_file()

    with pytest.raises(ConfigError, match=r"models\[0\] 'pitch-cache' reads symbolic data and "
                                          r"cannot score perturbations\[0\] 'noise'"):
        parse_config({**config, "perturbations": [{"kind": "noise", "onset_frames": 1,
                                                   "length_frames": 1}]})
    with pytest.raises(ConfigError, match=r"'pitch-cache' reads scores and cannot score "
                                          r"datasets.train \(demo:train\), which is audio"):
        parse_config({**config, "datasets": {"train": {"source": "demo:train"}}})


def test_a_profile_metric(follow):
    import pandas as pd

    from noiseloss.analysis.profile import ProfileOptions, clip_tables, metrics_of

    follow("A profile metric")
    assert metrics_of("clip")[-1] == "loss_range"
    nll = np.tile(np.linspace(1.0, 3.0, 101, dtype=np.float32), (4, 1))  # frame curve 1 .. 3
    row = {"key": "k", "kind": "clean", "model": "m", "dataset": "d", "item": "c",
           "prompt": "unconditional", "audio": None, "num_codebooks": 4, "num_frames": 101,
           "frame_rate": 50.0, "loss": 2.0, "nll": nll.ravel(), "entropy": None,
           "time_s": np.arange(101) / 50.0, "duration_seconds": 101 / 50.0}
    clips, _ = clip_tables(pd.DataFrame([row]), deltas=None, options=ProfileOptions(probes=0))
    assert clips.loc[0, "loss_range"] == pytest.approx(0.9 * 2.0, rel=1e-5)  # 95th - 5th


def _plugin_env(tmp_path, module: str) -> dict:
    """An environment whose Python path holds ``module`` (the "A model" recipe)."""
    import os

    (tmp_path / f"{module}.py").write_text(recipe("A model"), encoding="utf-8")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), str(Path(__file__).resolve().parent.parent / "src")])}


def _noiseloss(*args, env: dict, cwd):
    """``noiseloss ARGS`` in a fresh process (its ``subprocess.CompletedProcess``)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "noiseloss.cli.main", *args], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_a_plugin_reaches_the_command_line(tmp_path):
    """The "A model" recipe as a module: by ``--plugin``, by a config's ``plugins:`` and as an
    installed entry point, in a fresh ``noiseloss`` process each time."""
    import pandas as pd
    import soundfile as sf
    import yaml

    env = _plugin_env(tmp_path, "uniform_plugin")
    clip = tmp_path / "clip.wav"
    sf.write(clip, 0.1 * np.random.default_rng(0).standard_normal(32000 * 2), 32000)

    bare = _noiseloss("score", str(clip), "--model", "uniform", "--out", "a", env=env,
                      cwd=tmp_path)
    assert bare.returncode == 2 and "uniform" in bare.stderr
    flag = _noiseloss("--plugin", "uniform_plugin", "score", str(clip), "--model", "uniform",
                      "--out", "a", env=env, cwd=tmp_path)
    assert flag.returncode == 0, flag.stderr[-2000:]
    nll = pd.read_parquet(tmp_path / "a" / "nll.parquet")["nll"]
    assert len(nll) == 4 * 100 and np.allclose(nll, math.log(512), rtol=1e-6)

    config = {"name": "plugged", "plugins": ["uniform_plugin"], "models": ["uniform"],
              "datasets": {"one": {"path": str(clip)}}, "excerpt": {"seconds": 2.0}}
    (tmp_path / "plugged.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run = _noiseloss("run", "plugged.yaml", "--out", "b", "--no-report", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "units: 1 done" in run.stderr
    assert "plugins:\n- uniform_plugin" in (tmp_path / "b" / "config.yaml").read_text()
    missing = _noiseloss("--plugin", "no_such_plugin", "models", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "plugin 'no_such_plugin' cannot be found" in missing.stderr

    dist = tmp_path / "uniform_plugin-1.0.dist-info"  # as pip installs a package's metadata
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: uniform-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[noiseloss.plugins]\nuniform = uniform_plugin\n")
    installed = _noiseloss("score", str(clip), "--model", "uniform", "--out", "c", env=env,
                           cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-2000:]
