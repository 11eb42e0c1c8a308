"""Stereo MusicGen and MusicGen-Melody on tiny seeded random models: each layout against the
model's own training loss, causality, padding, and the conditions of Melody."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import save_text_tokenizer, write_tones

SPECIAL, SR = 2048, 32000


def tiny_configs(*, stereo: bool = False, melody: bool = False):
    from transformers import EncodecConfig, T5Config

    text = T5Config(vocab_size=64, d_model=24, d_kv=8, d_ff=32, num_layers=2, num_heads=3)
    codec = EncodecConfig(upsampling_ratios=[8, 5, 4, 4], target_bandwidths=[2.2],
                          sampling_rate=SR, codebook_size=SPECIAL, num_filters=4, hidden_size=16,
                          codebook_dim=16, use_causal_conv=False)
    decoder = dict(vocab_size=SPECIAL, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                   ffn_dim=32, num_codebooks=8 if stereo else 4, pad_token_id=SPECIAL,
                   bos_token_id=SPECIAL, decoder_start_token_id=SPECIAL,
                   max_position_embeddings=512, audio_channels=2 if stereo else 1)
    return text, codec, decoder


@pytest.fixture(scope="module")
def stereo_dir(tmp_path_factory):
    from transformers import MusicgenConfig, MusicgenDecoderConfig, MusicgenForConditionalGeneration

    torch.manual_seed(1)
    text, codec, decoder = tiny_configs(stereo=True)
    model = MusicgenForConditionalGeneration(MusicgenConfig(
        text_encoder=text.to_dict(), audio_encoder=codec.to_dict(),
        decoder=MusicgenDecoderConfig(**decoder).to_dict())).eval()
    directory = tmp_path_factory.mktemp("stereo")
    model.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="module")
def melody_dir(tmp_path_factory):
    from transformers import (
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyForConditionalGeneration,
    )

    torch.manual_seed(2)
    text, codec, decoder = tiny_configs()
    decoder.pop("audio_channels")
    model = MusicgenMelodyForConditionalGeneration(MusicgenMelodyConfig(
        text_encoder=text.to_dict(), audio_encoder=codec.to_dict(),
        decoder=MusicgenMelodyDecoderConfig(**decoder).to_dict(), chroma_length=20)).eval()
    directory = tmp_path_factory.mktemp("melody")
    model.save_pretrained(str(directory))
    save_text_tokenizer(directory)
    return directory


@pytest.fixture(scope="module")
def stereo(stereo_dir):
    from noiseloss import load_model

    return load_model(str(stereo_dir))


@pytest.fixture(scope="module")
def melody(melody_dir):
    from noiseloss import load_model

    return load_model(str(melody_dir))


def codes_of(rng, rows, frames):
    return rng.integers(0, SPECIAL, size=(rows, frames))


# -- stereo ------------------------------------------------------------------------------------
def test_stereo_layout_is_transformers_pattern_and_its_loss(stereo, rng):
    from noiseloss.scoring.pattern import delay_codes

    assert stereo.layouts["delayed"].delays == (0, 0, 1, 1, 2, 2, 3, 3)
    frames = 12
    codes = torch.from_numpy(codes_of(rng, 8, frames))
    prompt = torch.cat([torch.full((8, 1), SPECIAL), codes], dim=1)
    _, mask = stereo.decoder.build_delay_pattern_mask(prompt, SPECIAL, max_length=frames + 4)
    layout = delay_codes(codes, special_id=SPECIAL, delays=(0, 0, 1, 1, 2, 2, 3, 3))
    np.testing.assert_array_equal(mask.numpy(), layout.numpy())
    res = stereo.score_codes([codes.numpy()])[0]
    out = stereo.decoder(input_ids=layout[:, :-1], labels=layout[None, :, 1:].transpose(1, 2))
    logits = out.logits.reshape(8, -1, out.logits.shape[-1])
    delays = (0, 0, 1, 1, 2, 2, 3, 3)
    entropy = [[torch.distributions.Categorical(logits=logits[k, t + delays[k]].double())
                .entropy().item() for t in range(frames)] for k in range(8)]
    np.testing.assert_allclose(res.entropy, entropy, atol=1e-5, rtol=0)
    assert res.nll.shape == (8, frames) and res.lead_frames == 2 and res.channels == 2
    assert res.loss() == pytest.approx(out.loss.item(), abs=1e-5)
    np.testing.assert_allclose(res.frame_nll(channel=1), res.nll[1::2].mean(axis=0), rtol=1e-6)


def test_stereo_causality_and_padding(stereo, rng):
    frames, t0 = 20, 8
    codes = codes_of(rng, 8, frames)
    edited = codes.copy()
    edited[0, t0:] = (codes[0, t0:] + 1) % SPECIAL  # left channel, codebook 0, from t0 on
    a, b = (r.nll for r in stereo.score_codes([codes, edited], batch_size=1))
    delay = np.array([0, 0, 1, 1, 2, 2, 3, 3])[:, None]
    allowed = np.arange(frames)[None, :] >= t0 - np.maximum(0, delay - 1)
    np.testing.assert_array_equal(a[~allowed], b[~allowed])
    assert (a != b)[0, t0] and (a != b)[7, t0 - 2]
    items = [codes_of(rng, 8, n) for n in (5, 17, 9)]
    for x, y in zip(stereo.score_codes(items, batch_size=3), stereo.score_codes(items, batch_size=1),
                    strict=True):
        np.testing.assert_allclose(x.nll, y.nll, atol=1e-5, rtol=0)


def test_stereo_channels_are_encoded_separately(stereo, tmp_path):
    t = np.arange(SR) / SR
    left, right = 0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1).astype(np.float32), SR)
    res = stereo.score(tmp_path / "st.wav")
    mono = stereo.tokenizer._encode_channel
    np.testing.assert_array_equal(res.codes[0::2], mono(left.astype(np.float32)))
    np.testing.assert_array_equal(res.codes[1::2], mono(right.astype(np.float32)))
    assert res.nll.shape == (8, 50) and np.isfinite(res.nll).all()


# -- melody ------------------------------------------------------------------------------------
def test_chroma_of_pure_tones():
    from noiseloss.models.musicgen import melody_chroma

    t = np.arange(3 * SR) / SR
    for freq, pitch_class in ((261.63, 0), (440.0, 9), (392.0, 7)):
        chroma = melody_chroma(np.sin(2 * np.pi * freq * t).astype(np.float32), sample_rate=SR)
        assert chroma.shape == (3 * SR // 4096 + 1, 12) and (chroma.sum(axis=1) == 1).all()
        assert (chroma[2:-2].argmax(axis=1) == pitch_class).all()


def test_melody_none_is_the_unconditional_decoder(melody, rng):
    from noiseloss.scoring.pattern import delay_codes

    codes = codes_of(rng, 4, 15)
    res = melody.score_codes([codes])[0]
    layout = delay_codes(torch.from_numpy(codes), special_id=SPECIAL)
    out = melody.decoder(input_ids=layout[:, :-1], labels=layout[None, :, 1:].transpose(1, 2))
    assert res.loss() == pytest.approx(out.loss.item(), abs=1e-5)


@pytest.mark.parametrize("text", [None, "calm piano"])
def test_melody_conditions_are_sliced_off(melody, rng, text):
    """transformers' own loss reads the last positions of the logits: the same as noiseloss."""
    from noiseloss.scoring.pattern import delay_codes

    t = np.arange(2 * SR) / SR
    chroma = melody.audio_condition("melody", np.sin(2 * np.pi * 440 * t).astype(np.float32))
    assert chroma.shape == (20, 12)
    codes = codes_of(rng, 4, 15)
    res = melody.score_codes([codes], text=text, conditions=[chroma])[0]
    layout = delay_codes(torch.from_numpy(codes), special_id=SPECIAL)
    extra = melody._text_inputs(text, 1) if text else {}
    out = melody.full_model(decoder_input_ids=layout[:, :-1], input_features=torch.from_numpy(
        chroma[None]), labels=layout[None, :, 1:].transpose(1, 2), **extra)
    assert res.nll.shape == (4, 15)
    assert res.loss() == pytest.approx(out.loss.item(), abs=1e-5)
    logits = out.logits.reshape(4, -1, out.logits.shape[-1])[:, -layout.shape[1] + 1:]
    entropy = [[torch.distributions.Categorical(logits=logits[k, t + k].double()).entropy().item()
                for t in range(15)] for k in range(4)]
    np.testing.assert_allclose(res.entropy, entropy, atol=1e-5, rtol=0)
    plain = melody.score_codes([codes], text=text)[0]
    assert not np.allclose(plain.nll, res.nll, rtol=0, atol=1e-6)  # the chroma matters


def test_melody_right_padded_batch_with_conditions(melody, rng):
    t = np.arange(SR) / SR
    items = [codes_of(rng, 4, n) for n in (6, 14, 9)]
    chroma = [melody.audio_condition("melody", np.sin(2 * np.pi * f * t).astype(np.float32))
              for f in (262.0, 330.0, 392.0)]
    batched = melody.score_codes(items, conditions=chroma, batch_size=3)
    single = melody.score_codes(items, conditions=chroma, batch_size=1)
    for x, y in zip(batched, single, strict=True):
        np.testing.assert_allclose(x.nll, y.nll, atol=1e-5, rtol=0)


def test_melody_reference_is_shared_and_self_leaks(tmp_path, melody_dir):
    from noiseloss.config import parse_config
    from noiseloss.runner.run import run_experiment
    from noiseloss.store.results import ResultsStore

    data = write_tones(tmp_path / "clips", count=2, seconds=2.0, base_hz=262, step_hz=60,
                       seed=4, prefix="m")
    raw = {"models": [str(melody_dir)], "datasets": {"d": {"path": str(data)}},
           "excerpt": {"seconds": 2.0},
           "prompts": [{"melody": "reference"}, {"melody": "self"}],
           "perturbations": [{"kind": "noise", "onset_frames": 60, "length_frames": 30,
                              "level_db": 0.0, "level_ref": "signal"},
                             {"kind": "token-random", "onset_frames": 60, "length_frames": 5}]}
    summary = run_experiment(parse_config(raw), tmp_path / "run")
    # melody=self has no audio for a token edit: listed, not guessed
    own = "unconditional,melody=self (leaks the target)"
    assert sorted(summary.failed) == [
        f"d/m{i}.wav ({own}) [token-random/length_frames=5,onset_frames=60/seed=0]"
        for i in (0, 1)]
    rows = ResultsStore(tmp_path / "run").read().to_pylist()
    assert summary.done == len(rows) == 2 * (3 + 2)
    for item in ("m0.wav", "m1.wav"):
        unit = {(r["prompt"], r["kind"]): np.asarray(r["nll"]).reshape(4, 100)
                for r in rows if r["item"] == item}
        ref, own = "unconditional,melody=reference", "unconditional,melody=self (leaks the target)"
        # same chroma for clean and perturbed: identical before the span (minus the codec's
        # look-ahead); with each version's own chroma the whole curve moves
        np.testing.assert_array_equal(unit[ref, "noise"][:, :50], unit[ref, "clean"][:, :50])
        assert (unit[own, "noise"][:, :50] != unit[own, "clean"][:, :50]).any()
    config = json.loads(json.dumps(parse_config(raw).to_dict()))
    assert [p["melody"] for p in config["prompts"]] == ["reference", "self"]


def test_melody_condition_on_a_model_without_it(tiny_scorer):
    from noiseloss.errors import ParameterError

    with pytest.raises(ParameterError, match="takes no melody condition"):
        tiny_scorer.audio_condition("melody", np.zeros(SR, np.float32))
