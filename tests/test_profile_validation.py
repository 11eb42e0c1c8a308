"""``benchmarks/profile_validation.py --tiny``: the model-level part on the tiny recipe's checkpoints."""

import json
import runpy
from pathlib import Path

import pandas as pd
import pytest

from noiseloss.analysis.profile import metrics_of

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "profile_validation.py"


@pytest.mark.slow
def test_model_level_validation_on_the_tiny_checkpoints(tmp_path, capsys):
    main = runpy.run_path(str(BENCHMARK))["main"]
    assert main(["--tiny", "--skip-clips", "--out", str(tmp_path), "--resamples", "50"]) == 0
    table = pd.read_csv(tmp_path / "model_metrics.csv")
    assert sorted(table["step"].unique()) == [3, 6, 9, 12]
    model = metrics_of("model")
    assert set(table["metric"]) == set(model) and len(table) == 4 * len(model)
    # the validation loss printed beside each checkpoint is the one its training logged
    steps = sorted((tmp_path / "tiny-build" / "checkpoints").glob("*/steps/step-*"))
    for folder in steps:
        record = json.loads((folder / "metrics.json").read_text())["training"]
        rows = table[table["step"] == record["step"]]
        assert rows["validation_loss"].tolist() == pytest.approx(
            [record["validation_loss"]] * len(model))
    # every checkpoint scored the 2 tiny ood clips; a clip counts where its Peak was found. The
    # tiny build writes Ogg clips with a random stream serial, so their bytes, hence the noise
    # seeds drawn from them, change from build to build: 1 or 2 clips
    onset = table[table["metric"] == "onset_sensitivity"]
    assert onset["n_clips"].between(1, 2).all() and onset["value"].notna().all()
    both = onset[onset["n_clips"] == 2]
    assert ((both["ci_low"] <= both["value"]) & (both["value"] <= both["ci_high"])).all()
    assert table.loc[table["metric"] == "clean_loss", "n_clips"].eq(2).all()
    out = capsys.readouterr().out
    assert "rho(step)" in out and out.count("(4 checkpoints)") == len(model)
    # every checkpoint's injections leave KL curves: its context memory is measured
    memory = table[table["metric"] == "tau_half"]
    assert memory["value"].notna().all() and (memory["value"] > 0).all()
