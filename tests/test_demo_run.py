"""End to end on the built-in demo model: `noiseloss run paper-noise` (what `make demo` runs)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq


def run_config(name, out, *extra, timeout):
    """``noiseloss run NAME --out OUT`` offline in a subprocess."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "noiseloss.cli.main", "run", name, "--out",
                           str(out), *extra], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def test_paper_noise_on_the_demo_model(tmp_path):
    out = tmp_path / "demo"
    proc = run_config("paper-noise", out, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "units: 315 done, 0 skipped (already stored), 0 failed" in log
    # the length-delta correlations are printed, whatever their sign
    trends = re.findall(r"^\s+(large|small) .*loss_delta: n=(\d+) pearson r=([+-]\d\.\d{3})", log,
                        flags=re.M)
    assert sorted((s, int(n)) for s, n, _ in trends) == [("large", 18), ("small", 6)]
    assert all(-1.0 <= float(r) <= 1.0 for _, _, r in trends)

    results = pq.read_table(out / "results.parquet")
    assert results.num_rows == 315  # 45 clips x (clean + 6 lengths)
    for name in ("deltas", "sequence", "regions", "stats_large", "stats_small"):
        assert pq.read_table(out / "tables" / f"{name}.parquet").num_rows > 0
    figures = json.loads((out / "figures" / "index.json").read_text())
    assert {"fig3-token-loss", "fig4-regions"} <= set(figures)
    assert any(name.startswith("fig2-delta-vs-length") for name in figures)
    for entry in figures.values():
        for kind in ("png", "pdf"):
            assert (out / "figures" / entry[kind]).stat().st_size > 5000
    report = out / "report" / "index.html"
    assert report.is_file() and f"report  -> {report}" in log
    size = sum(p.stat().st_size for p in (out / "report").rglob("*") if p.is_file())
    assert size < 30e6, f"report is {size / 1e6:.1f} MB"

    # the folder's config.yaml is the experiment: rerunning it reuses everything
    from noiseloss.config import load_config

    assert load_config(out / "config.yaml") == load_config("paper-noise")
    again = run_config(str(out / "config.yaml"), out, "--no-report", timeout=600)
    assert again.returncode == 0
    assert "units: 0 done, 315 skipped (already stored), 0 failed" in again.stderr


def test_midi_edits_config_renders_edits_and_draws_their_boxes(tmp_path):
    out = tmp_path / "midi"
    proc = run_config("midi-edits", out, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "units: 32 done, 0 skipped (already stored), 0 failed" in proc.stderr
    results = pq.read_table(out / "results.parquet").to_pandas()
    edits = results[results["kind"] != "clean"]
    assert sorted(edits["kind"].unique()) == ["note-delete", "tempo-warp", "velocity"]
    for _, row in edits.iterrows():
        params = json.loads(row["params"])
        if row["kind"] in ("note-delete", "velocity"):  # the requested fraction, +- one note
            assert abs(params["changed_notes"] - params["ratio"] * params["num_notes"]) <= 1
        # its span: where the notes differ, in seconds of the excerpt, on the model's frames
        onset, length = row["onset_seconds"], row["length_seconds"]
        assert 0 <= onset < onset + length <= 15.0 + 1e-9
        assert row["onset_frame"] == int(np.floor(onset * 50 + 1e-9))
        assert row["onset_frame"] + row["length_frames"] == min(int(np.ceil((onset + length) * 50
                                                                            - 1e-9)), 750)
    sequence = pq.read_table(out / "tables" / "sequence.parquet").to_pandas()
    assert len(sequence) == 24 and sequence["loss_delta"].notna().all()
    assert sequence["perturbation_frames"].isna().all()  # edits without a length: no trend test
    regions = pq.read_table(out / "tables" / "regions.parquet").to_pandas()
    assert len(regions) == 24 * 3 and set(regions["kind"]) == {"note-delete", "tempo-warp",
                                                                 "velocity"}
    figures = json.loads((out / "figures" / "index.json").read_text())
    # the edits' boxes and regions, the clip metrics of the clean scores; no length trend
    assert {"families-delta", "profile-demo", "fig4-regions"} <= set(figures)
    assert not any(name.startswith("length-") for name in figures)
    assert (out / "report" / "index.html").is_file()


def test_symbolic_noise_on_the_symbolic_models(tmp_path):
    """The paper's noise grid in seconds on demo-midi and ppm: one time axis, regions, trends."""
    out = tmp_path / "symbolic"
    proc = run_config("symbolic-noise", out, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "units: 630 done, 0 skipped (already stored), 0 failed" in log  # 2 x 45 x 7
    results = pq.read_table(out / "results.parquet").to_pandas()
    assert set(results["model"]) == {"demo-midi", "ppm"}
    assert (results["modality"] == "symbolic").all() and results["frame_rate"].isna().all()
    noisy = results[results["kind"] == "note-noise"]
    # the span of the notes changed: from the onset, at most the length asked for
    assert (noisy["onset_seconds"] == 5.0).all()
    assert ((noisy["length_seconds"] > 0) & (noisy["length_seconds"] <= 4.0 + 1e-9)).all()
    # lengths in seconds carry the trend tests of a model without frames
    sequence = pq.read_table(out / "tables" / "sequence.parquet").to_pandas()
    assert sequence["perturbation_frames"].isna().all()
    assert sorted(sequence["perturbation_seconds"].unique()) == [0.1, 0.2, 1.0, 2.0, 3.0, 4.0]
    small = pq.read_table(out / "tables" / "stats_small.parquet").to_pandas()
    row = small[small["metric"] == "loss_delta"].iloc[0]
    assert row["lengths"] == "0.1,0.2,1,2,3,4" and row["n_points"] == 6
    assert -1.0 <= row["pearson_r"] <= 1.0 and 0.0 < row["pearson_p"] <= 1.0
    regions = pq.read_table(out / "tables" / "regions.parquet").to_pandas()
    found = regions[regions["found"]]
    assert not found.empty and (found["start_seconds"] >= 5.0 - 1e-9).all()  # from the onset
    # a found region holds events; in seconds it may have no length (the notes of one chord)
    assert (found["region_frames"] > 0).all()
    assert (found["end_seconds"] >= found["start_seconds"]).all()
    figures = json.loads((out / "figures" / "index.json").read_text())
    assert {"fig3-token-loss", "fig4-regions"} <= set(figures)
    assert any(name.startswith("length-delta-vs-length") for name in figures)
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    for length in ("0.1", "4"):  # the findings name lengths in seconds
        assert f"{length} s: loss fell in" in page
