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
    from noiseloss.models import MODELS
    from noiseloss.perturb import PERTURBATIONS

    for registry in (DETECTORS, METRICS, MODELS, PERTURBATIONS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
        monkeypatch.setattr(registry, "_help", dict(registry._help))

    def run(title: str) -> dict:
        namespace = {"__name__": f"recipe_{title.split()[-1]}"}
        exec(compile(recipe(title), str(DOC), "exec"), namespace)  # noqa: S102 (our own docs)
        return namespace

    return run


def test_a_perturbation(follow):
    from noiseloss.config import parse_config
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
