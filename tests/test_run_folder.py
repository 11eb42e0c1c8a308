"""The run folder under faults: unreadable store parts, two writers, umask, item identity."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from noiseloss.config import parse_config
from noiseloss.errors import ParameterError
from noiseloss.runner.run import run_experiment
from test_runner import base_config


@pytest.fixture
def clips(tmp_path):
    from conftest import write_tones

    return write_tones(tmp_path / "clips", count=3, seconds=1.2, base_hz=220, step_hz=50)


def _config(model_dir, data_dir, **over):
    raw = base_config(model_dir, data_dir, perturbations=[
        {"kind": "noise", "color": "white", "onset_frames": 10, "level_db": -10.0,
         "level_ref": "signal", "length_frames": 5}], **over)
    return parse_config(raw)


def _results(run_dir):
    table = pq.read_table(run_dir / "results.parquet").to_pandas()
    return table.sort_values("key").reset_index(drop=True)


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_an_unreadable_store_part_is_set_aside_and_its_units_recomputed(
        damage, tmp_path, tiny_model_dir, clips):
    config = _config(tiny_model_dir, clips)
    reference = run_experiment(config, tmp_path / "ref")
    run_dir = tmp_path / "run"
    run_experiment(config, run_dir)
    part = sorted((run_dir / "store").glob("part-*.parquet"))[1]
    data = part.read_bytes()
    part.write_bytes({"truncated": data[:len(data) // 2], "empty": b"",
                      "garbage": b"PAR1 not a parquet file"}[damage])
    summary = run_experiment(config, run_dir)
    assert summary.quarantined == {part.name: f"store/quarantine/{part.name}"}
    assert (run_dir / "store" / "quarantine" / part.name).read_bytes() != data
    assert summary.done == 2 and summary.failed == {}  # the clean unit + its one perturbation
    again, ref = _results(run_dir), _results(tmp_path / "ref")
    assert again["key"].tolist() == ref["key"].tolist() and reference.done == len(ref)
    for a, b in zip(again["nll"], ref["nll"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path, tiny_model_dir, clips):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from noiseloss.store.lock import run_lock\n"
         f"with run_lock({str(run_dir)!r}):\n    print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"  # an event, not a delay
        with pytest.raises(ParameterError, match=f"pid {holder.pid}.*is writing"):
            run_experiment(_config(tiny_model_dir, clips), run_dir)
        assert not (run_dir / "store").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # released when the holder exits: the run goes ahead
    assert run_experiment(_config(tiny_model_dir, clips), run_dir).done == 6


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755),
                                                         (0o027, 0o640, 0o750)])
def test_outputs_follow_the_umask(umask, file_mode, dir_mode, tmp_path, tiny_model_dir, clips):
    from noiseloss.analysis import analyze_run
    from noiseloss.report import write_report

    old = os.umask(umask)
    try:
        run_dir = tmp_path / "run"
        run_experiment(_config(tiny_model_dir, clips), run_dir)
        analyze_run(run_dir)
        write_report(run_dir)
    finally:
        os.umask(old)
    for path in (run_dir / "results.parquet", run_dir / "provenance.json",
                 run_dir / "tables" / "sequence.parquet", run_dir / "report" / "index.html",
                 next((run_dir / "store").glob("part-*"))):
        assert path.stat().st_mode & 0o777 == file_mode, path
    for path in (run_dir / "report", run_dir / "store", run_dir / "tables"):
        assert path.stat().st_mode & 0o777 == dir_mode, path
    # a build a killed report left behind is removed by the next one
    (run_dir / ".report-killed").mkdir()
    (run_dir / ".report-killed" / "index.html").write_text("half")
    write_report(run_dir)
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".report")] == []


def test_duplicate_data_sets_and_identical_files_stay_separate_items(tmp_path, tiny_model_dir,
                                                                    clips):
    shutil.copy(clips / "c0.wav", clips / "copy.wav")
    raw = base_config(tiny_model_dir, clips, perturbations=[])
    raw["datasets"] = {"a": {"path": str(clips)}, "b": {"path": str(clips)}}
    run_experiment(parse_config(raw), tmp_path / "run")
    results = _results(tmp_path / "run")
    assert sorted(zip(results["dataset"], results["item"], strict=True)) == [
        (d, f) for d in ("a", "b") for f in ("c0.wav", "c1.wav", "c2.wav", "copy.wav")]
    same = results[results["item"].isin(["c0.wav", "copy.wav"])]
    assert same["key"].nunique() == 4 and same["loss"].nunique() == 1  # one content, one score


def test_a_smaller_rerun_analyses_only_its_own_units(tmp_path, tiny_model_dir, clips):
    from noiseloss.analysis import analyze_run

    run_dir = tmp_path / "run"
    raw = base_config(tiny_model_dir, clips, perturbations=[])
    raw["datasets"] = {"a": {"path": str(clips)}, "b": {"path": str(clips), "limit": 1}}
    run_experiment(parse_config(raw), run_dir)
    assert len(_results(run_dir)) == 4
    del raw["datasets"]["b"]
    summary = run_experiment(parse_config(raw), run_dir)
    assert summary.skipped == 3 and summary.done == 0
    # a resumed run that scored nothing still records its model
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert list(provenance["models"]) == [str(tiny_model_dir)]
    assert provenance["models"][str(tiny_model_dir)]["weights_sha256"]
    assert sorted(_results(run_dir)["dataset"]) == ["a"] * 3
    assert set(analyze_run(run_dir)["profile_clips"]["dataset"]) == {"a"}
    # the earlier units stay in the store
    stored = sum(pq.read_metadata(p).num_rows for p in (run_dir / "store").glob("part-*"))
    assert stored == 4
