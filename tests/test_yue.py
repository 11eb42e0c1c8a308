"""YuE stage 1 and 2 on tiny seeded random models with the real id layout (vocab 83968)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import save_text_tokenizer
from noiseloss.models.yue import CODEC_OFFSET, IDS

VOCAB, SR = 83968, 16000


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A YuE-shaped tiny Llama, a text tokenizer and a tiny random X-Codec, saved like real ones."""
    from transformers import LlamaConfig, LlamaForCausalLM, XcodecConfig, XcodecModel

    root = tmp_path_factory.mktemp("yue")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128,
                                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                                 max_position_embeddings=16384)).save_pretrained(root / "llama")
    save_text_tokenizer(root / "tokenizer")
    codec = XcodecConfig(target_bandwidths=[0.5, 4.0], acoustic_model_config=dict(
        encoder_hidden_size=8, downsampling_ratios=[8, 5, 4, 2], decoder_hidden_size=16,
        hidden_size=32, n_codebooks=9, codebook_size=1024, codebook_dim=8),
        semantic_model_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=64, conv_dim=(16,) * 7,
                                   num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2))
    XcodecModel(codec).save_pretrained(root / "xcodec")
    return root


def options(folders, stage):
    out = {"codec": str(folders / "xcodec")}
    if stage == 1:
        out.update(text_tokenizer=str(folders / "tokenizer"), genres="calm piano")
    return out


@pytest.fixture(scope="module")
def stage1(folders):
    from noiseloss import load_model

    return load_model(str(folders / "llama"), backend="yue-s1", model_options=options(folders, 1))


@pytest.fixture(scope="module")
def stage2(folders):
    from noiseloss import load_model

    return load_model(str(folders / "llama"), backend="yue-s2", model_options=options(folders, 2))


def codes_of(rng, rows, frames):
    return rng.integers(0, 1024, size=(rows, frames))


def cross_entropy(model, ids, targets):
    """Plain CrossEntropyLoss of a hand-built id sequence at the given target positions."""
    return loss_and_entropy(model, ids, targets)[0]


def loss_and_entropy(model, ids, targets):
    """The cross-entropy and the mean predictive entropy at the given target positions."""
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    positions = torch.tensor(targets)
    picked = logits[positions - 1].double()
    entropy = torch.distributions.Categorical(logits=picked).entropy().mean().item()
    return torch.nn.functional.cross_entropy(picked, torch.tensor(ids)[positions]).item(), entropy


def test_stage1_nll_is_the_cross_entropy_of_the_prompted_stream(stage1, rng):
    from transformers import AutoTokenizer

    codes = codes_of(rng, 2, 30)
    res = stage1.score_codes([codes])[0]
    assert res.nll.shape == (2, 30) and res.alignment == "prompted" and res.lead_frames == 0
    tok = AutoTokenizer.from_pretrained(str(stage1.identity["model_id"]).replace("llama",
                                                                                  "tokenizer"))
    text = ("Generate music from the given lyrics segment by segment.\n[Genre] calm piano\n",
            "[start_of_segment]")
    ids = [i for t in text for i in tok.encode(t, add_special_tokens=False)]
    ids += [IDS["soa"], IDS["xcodec"]]
    first = len(ids)
    for t in range(30):
        ids += [CODEC_OFFSET + codes[0, t], CODEC_OFFSET + codes[1, t]]  # vocal, instrumental
    expected, entropy = loss_and_entropy(stage1.model, ids, list(range(first, len(ids))))
    assert float(res.nll.mean(dtype=np.float64)) == pytest.approx(expected, abs=1e-5)
    assert float(res.entropy.mean(dtype=np.float64)) == pytest.approx(entropy, abs=1e-5)


def test_stage2_nll_is_the_cross_entropy_of_the_teacher_forced_stream(stage2, rng):
    codes = codes_of(rng, 8, 12)
    res = stage2.score_codes([codes])[0]
    assert res.nll.shape == (7, 12)
    ids = [IDS["soa"], IDS["stage_1"], *(CODEC_OFFSET + codes[0]), IDS["stage_2"]]
    targets = []
    for t in range(12):
        for k in range(8):
            if k:
                targets.append(len(ids))
            ids.append(CODEC_OFFSET + 1024 * k + codes[k, t])
    expected, entropy = loss_and_entropy(stage2.model, ids, targets)
    assert float(res.nll.mean(dtype=np.float64)) == pytest.approx(expected, abs=1e-5)
    assert float(res.entropy.mean(dtype=np.float64)) == pytest.approx(entropy, abs=1e-5)


def test_causality_of_both_streams(stage1, stage2, rng):
    frames, t0 = 16, 6
    codes = codes_of(rng, 2, frames)
    edited = codes.copy()
    edited[0, t0:] = (codes[0, t0:] + 1) % 1024  # vocal from t0 on
    a, b = (r.nll for r in stage1.score_codes([codes, edited], batch_size=1))
    np.testing.assert_array_equal(a[:, :t0], b[:, :t0])  # instrumental t0-1 comes before vocal t0
    assert (a[:, t0] != b[:, t0]).all()
    codes = codes_of(rng, 8, frames)
    upper = codes.copy()
    upper[1:, t0:] = (codes[1:, t0:] + 1) % 1024  # codebooks 1-7 from t0 on
    a, b = (r.nll for r in stage2.score_codes([codes, upper], batch_size=1))
    np.testing.assert_array_equal(a[:, :t0], b[:, :t0])
    assert (a[:, t0] != b[:, t0]).any()
    base = codes.copy()
    base[0, t0:] = (codes[0, t0:] + 1) % 1024  # codebook 0 sits in the prompt: every frame moves
    c = stage2.score_codes([base])[0].nll
    assert (a[:, :t0] != c[:, :t0]).any()


@pytest.mark.parametrize("stage", [1, 2])
def test_right_padded_batches_and_codec_range(stage, stage1, stage2, rng):
    scorer = stage1 if stage == 1 else stage2
    rows = 2 if stage == 1 else 8
    items = [codes_of(rng, rows, n) for n in (4, 11, 7)]
    for x, y in zip(scorer.score_codes(items, batch_size=3), scorer.score_codes(items, batch_size=1),
                    strict=True):
        np.testing.assert_allclose(x.nll, y.nll, atol=1e-5, rtol=0)
    full = scorer.score_codes(items[:1])[0].nll
    ranged = scorer.score_codes(items[:1], alignment="prompted-codec-range")[0]
    assert ranged.alignment == "prompted-codec-range"
    assert (ranged.nll <= full + 1e-5).all() and (ranged.nll < np.log(1024) + 1).all()


def test_stage2_legacy_flat_is_the_plain_shift_of_the_flattened_ids(stage2, rng):
    codes = codes_of(rng, 8, 5)
    res = stage2.score_codes([codes], alignment="legacy-flat")[0]
    assert res.nll.shape == (8, 5) and np.isnan(res.nll[0, 0])
    ids = [CODEC_OFFSET + 1024 * k + codes[k, t] for t in range(5) for k in range(8)]
    expected = cross_entropy(stage2.model, ids, list(range(1, 40)))
    assert float(np.nanmean(res.nll.T.reshape(-1)[1:])) == pytest.approx(expected, abs=1e-5)


def test_yue_runs_end_to_end_on_a_10_s_clip(folders, tmp_path):
    from noiseloss.cli.main import main

    rng = np.random.default_rng(1)
    data = tmp_path / "data"
    data.mkdir()
    t = np.arange(10 * SR) / SR
    sf.write(data / "song.wav", (0.3 * np.sin(2 * np.pi * 220 * t)
                                 + 0.02 * rng.standard_normal(t.size)).astype(np.float32), SR)
    models = [{"name": str(folders / "llama"), "backend": f"yue-s{s}", **options(folders, s)}
              for s in (1, 2)]
    config = tmp_path / "yue.json"
    config.write_text(json.dumps({
        "name": "yue", "models": models, "datasets": {"d": {"path": str(data)}},
        "excerpt": {"seconds": 10.0},
        "perturbations": [{"kind": "noise", "onset_frames": 200, "level_db": -6.0,
                           "level_ref": "signal", "grid": {"length_frames": [10, 50]}}]}))
    assert main(["run", str(config), "--out", str(tmp_path / "run")]) == 0
    import pyarrow.parquet as pq

    rows = pq.read_table(tmp_path / "run" / "results.parquet").to_pylist()
    assert len(rows) == 2 * 3
    shapes = {(r["num_codebooks"], r["num_frames"]) for r in rows}
    assert shapes == {(2, 500), (7, 500)}
    assert {r["alignment"] for r in rows} == {"prompted"} and {r["lead_frames"] for r in rows} == {0}
    assert all(np.isfinite(r["nll"]).all() for r in rows)
    sequence = pq.read_table(tmp_path / "run" / "tables" / "sequence.parquet").to_pandas()
    assert sorted(set(sequence["model"])) == [f"yue-s{s}:{folders / 'llama'}" for s in (1, 2)]
    assert len(sequence) == 4 and (tmp_path / "run" / "report" / "index.html").is_file()


def test_a_mixture_and_separated_stems(stage1):
    t = np.arange(2 * SR) / SR
    vocal = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    instrumental = (0.2 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    tok = stage1.tokenizer
    silence = tok._codes(np.zeros_like(vocal), 0.5)[0]
    mixture = stage1.encode(vocal + instrumental)
    assert mixture.shape == (2, 100)
    np.testing.assert_array_equal(mixture[0], silence)  # the documented vocal stream
    np.testing.assert_array_equal(mixture[1], tok._codes(vocal + instrumental, 0.5)[0])
    stems = tok.encode_stems(vocal, instrumental)
    np.testing.assert_array_equal(stems[0], tok._codes(vocal, 0.5)[0])
    np.testing.assert_array_equal(stems[1], tok._codes(instrumental, 0.5)[0])
    assert stage1.score_codes([stems])[0].nll.shape == (2, 100)


def test_codes_files_and_clear_errors(folders, tmp_path, rng, capsys):
    from noiseloss.cli.main import main
    from noiseloss.errors import ModelLoadError, ParameterError
    from noiseloss.models import model_info

    np.save(tmp_path / "song.npy", codes_of(rng, 8, 40))
    assert main(["score", str(tmp_path / "song.npy"), "--model", str(folders / "llama"),
                 "--backend", "yue-s2", "--out", str(tmp_path / "out")]) == 0
    provenance = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert provenance["items"][str(tmp_path / "song.npy")]["num_codebooks"] == 7
    with pytest.raises(ModelLoadError, match="give the backend"):
        model_info(str(folders / "llama"))
    with pytest.raises(ModelLoadError, match="needs its text tokenizer"):
        model_info(str(folders / "llama"), backend="yue-s1")
    with pytest.raises(ParameterError, match=r"unknown model option\(s\) \['genres'\]"):
        model_info(str(folders / "llama"), backend="yue-s2", genres="pop")
    with pytest.raises(ParameterError, match="unknown model backend 'yue-s3'.*Did you mean"):
        model_info(str(folders / "llama"), backend="yue-s3")
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "yue-s1\t" in listing and "yue-s2\t" in listing and "musicgen\t" in listing
