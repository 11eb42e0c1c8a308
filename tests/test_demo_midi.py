"""``demo-midi``: the ``--tiny --symbolic`` recipe end to end, the training presentation, the
n-gram baseline and the repeat melody."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    """The tiny recipe, run once through the CLI: ``(work folder, assets folder)``."""
    from noiseloss.cli.main import main

    work = tmp_path_factory.mktemp("demo-midi")
    assert main(["demo-model", "build", "--symbolic", "--tiny", "--work", str(work)]) == 0
    return work, work / "assets"


@pytest.fixture(scope="module")
def tiny_scorer(tiny_build):
    from noiseloss.models import load_model

    return load_model("demo-midi", model_options={"assets": str(tiny_build[1])})


@pytest.mark.slow
def test_tiny_symbolic_recipe_end_to_end(tiny_build, tiny_scorer):
    from noiseloss.demo.symbolic_data import DATASETS, dataset_files, manifest
    from noiseloss.demo.symbolic_train import compact_vocab
    from noiseloss.models import model_info
    from noiseloss.models.hub import CausalLMScorer
    from noiseloss.tokenizers.amt import AmtVocab

    work, assets = tiny_build
    metrics = json.loads((assets / "metrics.json").read_text())
    assert metrics["mode"] == "tiny" and metrics["total_seconds"] > 0
    for name in ("MODEL_CARD.md", "curves.png", "training_curve.jsonl", "model/config.json",
                 "model/model.safetensors"):
        assert (assets / name).is_file(), name
    assert not (assets.parent / "assets.partial").exists()
    # two phases: 6 steps, then 3 with more repeated passages, one curve
    curve = [json.loads(line) for line in
             (assets / "training_curve.jsonl").read_text().splitlines()]
    assert [(r["step"], r.get("phase", 1)) for r in curve] == [(3, 1), (6, 1), (9, 2)]
    assert curve[2]["tokens"] > curve[1]["tokens"] and metrics["training"]["tokens_seen"] == \
        curve[2]["tokens"]
    corpus = metrics["corpus"]["collections_per_split"]
    assert set(corpus["ood"]).isdisjoint(set(corpus["train"]) | set(corpus["validation"]))

    # the config round-trips the compact vocabulary; the model is the amt backend's scorer
    config = json.loads((assets / "model" / "config.json").read_text())
    assert config["noiseloss_amt"] == metrics["vocabulary"]
    vocab = AmtVocab.from_config(tiny_scorer.model.config)
    assert vocab == compact_vocab(time_bins=4000, dur_bins=1000) == AmtVocab(**metrics["vocabulary"])
    assert (vocab.vocab_size, vocab.rest, vocab.autoregress) == (5130, 5128, 5129)
    assert isinstance(tiny_scorer, CausalLMScorer) and tiny_scorer.modality == "symbolic"
    assert tiny_scorer.tokenizer.vocab == vocab and tiny_scorer.layouts["arrival"].vocab == vocab
    info = model_info("demo-midi", assets=str(assets))
    assert info.modality == "symbolic" and info.alignment == "arrival"
    assert (info.window_frames, info.stride_frames) == (96, 48)
    assert info.identity["source"] == "folder" and tiny_scorer.provenance()["model_id"] == "demo-midi"

    # every data set: files as in the manifest, each scored by the model
    for name in DATASETS:
        files = dataset_files(name, assets=assets)
        assert [r["file"] for r in manifest(name, assets=assets)] == [f.name for f in files]
        assert files and all(f.suffix == ".mid" for f in files)
        result = tiny_scorer.score(files[0])
        assert result.modality == "symbolic" and result.nll.shape == result.codes.shape
        assert result.nll.shape[0] == 3 and np.isfinite(result.nll).all()
        assert result.axis.seconds[-1] < 6.0  # 6 s excerpts in the tiny build
    assert all(r["notes"] > 0 for r in manifest("generated", assets=assets))

    # the build's folder is a model for every command: `--model DIR`, as `demo-midi -m assets=DIR`
    import pyarrow.parquet as pq

    from noiseloss.cli.main import main

    clip = dataset_files("train", assets=assets)[0]
    out = work / "scored"
    assert main(["score", str(clip), "--model", str(assets), "--out", str(out)]) == 0
    rows = pq.read_table(out / "nll.parquet").to_pandas().sort_values(["frame", "codebook"])
    np.testing.assert_allclose(rows["nll"].to_numpy(), tiny_scorer.score(clip).nll.T.ravel(),
                               atol=1e-5)

    # the card reports what the metrics hold
    card = (assets / "MODEL_CARD.md").read_text()
    ev = metrics["evaluation"]
    assert "demonstration" in card and f"**{ev['validation']['model']['mean']:.3f}**" in card
    for split in ("validation", "ood"):
        row = ev[split]
        assert row["tokens"] > 0 and math.isfinite(row["model"]["mean"])
        assert abs(row["untrained"]["mean"] - math.log(vocab.vocab_size)) < 0.5
        assert row["margin_nats"] == pytest.approx(
            row[row["best_ngram"]]["mean"] - row["model"]["mean"])
    assert f"{ev['repeat']['runs'][0]['ratio']:.3f}" in card

    # a rerun reuses the exported corpus and the trained model: the same weights
    from noiseloss.cli.main import main

    weights = (assets / "model" / "model.safetensors").read_bytes()
    assert main(["demo-model", "build", "--symbolic", "--tiny", "--work", str(work)]) == 0
    assert (assets / "model" / "model.safetensors").read_bytes() == weights
    again = json.loads((assets / "metrics.json").read_text())
    assert again["evaluation"] == metrics["evaluation"]


@pytest.mark.slow
def test_training_crops_are_presented_as_scored_windows(tiny_build, tiny_scorer):
    """A crop in training is the scorer's window: same inputs, same targets, same loss."""
    import torch

    from noiseloss.demo.symbolic_data import dataset_files
    from noiseloss.demo.symbolic_train import piece_codes, present, sequence_loss
    from noiseloss.sources.midi import load_score
    from noiseloss.timeaxis import TimeAxis

    layout = tiny_scorer.layouts["arrival"]
    vocab = layout.vocab
    score = load_score(dataset_files("ood", assets=tiny_build[1])[0])
    codes = piece_codes(score, vocab)
    # the whole piece's codes are the scorer's tokens
    np.testing.assert_array_equal(codes, tiny_scorer.tokenize(score).ids)
    crops = [codes[:, 10:60], codes[:, 30:50]]  # later crops: their times need re-basing
    assert crops[0][0, 0] > 0
    inputs, targets = present(crops, layout)
    model = tiny_scorer.model.eval()
    for b, crop in enumerate(crops):
        length = 3 * crop.shape[1]
        expected = layout.inputs(torch.from_numpy(crop))[0]
        assert torch.equal(inputs[b, :length], expected)
        rebased = crop.copy()
        rebased[0] -= crop[0, 0]
        assert torch.equal(targets[b, :length], torch.from_numpy(rebased.T.reshape(-1)))
        assert (targets[b, length:] == -100).all()
        # the training loss of the crop (padded in a batch) is the scorer's mean NLL of it
        onsets = (rebased[0] - vocab.time_offset) / 100
        result = tiny_scorer.score_codes([rebased], axes=[TimeAxis.events(
            onsets, end_seconds=float(onsets[-1]))])[0]
        with torch.inference_mode():
            loss, count = sequence_loss(model, inputs[b : b + 1], targets[b : b + 1])
        assert count == length
        assert loss.item() == pytest.approx(float(result.nll.astype(np.float64).mean()),
                                            abs=1e-5)


def test_crop_sampler_respects_the_window_and_time_tokens():
    from noiseloss.demo.symbolic_train import CropSampler, crop_end, last_start, length_batches

    times = np.array([0, 100, 150, 900, 1000, 1000, 1100, 4500, 4600])
    assert crop_end(times, 0, window_events=4, time_bins=1000) == 4
    assert crop_end(times, 0, window_events=5, time_bins=1000) == 4  # 1000 is not < 1000
    assert crop_end(times, 3, window_events=4, time_bins=4000) == 7
    assert last_start(times, window_events=4, time_bins=1000) == 7
    assert last_start(times, window_events=100, time_bins=10000) == 0
    piece = np.stack([times, times, times])
    sampler = CropSampler([piece], window_events=4, time_bins=1000,
                          rng=np.random.default_rng(0))
    crops = sampler.draw(200)
    assert all(1 <= c.shape[1] <= 4 and c[0, -1] - c[0, 0] < 1000 for c in crops)
    assert {int(c[0, 0]) for c in crops} == set(times[:8].tolist())
    batches = length_batches(crops, batch_tokens=36, rng=np.random.default_rng(0))
    assert sorted(id(c) for b in batches for c in b) == sorted(id(c) for c in crops)
    assert all(len(b) * 3 * max(c.shape[1] for c in b) <= 36 for b in batches)


def test_transposition_moves_notes_and_keeps_rests():
    from noiseloss.demo.symbolic_train import compact_vocab, transpose

    vocab = compact_vocab(time_bins=400, dur_bins=100)
    crop = np.array([[0, 50, 150], [410, 420, 400], [500 + 60, 500 + 127, vocab.rest]])
    np.testing.assert_array_equal(transpose(crop, -2, vocab)[2], [558, 625, vocab.rest])
    np.testing.assert_array_equal(transpose(crop, -2, vocab)[:2], crop[:2])
    assert transpose(crop, 1, vocab) is crop  # 127 + 1 leaves the MIDI range: unchanged


def test_a_repeated_passage_keeps_its_spacing_and_the_crops_span():
    from noiseloss.demo.symbolic_train import repeat_crop

    times = np.array([0, 10, 25, 30, 50, 70, 75, 90, 100, 120])
    crop = np.stack([times, 1000 + np.arange(10), 2000 + np.arange(10)])
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = repeat_crop(crop, rng=rng, min_events=2)
        m = int(np.flatnonzero(out[1] == 1000)[1])  # where the passage starts again
        assert 2 <= m <= 5
        np.testing.assert_array_equal(out[1:, :m], crop[1:, :m])
        np.testing.assert_array_equal(out[1:, m:], crop[1:, : out.shape[1] - m])
        np.testing.assert_array_equal(out[0, m:], times[: out.shape[1] - m] + times[m])
        assert out[0, -1] - out[0, 0] <= times[-1] - times[0]  # never longer than the crop
    short = crop[:, :3]
    assert repeat_crop(short, rng=rng, min_events=2) is short


def test_value_ids_start_as_sinusoidal_features():
    from noiseloss.demo.symbolic_train import (
        MidiModelSize,
        build_model,
        compact_vocab,
        value_embeddings,
    )

    vocab = compact_vocab(time_bins=400, dur_bins=100)
    size = MidiModelSize(n_embd=16, n_layer=1, n_head=2, window_events=8)
    model = build_model(vocab, size=size, seed=0)
    weight = model.get_input_embeddings().weight.detach().numpy()
    np.testing.assert_array_equal(model.transformer.wpe.weight.detach().numpy(),
                                  value_embeddings(25, 16, std=0.02))
    np.testing.assert_array_equal(weight[:400], value_embeddings(400, 16, std=0.02))
    np.testing.assert_array_equal(weight[400:500], value_embeddings(100, 16, std=0.02))
    np.testing.assert_array_equal(weight[500:628], value_embeddings(128, 16, std=0.02))
    features = value_embeddings(400, 16, std=0.02)
    assert np.allclose(features[:, 0::2] ** 2 + features[:, 1::2] ** 2, 2 * 0.02**2)
    random = build_model(vocab, size=MidiModelSize(n_embd=16, n_layer=1, n_head=2,
                                                   window_events=8, value_init="random"), seed=0)
    assert not np.allclose(random.get_input_embeddings().weight.detach().numpy()[:400],
                           weight[:400])


def test_ngram_baseline_equals_a_hand_computation():
    """Dirichlet-interpolated bigram and trigram over 0 1 0 1 2 (alphabet 3, beta 2)."""
    from noiseloss.demo.symbolic_eval import RowNgram

    train = [np.array([0, 1, 0, 1, 2])]
    unigram = np.array([3, 3, 2]) / 8  # add-one counts 2+1, 2+1, 1+1 over 5+3
    bigram = RowNgram(train, alphabet=3, order=2, prior_weight=2.0)
    np.testing.assert_allclose(bigram.unigram, unigram)
    # contexts START, 1, 0: n(S,1)=0, n(S)=1; n(1,0)=1, n(1)=2; n(0,2)=0, n(0)=2
    np.testing.assert_allclose(bigram.prob(np.array([1, 0, 2])),
                               [(0 + 2 * 3 / 8) / 3, (1 + 2 * 3 / 8) / 4, (0 + 2 * 2 / 8) / 4])
    trigram = RowNgram(train, alphabet=3, order=3, prior_weight=2.0)
    p2 = [(1 + 2 * 3 / 8) / 3, (2 + 2 * 3 / 8) / 4, (1 + 2 * 2 / 8) / 4]  # ctx S, 0, 1
    # ctx (S,S): n=1, n(S,S,0)=1; (S,0): n=1, n(S,0,1)=1; (0,1): n=2, n(0,1,2)=1
    expected = [(1 + 2 * p2[0]) / 3, (1 + 2 * p2[1]) / 3, (1 + 2 * p2[2]) / 4]
    np.testing.assert_allclose(trigram.prob(np.array([0, 1, 2])), expected)
    assert RowNgram(train, alphabet=3, order=1, prior_weight=2.0).prob(
        np.array([2])) == pytest.approx(2 / 8)


def test_event_ngram_reads_intervals_durations_and_notes():
    from noiseloss.demo.symbolic_eval import EventNgram, mean_nll, row_symbols
    from noiseloss.demo.symbolic_train import compact_vocab

    vocab = compact_vocab(time_bins=400, dur_bins=100)
    assert (vocab.dur_offset, vocab.note_offset, vocab.rest) == (400, 500, 628)
    codes = np.array([[0, 25, 50, 150], [400 + 20, 400 + 20, 400 + 40, 400 + 0],
                      [500 + 60, 500 + 62, 500 + 64, vocab.rest]])
    rows = row_symbols(codes, vocab)
    assert [r.tolist() for r in rows] == [[0, 25, 25, 100], [20, 20, 40, 0], [60, 62, 64, 128]]
    model = EventNgram([codes], vocab, order=2, prior_weight=1.0)
    nll = model.nll(codes)
    assert nll.shape == (3, 4) and np.isfinite(nll).all()
    # the rows are independent models of their own symbols
    from noiseloss.demo.symbolic_eval import RowNgram

    notes = RowNgram([rows[2]], alphabet=129, order=2, prior_weight=1.0)
    np.testing.assert_allclose(nll[2], -np.log(notes.prob(rows[2])))
    means = mean_nll([nll])
    assert means["mean"] == pytest.approx(nll.mean()) and means["note"] == pytest.approx(
        nll[2].mean())


def test_repeat_melody_repeats_exactly():
    from noiseloss.demo.symbolic_eval import repeat_melody
    from noiseloss.demo.symbolic_train import compact_vocab
    from noiseloss.tokenizers.amt import AmtTokenizer

    score = repeat_melody(seed=3)
    ids = AmtTokenizer(compact_vocab(time_bins=4000, dur_bins=1000)).tokenize(score).ids
    assert ids.shape == (3, 80)
    np.testing.assert_array_equal(ids[1:, :40], ids[1:, 40:])
    np.testing.assert_array_equal(np.diff(ids[0, :41]), np.diff(ids[0, 40:]).tolist() + [
        np.diff(ids[0, :41])[-1]])
    assert len(set(ids[2].tolist())) > 5
    again = AmtTokenizer(compact_vocab(time_bins=4000, dur_bins=1000)).tokenize(
        repeat_melody(seed=3)).ids
    np.testing.assert_array_equal(ids, again)


def test_sampled_events_decode_to_the_notes_a_tokenizer_reads_back():
    from noiseloss.demo.symbolic_sample import events_to_midi
    from noiseloss.demo.symbolic_train import compact_vocab
    from noiseloss.tokenizers.amt import AmtTokenizer

    vocab = compact_vocab(time_bins=4000, dur_bins=1000)
    rest = vocab.instruments * vocab.pitches
    events = np.array([[0, 50, 60], [50, 25, 64], [50, 0, 67], [150, 0, rest], [200, 30, 72]])
    score = events_to_midi(events, vocab)
    ids = AmtTokenizer(vocab).tokenize(score).ids
    # the tokenizer puts its own rests in the silences (here: 150, a second after 50)
    assert ids[0, ids[2] == vocab.rest].tolist() == [150]
    ids = ids[:, ids[2] != vocab.rest]
    kept = events[events[:, 2] != rest]
    np.testing.assert_array_equal(ids[0], kept[:, 0])
    np.testing.assert_array_equal(ids[1] - vocab.dur_offset, np.maximum(kept[:, 1], 1))
    np.testing.assert_array_equal(ids[2] - vocab.note_offset, kept[:, 2])


def test_selection_is_deterministic_and_holds_composers_out():
    from noiseloss.demo.symbolic_corpus import HELD_IN, HELD_OUT, select_pieces

    per = {"essenFolksong": 30, "bach": 10, "mozart": 2}
    pieces = select_pieces(seed=0, per_collection=per)
    assert pieces == select_pieces(seed=0, per_collection=per)
    assert pieces != select_pieces(seed=1, per_collection=per)
    assert len({p.piece_id for p in pieces}) == len(pieces) == 42
    assert {p.split for p in pieces if p.collection in HELD_OUT} == {"ood"}
    assert {p.split for p in pieces if p.collection in HELD_IN} == {"train", "validation"}
    assert sum(p.split == "validation" for p in pieces if p.collection == "essenFolksong") == 3
    essen = [p for p in pieces if p.collection == "essenFolksong"]
    assert all(p.source.endswith(".abc") and p.number is not None and
               p.piece_id == f"{p.source[:-4]}#{p.number}" for p in essen)
    # a larger selection keeps the smaller one (ranks, not positions)
    more = select_pieces(seed=0, per_collection={**per, "essenFolksong": 60})
    assert {p.piece_id for p in essen} <= {p.piece_id for p in more}


def test_demo_midi_is_registered_lazily():
    from noiseloss.models import MODELS
    from noiseloss.sources.datasets import SOURCES, DatasetSpec

    assert "demo-midi" in MODELS and "demo-midi" in SOURCES
    family = SOURCES.get("demo-midi")
    assert family.modality == "symbolic" and family.sets == ("train", "ood", "generated")
    assert DatasetSpec(name="m", source="demo-midi:ood").modality == "symbolic"
    backend = MODELS.get("demo-midi")
    assert backend.modality == "symbolic" and backend.options == ("assets",)
    assert "arrival" in backend.alignments


def test_missing_assets_and_misused_flags_are_clear(tmp_path):
    from click.testing import CliRunner

    from noiseloss.cli.main import cli
    from noiseloss.errors import ModelLoadError
    from noiseloss.models import model_info

    with pytest.raises(ModelLoadError, match="demo-model build --symbolic"):
        model_info("demo-midi", assets=str(tmp_path))
    out = CliRunner().invoke(cli, ["demo-model", "build", "--symbolic", "--checkpoint-every",
                                   "3", "--work", str(tmp_path)])
    assert out.exit_code != 0 and "audio demo only" in out.output


def test_shipped_demo_midi_model_and_its_card():
    """The model built by `noiseloss demo-model build --symbolic` into the package (skipped until
    it is built): small, loadable offline, its data sets scored, its card's gates met."""
    from noiseloss.demo.symbolic_data import ASSETS, DATASETS, dataset_files, manifest
    from noiseloss.models import load_model

    if not (ASSETS / "model" / "config.json").is_file():
        pytest.skip("demo-midi is not built into the package assets yet")
    weights = sum(p.stat().st_size for p in (ASSETS / "model").glob("*.safetensors"))
    assert 0 < weights <= 10e6
    for name in DATASETS:
        files = dataset_files(name)
        assert len(files) == 15 and [r["file"] for r in manifest(name)] == [f.name for f in files]
    scorer = load_model("demo-midi")
    assert scorer.provenance()["source"] == "package-assets"
    result = scorer.score(dataset_files("generated")[0])
    assert np.isfinite(result.nll).all()
    metrics = json.loads((ASSETS / "metrics.json").read_text())
    assert metrics["mode"] == "full"
    ev = metrics["evaluation"]
    card = (ASSETS / "MODEL_CARD.md").read_text()
    assert "demonstration" in card and f"**{ev['validation']['model']['mean']:.3f}**" in card
    # the card's gates: better than the best n-gram on validation; the repeat test, recomputed
    # on the shipped weights (a 40-note random walk played twice: passed when its second
    # occurrence costs at most 0.6 x the mean NLL of its first), as the card reports it
    assert ev["validation"]["margin_nats"] > 0
    from noiseloss.demo.symbolic_eval import REPEAT_RATIO, repeat_test

    assert REPEAT_RATIO == 0.6 and len(ev["repeat"]["runs"]) == 5
    for recorded in ev["repeat"]["runs"]:
        run = repeat_test(scorer, seed=recorded["seed"])
        assert run["ratio"] == pytest.approx(recorded["ratio"], abs=1e-4)
        assert run["passed"] == (run["ratio"] <= 0.6) == recorded["passed"]
        assert f"| {recorded['seed']} | {run['first_nll']:.3f} | {run['second_nll']:.3f} |" in card
        assert run["passed"]  # the gate: every melody's second occurrence at most 0.6 x
    assert ev["repeat"]["passed"] and "FAILED" not in card and "**passed**" in card
