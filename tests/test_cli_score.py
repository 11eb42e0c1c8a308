"""`noiseloss score` end to end on a tiny model saved to a directory."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import soundfile as sf


def run_cli(*args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "noiseloss.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, check=False)


def test_score_cli_writes_table_and_provenance_and_skips_a_corrupt_file(tmp_path, tiny_model_dir):
    rng = np.random.default_rng(0)
    good = []
    for name, seconds in [("a.wav", 0.5), ("b.flac", 0.3)]:
        path = tmp_path / name
        sf.write(path, 0.1 * rng.standard_normal(int(32000 * seconds)), 32000)
        good.append(path)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF....WAVEfmt " + bytes(20))
    out = tmp_path / "out"
    proc = run_cli("score", good[0], corrupt, good[1], "--model", tiny_model_dir, "--out", out)
    assert proc.returncode == 1, proc.stderr
    assert "corrupt.wav" in proc.stderr and "cannot read audio" in proc.stderr

    table = pq.read_table(out / "nll.parquet").to_pandas()
    assert {"item", "codebook", "frame", "nll"} <= set(table.columns)
    frames = {str(good[0]): math.ceil(16000 / 640), str(good[1]): math.ceil(9600 / 640)}
    assert set(table["item"]) == set(frames)
    for item, n in frames.items():
        rows = table[table["item"] == item]
        assert len(rows) == 4 * n and rows["frame"].max() == n - 1
        assert np.isfinite(rows["nll"]).all()

    prov = json.loads((out / "provenance.json").read_text())
    assert prov["model"]["dtype"] == "float32" and prov["model"]["device"] == "cpu"
    assert len(prov["model"]["weights_sha256"]) == 64
    assert prov["versions"]["torch"] and prov["versions"]["transformers"]
    assert list(prov["failed"]) == [str(corrupt)]
    item = prov["items"][str(good[0])]
    assert item["conditioning"] == "unconditional" and item["alignment"] == "delayed"
    # the table and the recorded loss agree: mean over codebooks of per-codebook means
    rows = table[table["item"] == str(good[0])]
    assert abs(item["loss"] - rows.groupby("codebook")["nll"].mean().mean()) < 1e-6


def test_score_cli_missing_model_is_a_clear_error(tmp_path):
    proc = run_cli("score", tmp_path / "x.wav", "--model", tmp_path / "nope", "--out", tmp_path)
    assert proc.returncode == 2
    assert "never downloads" in proc.stderr


def test_help_lists_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0 and "score" in proc.stdout


def test_listing_models_imports_no_torch():
    code = ("import sys; from noiseloss.cli.main import main; main(['models']); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("demo\t")


def test_text_on_a_model_without_text_fails_once_before_any_file(tmp_path):
    clips = []
    for name in ("a.wav", "b.wav"):
        sf.write(tmp_path / name, np.zeros(3200), 32000)
        clips.append(tmp_path / name)
    proc = run_cli("score", *clips, "--model", "demo", "--text", "calm piano", "--out",
                   tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr.count("has no text conditioning") == 1
    assert not (tmp_path / "out").exists()


def test_an_out_that_is_a_file_fails_before_scoring(tmp_path, capsys):
    from noiseloss.cli.main import main

    (tmp_path / "taken").write_text("x")
    assert main(["score", str(tmp_path / "missing.wav"), "--model", "demo", "--out",
                 str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert "exists and is not a folder" in err and "missing.wav" not in err


def test_ctrl_c_exits_130_and_a_missing_extra_is_named(tmp_path, monkeypatch):
    """Ctrl-C is 130 (1 means failed items); a missing optional dependency names its extra."""
    from noiseloss.cli import main as cli_main

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr("noiseloss.config.builtin_configs", interrupted)
    assert cli_main.main(["configs"]) == 130
    score = tmp_path / "in.mid"
    score.write_bytes(b"MThd")
    code = ("import sys; sys.modules['pretty_midi'] = None; "
            "from noiseloss.cli.main import main; "
            f"sys.exit(main(['perturb', {str(score)!r}, '--kind', 'note-delete', '-p', "
            f"'ratio=0.5', '--out', {str(tmp_path / 'out.mid')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2, proc.stderr
    assert "needs pretty_midi, which is not installed: pip install 'noiseloss[perturb]'" in \
        proc.stderr and "Traceback" not in proc.stderr
