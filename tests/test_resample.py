"""Resamplers: ``torchaudio`` equals torchaudio's own output; models keep soxr unless they say so.

``fixtures/resample/torchaudio.npz`` holds clips at six rates and what YuE's loading gave at
16 kHz (channels averaged, then ``torchaudio.transforms.Resample``); its README says how it was
made. Measured against it: max |difference| 0 (bit-identical) at every rate; the tolerance
below allows float32 rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from noiseloss.errors import ParameterError
from noiseloss.sources.audio import load_audio, resample, to_mono

TORCHAUDIO = np.load(Path(__file__).parent / "fixtures" / "resample" / "torchaudio.npz")
RATES = (44100, 48000, 22050, 32000, 24000, 8000)
TOLERANCE = 1e-6


def max_difference(a, b) -> float:
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    return float(np.abs(a - b).max())


@pytest.mark.parametrize("rate", RATES)
def test_torchaudio_resampler_gives_torchaudios_output(rate):
    clip, expected = TORCHAUDIO[f"in_{rate}"], TORCHAUDIO[f"out_{rate}"]
    mono = to_mono(clip.T)  # [channels, samples] as torchaudio loads it; YuE averages first
    out = resample(mono, orig_sr=rate, target_sr=16000, resampler="torchaudio")
    assert max_difference(out, expected) <= TOLERANCE
    # channels are resampled apart, each as on its own (to float32 rounding: a batch of two
    # sums in another order)
    both = resample(np.stack([mono, -mono]), orig_sr=rate, target_sr=16000, resampler="torchaudio")
    assert max_difference(both, np.stack([out, -out])) <= TOLERANCE


def test_a_file_is_averaged_then_resampled_as_yue_loads_it(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, TORCHAUDIO["in_44100"].T, 44100, subtype="FLOAT")
    audio = load_audio(path, sample_rate=16000, resampler="torchaudio")
    assert max_difference(audio, TORCHAUDIO["out_44100"]) <= TOLERANCE
    # a cut read (max_seconds) keeps every sample it returns
    cut = load_audio(path, sample_rate=16000, resampler="torchaudio", max_seconds=0.0)
    np.testing.assert_array_equal(cut, audio[:cut.size])


def test_resamplers_are_named_and_differ():
    mono = to_mono(TORCHAUDIO["in_22050"].T)
    with pytest.raises(ParameterError, match=r"resampler must be one of \['soxr', 'torchaudio'\]"):
        resample(mono, orig_sr=22050, target_sr=16000, resampler="sinc")
    soxr_out = resample(mono, orig_sr=22050, target_sr=16000)
    assert soxr_out.size == 871 and TORCHAUDIO["out_22050"].size == 872  # round vs ceil
    assert np.abs(soxr_out - TORCHAUDIO["out_22050"][:871]).max() > 1e-2  # near Nyquist
    same = resample(mono, orig_sr=16000, target_sr=16000, resampler="torchaudio")
    assert same is mono


def test_an_audio_model_that_names_no_resampler_keeps_soxr(tiny_scorer, tmp_path):
    """MusicGen's tokenizer declares nothing: files and arrays are resampled with soxr, as before."""
    import soxr

    from noiseloss.runner.run import read_source
    from noiseloss.sources.datasets import Item

    assert tiny_scorer.resampler == "soxr"
    assert tiny_scorer.tokenizer.describe()["resampler"] == "soxr"
    clip = TORCHAUDIO["in_44100"]
    expected = soxr.resample(to_mono(clip.T), 44100, 32000, quality="VHQ").astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, clip.T, 44100, subtype="FLOAT")
    np.testing.assert_array_equal(tiny_scorer.load(path), expected)
    np.testing.assert_array_equal(tiny_scorer.load(clip.T, sample_rate=44100), expected)
    item = Item("d", "stereo", "audio", str(path))
    audio, _ = read_source(item, sample_rate=tiny_scorer.sample_rate,
                           resampler=tiny_scorer.resampler)
    np.testing.assert_array_equal(audio, expected)
    assert tiny_scorer.perturb_context().resampler == "soxr"
