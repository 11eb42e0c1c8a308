"""The shipped demo model and data sets: offline loading, scoring every clip, package limits."""

import json
import math
import socket

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from noiseloss.demo.data import ASSETS, DATASETS, dataset_files, manifest
from noiseloss.errors import DependencyError, ModelLoadError, ParameterError


@pytest.fixture
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def demo():
    from noiseloss.models import load_model

    return load_model("demo")


def test_load_demo_round_trip(demo):
    from noiseloss.models.hub import weights_sha256
    from noiseloss.models.musicgen import MusicgenScorer
    from noiseloss.tokenizers.spectral import SpectralTokenizer

    metrics = json.loads((ASSETS / "metrics.json").read_text())
    assert isinstance(demo, MusicgenScorer) and demo.name == "demo"
    assert not demo.decoder.training
    special = demo.layouts["delayed"].pad_id
    assert special == demo.tokenizer.codebook_size == metrics["tokenizer"]["codebook_size"]
    assert (demo.sample_rate, demo.tokenizer.hop_length, demo.num_codebooks) == (32000, 640, 4)
    prov = demo.provenance()
    assert prov["model_id"] == "demo"
    assert prov["weights_sha256"] == weights_sha256(ASSETS / "model")
    assert prov["tokenizer_sha256"] == metrics["tokenizer"]["sha256"]
    assert SpectralTokenizer.load(ASSETS / "tokenizer").sha256() == prov["tokenizer_sha256"]
    assert prov["parameters"] == metrics["training"]["parameters"]
    assert 1_000_000 < prov["parameters"] < 10_000_000


def test_shipped_assets_respect_the_size_limits():
    weights = sum(p.stat().st_size for p in (ASSETS / "model").glob("*.safetensors"))
    audio = sum(p.stat().st_size for name in DATASETS for p in dataset_files(name))
    assert 0 < weights <= 25e6
    assert 0 < audio <= 15e6


def test_shipped_model_passes_the_quality_gates_of_its_card():
    """Validation NLL per token: 1.0 nat under unigram, 0.25 under the best bigram, 1.5 under init."""
    metrics = json.loads((ASSETS / "metrics.json").read_text())
    ev = metrics["evaluation"]["validation"]
    assert ev["tokens"] > 100_000
    assert ev["unigram_add_one"] - ev["model"] >= 1.0
    assert min(ev["bigram_add_one"], ev["bigram_dirichlet"]) - ev["model"] >= 0.25
    assert ev["untrained"] - ev["model"] >= 1.5
    assert all(gate["passed"] for gate in metrics["evaluation"]["gates"].values())
    card = (ASSETS / "MODEL_CARD.md").read_text()
    assert f"{ev['model']:.3f}" in card and "FAIL" not in card


def test_half_precision_on_cpu_is_refused_before_loading():
    from noiseloss.models import load_model

    with pytest.raises(ParameterError, match="dtype 'float16' is only supported on GPU"):
        load_model("demo", dtype="float16", device="cpu")


@pytest.mark.parametrize("name", DATASETS)
def test_datasets_are_15_s_32_khz_mono_with_a_manifest(name):
    files = dataset_files(name)
    records = manifest(name)
    assert len(files) >= 15
    assert files == sorted(files)
    assert [r["file"] for r in records] == [f.name for f in files]
    for path, record in zip(files, records, strict=True):
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.frames) == (32000, 1, 15 * 32000)
        assert record["licence"] and record["composer"] and record["instrument"]
    if name == "generated":
        assert {r["top_k"] for r in records} == {10, 50, 100, 250, 500}
    else:
        assert all(r["source"] and r["split"] == name for r in records)


def test_ood_and_train_sets_are_disjoint_in_composers_and_timbre():
    train = manifest("train")
    ood = manifest("ood")
    assert not {r["collection"] for r in train} & {r["collection"] for r in ood}
    assert "Vibraphone" in {r["instrument"] for r in ood}
    assert "Vibraphone" not in {r["instrument"] for r in train}


def test_unknown_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(ParameterError, match="dataset must be one of"):
        dataset_files("validation")
    with pytest.raises(DependencyError, match="noiseloss demo-model build"):
        dataset_files("train", assets=tmp_path)


def test_missing_assets_say_how_to_build(tmp_path):
    from noiseloss.models.demo import load_demo

    with pytest.raises(ModelLoadError, match="noiseloss demo-model build"):
        load_demo(assets=tmp_path)


def test_score_cli_on_every_shipped_clip_offline(tmp_path, offline, demo):
    from noiseloss.cli.main import main

    files = [p for name in DATASETS for p in dataset_files(name)]
    assert main(["score", *map(str, files), "--model", "demo", "--out", str(tmp_path)]) == 0
    table = pq.read_table(tmp_path / "nll.parquet").to_pandas()
    assert set(table["item"]) == set(map(str, files))
    frames = math.ceil(15 * 32000 / 640)
    sizes = table.groupby("item").size()
    assert (sizes == 4 * frames).all()
    assert np.isfinite(table["nll"]).all() and (table["nll"] >= 0).all()
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["model"]["model_id"] == "demo"
    # held-in excerpts are more likely than held-out composers/timbre (2.66 vs 3.60 nats at build)
    mean = {name: np.mean([prov["items"][str(p)]["loss"] for p in dataset_files(name)])
            for name in DATASETS}
    assert mean["train"] < mean["ood"] - 0.2
    assert mean["train"] == pytest.approx(2.665, abs=0.01)
    # the scorer reproduces the command's numbers for one clip, codes included
    one = demo.score(files[0])
    rows = table[table["item"] == str(files[0])].sort_values(["codebook", "frame"])
    np.testing.assert_allclose(rows["nll"].to_numpy().reshape(4, frames), one.nll, rtol=1e-5)


def test_a_weight_file_is_hashed_once_until_it_changes(tmp_path, monkeypatch):
    """The digest of a checkpoint is kept in the user cache under (path, size, mtime, inode):
    an unchanged folder is not read again (even by another process: the cache is a file), and a
    change of any of them hashes again. Observed by the count of files hashed, not by time."""
    import hashlib
    import os

    from noiseloss.models import hub

    monkeypatch.setenv("NOISELOSS_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    folder.mkdir()
    weights = folder / "model.safetensors"
    weights.write_bytes(b"\x01" * 1000)
    expected = hashlib.sha256(b"model.safetensors" + b"\x01" * 1000).hexdigest()

    def digest_and_reads():
        before = hub.files_hashed
        return hub.weights_sha256(folder), hub.files_hashed - before

    assert digest_and_reads() == (expected, 1)
    assert digest_and_reads() == (expected, 0)  # cached
    assert (tmp_path / "cache" / "weights-sha256.json").is_file()
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # same size, new mtime
    assert digest_and_reads() == (expected, 1)
    weights.write_bytes(b"\x02" * 1000)  # same size, new content (and mtime)
    changed = hashlib.sha256(b"model.safetensors" + b"\x02" * 1000).hexdigest()
    assert digest_and_reads() == (changed, 1)
    replaced = folder / "other.bin"  # a new inode under the old name: hashed again
    replaced.write_bytes(b"\x02" * 1000)
    stat = weights.stat()
    replaced.replace(weights)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert weights.stat().st_size == stat.st_size and weights.stat().st_ino != stat.st_ino
    assert digest_and_reads() == (changed, 1)
    (tmp_path / "cache" / "weights-sha256.json").write_text("{not json")  # a broken cache
    assert digest_and_reads() == (changed, 1)
