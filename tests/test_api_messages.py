"""Library errors name the API's own arguments (``run_dir``, ``context``, ``window_frames``,
``device``), never a command-line flag; the CLI words them with its flags where it helps."""

from __future__ import annotations

import fcntl

import numpy as np
import pytest

from noiseloss.errors import ParameterError


def _no_flag(exc_info) -> str:
    message = str(exc_info.value)
    assert "--" not in message, message
    return message


def test_the_run_lock_names_run_dir(tmp_path):
    from noiseloss.store.lock import LOCK_NAME, run_lock

    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="exists and is not a folder") as exc:
        with run_lock(tmp_path / "file" / "run"):
            pass
    assert "run_dir" in _no_flag(exc)
    folder = tmp_path / "run"
    folder.mkdir()
    with open(folder / LOCK_NAME, "a+", encoding="utf-8") as holder:  # another writer
        holder.write("12345")
        holder.flush()
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ParameterError, match=r"pid 12345.*another run_dir") as exc:
            with run_lock(folder):
                pass
    _no_flag(exc)


def test_a_perturbation_without_the_model_it_needs_names_the_context(tmp_path, capsys):
    from noiseloss.cli.main import main
    from noiseloss.perturb import PerturbContext, perturb_with

    context = PerturbContext(sample_rate=32000, hop_length=640)
    codes = np.zeros((4, 100), dtype=np.int64)
    with pytest.raises(ParameterError, match="token-noise needs the model's encode") as exc:
        perturb_with(codes, {"kind": "token-noise", "onset_frames": 10, "length_frames": 5},
                     context=context, seed=0)
    assert "perturb_context()" in _no_flag(exc)
    with pytest.raises(ParameterError, match="needs a model's encode") as exc:
        context.need("encode", why="scoring audio")
    _no_flag(exc)
    np.save(tmp_path / "codes.npy", codes)  # the CLI names its flag instead
    assert main(["perturb", str(tmp_path / "codes.npy"), "--kind", "token-noise",
                 "--onset-frames", "10", "--length-frames", "5", "--out",
                 str(tmp_path / "n.npy")]) == 2
    err = capsys.readouterr().err
    assert "give a model (--model)" in err and "perturb_context" not in err


def test_an_unavailable_device_names_the_device_option():
    import torch

    from noiseloss.models.hub import resolve_device

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ParameterError, match="no CUDA device") as exc:
        resolve_device("cuda")
    assert "device 'cpu'" in _no_flag(exc)


def test_a_window_that_does_not_fit_names_window_frames(tiny_model_dir, monkeypatch):
    from noiseloss.models import load_model
    from test_batching import _codes, _spy

    scorer = load_model(str(tiny_model_dir), batch_size=2)
    _spy(scorer, monkeypatch, fits=0)
    with pytest.raises(ParameterError, match="does not fit") as exc:
        scorer.score_codes(_codes(2, [30, 30]))
    assert "window_frames" in _no_flag(exc)


def test_profile_names_out_dir(tmp_path):
    from noiseloss.profiling import profile

    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="exists and is not a folder") as exc:
        profile(["demo:train"], out_dir=tmp_path / "file")
    assert "out_dir" in _no_flag(exc) and "run_dir" not in str(exc.value)
