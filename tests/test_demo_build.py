"""The ``--tiny`` recipe end to end: corpus, tokenizer, training, evaluation, data sets, card."""

import json
import math

import numpy as np
import pytest


@pytest.mark.slow
def test_tiny_recipe_end_to_end_and_deterministic(tmp_path):
    from noiseloss.cli.main import main
    from noiseloss.demo.data import DATASETS, dataset_files, manifest
    from noiseloss.models.demo import load_demo

    work = tmp_path / "work"
    assert main(["demo-model", "build", "--tiny", "--work", str(work), "--seed", "0"]) == 0
    assets = work / "assets"
    metrics = json.loads((assets / "metrics.json").read_text())
    assert metrics["mode"] == "tiny" and metrics["total_seconds"] > 0
    for name in ("MODEL_CARD.md", "curves.png", "training_curve.jsonl", "model/config.json",
                 "model/model.safetensors", "tokenizer/codebooks.npy"):
        assert (assets / name).is_file(), name
    card = (assets / "MODEL_CARD.md").read_text()
    val = metrics["evaluation"]["validation"]
    assert f"**{val['model']:.3f}**" in card and "Quality gate" in card
    for key in ("model", "untrained", "unigram_add_one", "bigram_add_one", "bigram_dirichlet"):
        assert math.isfinite(val[key]) and val[key] > 0
    # an untrained model is close to uniform over the codebook
    assert abs(val["untrained"] - math.log(metrics["tokenizer"]["codebook_size"])) < 0.5
    assert set(metrics["corpus"]["collections_per_split"]["ood"]).isdisjoint(
        metrics["corpus"]["collections_per_split"]["train"])

    scorer = load_demo(assets=assets)
    # the windows its card records (the tiny recipe's crop length; 750 for the shipped model)
    assert (scorer.options.window_frames, scorer.options.stride_frames) == (100, 50)
    for name in DATASETS:
        files = dataset_files(name, assets=assets)
        assert [r["file"] for r in manifest(name, assets=assets)] == [f.name for f in files]
        assert len(files) == 2
    clip = dataset_files("generated", assets=assets)[0]
    result = scorer.score(clip)
    assert result.nll.shape == (4, math.ceil(result.num_samples / 640))
    assert np.isfinite(result.nll).all()

    # the build's folder is a model for every command: `--model DIR`, as `demo -m assets=DIR`
    import pyarrow.parquet as pq

    assert main(["score", str(clip), "--model", str(assets), "--out", str(tmp_path / "s")]) == 0
    scored = pq.read_table(tmp_path / "s" / "nll.parquet").to_pandas()
    np.testing.assert_allclose(np.sort(scored["nll"].to_numpy()), np.sort(result.nll.ravel()),
                               atol=1e-5)

    # the kept intermediate checkpoints: every 3 steps, each loadable as a demo model folder
    from noiseloss.models import model_info

    kept = sorted((work / "checkpoints").glob("*/steps/step-*"))
    assert [p.name for p in kept] == ["step-00003", "step-00006", "step-00009", "step-00012"]
    curve = [json.loads(line) for line in
             (assets / "training_curve.jsonl").read_text().splitlines()]
    infos = [model_info("demo", assets=str(p)) for p in kept]
    assert len({i.identity["weights_sha256"] for i in infos}) == 4
    assert infos[-1].identity["weights_sha256"] == model_info(
        "demo", assets=str(assets)).identity["weights_sha256"]
    for folder, record in zip(kept, curve, strict=True):
        assert json.loads((folder / "metrics.json").read_text())["training"] == record

    # rerun: reuses the rendered corpus and the checkpoint, and reproduces every number
    assert main(["demo-model", "build", "--tiny", "--work", str(work), "--seed", "0"]) == 0
    again = json.loads((assets / "metrics.json").read_text())
    assert again["evaluation"] == metrics["evaluation"]
    assert again["tokenizer"]["sha256"] == metrics["tokenizer"]["sha256"]
