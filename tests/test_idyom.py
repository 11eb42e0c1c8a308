"""The ``ppm`` model: viewpoints of a score, IDyOM's LTM + STM per row, on the time axis."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest


def melody(pitches, *, step: float = 0.25, start: float = 0.0) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(velocity=80, pitch=int(p), start=start + step * i,
                                   end=start + step * i + 0.2) for i, p in enumerate(pitches)]
    pm.instruments.append(inst)
    return pm


def random_walk(count: int, *, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(60 + np.cumsum(rng.choice([-2, -1, 1, 2], size=count)), 40, 90)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three random-walk melodies as the long-term model's corpus."""
    folder = tmp_path_factory.mktemp("corpus")
    for i in range(3):
        melody(random_walk(60, seed=10 + i), step=0.25 + 0.125 * i).write(str(folder / f"{i}.mid"))
    return folder


def test_viewpoints_of_a_score():
    from noiseloss.models.idyom import ViewpointTokenizer

    score = melody([60, 62, 64], step=0.5)
    score.instruments[0].notes.append(pretty_midi.Note(velocity=80, pitch=55, start=0.5,
                                                       end=6.5))  # a chord, a long note
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes = [pretty_midi.Note(velocity=80, pitch=36, start=0.1, end=0.2)]
    score.instruments.append(drums)
    tokens = ViewpointTokenizer().tokenize(score)
    np.testing.assert_array_equal(tokens.ids, [[60, 55, 62, 64], [0, 50, 0, 50],
                                               [20, 400, 20, 20]])
    np.testing.assert_allclose(tokens.axis.seconds, [0.0, 0.5, 0.5, 1.0])


def test_ppm_scores_ltm_and_stm_merged_as_idyom(corpus, tmp_path):
    """Without linked viewpoints, each row's NLL is the information content of the merged
    LTM + STM distribution, computed here with the PPM core directly."""
    from noiseloss import load_model
    from noiseloss.models.idyom import ViewpointTokenizer
    from noiseloss.models.ppm import LTM_DEFAULTS, PPM, STM_DEFAULTS, combine
    from noiseloss.sources.midi import load_score

    scorer = load_model("ppm", model_options={"corpus": str(corpus), "linked": "none"})
    assert scorer.modality == "symbolic" and scorer.identity["corpus_files"] == 3
    assert scorer.identity["linked"] == [] and scorer.linked == ()
    piece = tmp_path / "piece.mid"
    melody(random_walk(30, seed=99)).write(str(piece))
    result = scorer.score(piece)
    tokenizer = ViewpointTokenizer()
    train = [tokenizer.encode(load_score(p)) for p in sorted(corpus.glob("*.mid"))]
    ids = tokenizer.encode(load_score(piece))
    for row, size in enumerate(tokenizer.alphabets):
        ltm = PPM(size, **LTM_DEFAULTS).fit([t[row] for t in train])
        seq = ids[row].tolist()
        merged = combine([ltm.predict(seq, update=False),
                          PPM(size, **STM_DEFAULTS).predict(seq, update=True)], bias=7.0)
        expected = -np.log(merged[np.arange(len(seq)), seq])
        np.testing.assert_allclose(result.nll[row], expected, rtol=1e-5, atol=1e-5)  # float32
        entropy = -(merged * np.log(merged)).sum(axis=1)
        np.testing.assert_allclose(result.entropy[row], entropy, rtol=1e-4, atol=1e-5)


def dense_linked_rows(corpus_ids, piece_ids, link):
    """Each row of ``link`` as the linked viewpoint predicts it, LTM and STM, over the whole
    alphabets: ``PPM.predict`` of the pairs reshaped to ``[T, A1, A2]`` and summed."""
    from noiseloss.models.idyom import ROWS, ViewpointTokenizer
    from noiseloss.models.ppm import LTM_DEFAULTS, PPM, STM_DEFAULTS

    first, second = (ROWS.index(name) for name in link.split("*"))
    sizes = ViewpointTokenizer.alphabets
    a1, a2 = sizes[first], sizes[second]
    ltm = PPM(a1 * a2, **LTM_DEFAULTS).fit([t[first] * a2 + t[second] for t in corpus_ids])
    pairs = piece_ids[first] * a2 + piece_ids[second]
    out = {}
    for model, dist in (("ltm", ltm.predict(pairs, update=False)),
                        ("stm", PPM(a1 * a2, **STM_DEFAULTS).predict(pairs))):
        joint = dist.reshape(len(pairs), a1, a2)
        out[model, first], out[model, second] = joint.sum(axis=2), joint.sum(axis=1)
    return out


def test_linked_viewpoints_predict_each_row_as_idyom_combines_viewpoints(corpus, tmp_path):
    """With ``pitch*duration`` and ``ioi*duration``: each row's distribution sums to 1, and its
    NLL equals an independent computation: dense distributions of the pairs summed over the
    other member, ``combine``d with the row's own per model (bias 2), then LTM with STM
    (bias 7)."""
    from noiseloss import load_model
    from noiseloss.models.idyom import ViewpointTokenizer
    from noiseloss.models.ppm import LTM_DEFAULTS, PPM, STM_DEFAULTS, combine
    from noiseloss.sources.midi import load_score

    links = ("pitch*duration", "ioi*duration")
    scorer = load_model("ppm", model_options={"corpus": str(corpus), "linked": ",".join(links)})
    assert scorer.linked == links and scorer.identity["viewpoint_bias"] == 2.0
    piece = tmp_path / "piece.mid"
    melody(random_walk(30, seed=98), step=0.3).write(str(piece))
    tokenizer = ViewpointTokenizer()
    train = [tokenizer.encode(load_score(p)) for p in sorted(corpus.glob("*.mid"))]
    ids = tokenizer.encode(load_score(piece))
    linked = [dense_linked_rows(train, ids, link) for link in links]
    result = scorer.score(piece)
    for row, (size, (columns, compact)) in enumerate(zip(tokenizer.alphabets,
                                                         scorer.distributions(ids), strict=True)):
        dist = np.repeat(compact[:, -1:], size, axis=1)
        dist[:, columns] = compact[:, :-1]
        np.testing.assert_allclose(dist.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        seq = ids[row]
        models = []
        for name, options in (("ltm", LTM_DEFAULTS), ("stm", STM_DEFAULTS)):
            own = PPM(size, **options)
            if name == "ltm":
                own.fit([t[row] for t in train])
            parts = [own.predict(seq, update=name == "stm")]
            parts += [rows[name, row] for rows in linked if (name, row) in rows]
            for part in parts[1:]:  # a linked viewpoint's distribution over the row sums to 1
                np.testing.assert_allclose(part.sum(axis=1), 1.0, rtol=0, atol=1e-12)
            models.append(combine(parts, bias=2.0) if len(parts) > 1 else parts[0])
        expected = combine(models, bias=7.0)
        np.testing.assert_allclose(dist, expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(result.nll[row], -np.log(expected[np.arange(len(seq)), seq]),
                                   rtol=1e-5, atol=1e-5)  # float32
        assert len(models) == 2


def test_linked_option_round_trips_through_model_options_and_configs(corpus):
    """``linked`` as a name, several joined by commas (either order of a pair), a list or
    ``none``: the identity records the same names; configs keep the option; unknown names
    are refused with the list of known ones; the default is IOI with duration."""
    import yaml

    from noiseloss import model_info
    from noiseloss.config import parse_config
    from noiseloss.errors import ParameterError
    from noiseloss.models.idyom import DEFAULT_LINKED, LINKED, linked_viewpoints

    assert DEFAULT_LINKED == ("ioi*duration",)
    assert model_info("ppm", corpus=str(corpus)).identity["linked"] == ["ioi*duration"]
    for value, expected in [("none", []), ("", []), ("duration*pitch", ["pitch*duration"]),
                            ("ioi*duration, pitch*ioi", ["pitch*ioi", "ioi*duration"]),
                            (list(LINKED), list(LINKED))]:
        info = model_info("ppm", corpus=str(corpus), linked=value)
        assert info.identity["linked"] == expected, value
        assert linked_viewpoints(info.identity["linked"]) == tuple(expected)
    raw = {"name": "runs", "models": [{"name": "ppm", "corpus": str(corpus),
                                       "linked": ["pitch*duration", "ioi*duration"]}],
           "datasets": {"pieces": {"path": str(corpus)}}}
    config = parse_config(raw)
    assert parse_config(yaml.safe_load(config.to_yaml())) == config
    spec = config.models[0]  # read-only: the list is kept as a tuple
    assert model_info(spec.name, **spec.options).identity["linked"] == [
        "pitch*duration", "ioi*duration"]
    with pytest.raises(ParameterError, match=r"'pitch\*velocity' is not one of"):
        model_info("ppm", corpus=str(corpus), linked="pitch*velocity")
    with pytest.raises(ParameterError, match="linked must be"):
        model_info("ppm", corpus=str(corpus), linked=3)


def test_ppm_recognises_an_exact_repeat(corpus, tmp_path):
    """A 40-note random-walk melody played twice: its second hearing costs at most 0.6 x the
    first (the short-term model has learnt it)."""
    from noiseloss import load_model

    walk = random_walk(40, seed=7)
    piece = tmp_path / "twice.mid"
    melody(np.concatenate([walk, walk])).write(str(piece))
    result = load_model("ppm", model_options={"corpus": str(corpus)}).score(piece)
    curve = result.frame_nll()
    first, second = curve[:40].mean(), curve[40:].mean()
    assert second <= 0.6 * first, (first, second)


def test_ppm_needs_a_corpus(tmp_path):
    from noiseloss import model_info
    from noiseloss.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="folder holding MIDI files"):
        model_info("ppm", corpus=str(tmp_path))


def test_audio_and_symbolic_models_in_one_run_share_the_time_axis(corpus, tmp_path):
    """MIDI sources, a score edit, ppm (the notes) and demo (FluidSynth's rendering): each
    unit's span is the same seconds for both models, and the figures hold both."""
    import json

    import pandas as pd

    from noiseloss.config import parse_config
    from noiseloss.pipeline import run_pipeline

    data = tmp_path / "pieces"
    data.mkdir()
    for i in range(2):
        melody(random_walk(24, seed=20 + i), step=0.25).write(str(data / f"p{i}.mid"))
    config = parse_config({
        "name": "both", "models": ["demo", {"name": "ppm", "corpus": str(corpus)}],
        "datasets": {"pieces": {"path": str(data)}}, "excerpt": {"seconds": 6.0},
        "perturbations": [{"kind": "note-noise", "onset_seconds": 2.0,
                           "grid": {"length_seconds": [0.5, 1.0]}}]})
    result = run_pipeline(config, tmp_path / "run")
    assert not result.summary.failed and result.summary.done == 2 * 2 * 3
    units = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert set(units.groupby("model")["modality"].first().items()) == {
        ("demo", "audio"), ("ppm", "symbolic")}
    noisy = units[units["kind"] == "note-noise"]
    spans = noisy.pivot_table(index=["item", "spec"], columns="model",
                              values=["onset_seconds", "length_seconds"])
    # the same notes changed, measured on each model's own axis: equal within one frame (20 ms)
    np.testing.assert_allclose(spans["onset_seconds"]["demo"], spans["onset_seconds"]["ppm"],
                               atol=0.02)
    np.testing.assert_allclose(spans["length_seconds"]["demo"], spans["length_seconds"]["ppm"],
                               atol=0.04)
    sequence = result.tables["sequence"]
    assert sorted(sequence["perturbation_seconds"].unique()) == [0.5, 1.0]
    figures = json.loads((tmp_path / "run" / "figures" / "index.json").read_text())
    assert "fig3-token-loss" in figures
    assert {"demo", "ppm"} <= set(result.tables["deltas"]["model"])
