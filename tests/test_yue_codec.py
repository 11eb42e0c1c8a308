"""YuE's codec folder and prompt tokenizer as YuE distributes them, against YuE's own code.

``tests/fixtures/yue`` holds what YuE's own ``SoundStream.encode`` and ``mmtokenizer`` gave on
seeded random weights and a tiny SentencePiece model (``make_fixtures.py`` says how it was made).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
import types
import typing
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from noiseloss.errors import ModelLoadError
from noiseloss.models.yue import IDS

FIXTURES = Path(__file__).parent / "fixtures" / "yue"
_spec = importlib.util.spec_from_file_location("yue_fixtures", FIXTURES / "make_fixtures.py")
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)
CODEC = json.loads((FIXTURES / "codec.json").read_text(encoding="utf-8"))
TEXT = json.loads((FIXTURES / "text.json").read_text(encoding="utf-8"))
SR = 16000


def omegaconf_state(monkeypatch) -> dict:
    """An optimiser state whose betas pickle as omegaconf objects, as YuE's checkpoint does.

    Stand-ins registered as ``omegaconf.*`` modules (omegaconf itself is not installed here),
    holding the builtin types and ``typing.Any`` an omegaconf node pickles.
    """
    classes = {}
    monkeypatch.setitem(sys.modules, "omegaconf", types.ModuleType("omegaconf"))
    for module, name in (("omegaconf.listconfig", "ListConfig"), ("omegaconf.dictconfig", "DictConfig"),
                         ("omegaconf.nodes", "AnyNode"), ("omegaconf.base", "ContainerMetadata")):
        mod = types.ModuleType(module)
        classes[name] = type(name, (), {"__module__": module})
        setattr(mod, name, classes[name])
        monkeypatch.setitem(sys.modules, module, mod)
    betas, parent, meta = classes["ListConfig"](), classes["DictConfig"](), classes["ContainerMetadata"]()
    meta.__dict__.update(ref_type=typing.Any, object_type=list, key_type=int, flags=defaultdict(dict))
    parent.__dict__.update(_metadata=meta, _content={"lr": 1e-4})
    nodes = [classes["AnyNode"]() for _ in range(2)]
    for node, value in zip(nodes, (0.8, 0.99), strict=True):
        node.__dict__.update(_val=value, _metadata=meta)
    betas.__dict__.update(_metadata=meta, _parent=parent, _content=nodes)
    return {"optimizer_g": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": betas}]},
            "epoch": 3, "steps": 360000}


@pytest.fixture(scope="module")
def codec_dir(tmp_path_factory):
    """YuE's codec folder (config.yaml, a .pth with 'codec_model' and a training state, a tiny
    HuBERT config) with the fixture's seeded weights."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return make.write_codec_folder(CODEC, tmp_path_factory.mktemp("yue") / "xcodec_mini_infer",
                                       training_state=omegaconf_state(monkeypatch))


@pytest.fixture(scope="module")
def codec(codec_dir):
    from noiseloss.models.yue_codec import load_codec

    return load_codec(codec_dir, device="cpu", name="test codec")


def test_codes_equal_those_of_yues_own_encoder(codec, codec_dir):
    from noiseloss.models.yue import XcodecTokenizer

    checkpoint = codec_dir / "final_ckpt" / "ckpt_00360000.pth"
    assert "omegaconf.listconfig.ListConfig" in torch.serialization.get_unsafe_globals_in_checkpoint(
        str(checkpoint))  # the stand-ins were exercised
    assert codec.config.num_quantizers == 12 and codec.config.hop_length == 320
    tokenizer = XcodecTokenizer(codec, stage=2)
    assert {c["padded_rerun"] for c in CODEC["clips"]} == {True, False}
    assert {c["samples"] % 320 in range(1, 80) for c in CODEC["clips"]} == {True, False}
    for clip in CODEC["clips"]:
        audio = make.clip(clip["samples"], clip["seed"], clip["amplitude"])
        for bandwidth, expected in clip["codes"].items():
            np.testing.assert_array_equal(tokenizer._codes(audio, float(bandwidth)), expected,
                                          err_msg=f"{clip['samples']} samples, {bandwidth} kbps")


def test_frame_count_is_the_codecs(codec):
    """floor((S + 240) / 320) frames: one fewer than ceil(S / 320) for S % 320 in [1, 79]."""
    from noiseloss.models.yue import XcodecTokenizer

    tokenizer = XcodecTokenizer(codec, stage=2)
    for samples in (1, 79, 80, 319, 320, 321, 399, 400, 16000, 16001, 16079, 16080, 16319):
        assert tokenizer.num_frames(samples) == (samples + 240) // 320, samples
    clip = next(c for c in CODEC["clips"] if c["samples"] % 320 in range(1, 80))
    tokens = tokenizer.tokenize(make.clip(clip["samples"], clip["seed"], clip["amplitude"]))
    assert len(tokens.axis) == len(clip["codes"]["4"][0]) < -(-clip["samples"] // 320)
    np.testing.assert_array_equal(tokens.ids, clip["codes"]["4"])


@pytest.fixture(scope="module")
def stage2(codec_dir, tmp_path_factory):
    """YuE stage 2 on YuE's codec folder and a tiny YuE-shaped Llama, loaded as users load it."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from noiseloss import load_model

    folder = tmp_path_factory.mktemp("llama")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=83968, hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                 max_position_embeddings=16384)).save_pretrained(folder)
    return load_model(str(folder), backend="yue-s2", model_options={"codec": str(codec_dir)})


def test_a_44k_file_gets_the_codes_of_yues_own_loading(stage2, tmp_path):
    """A stereo 44.1 kHz file, read as noiseloss reads sources, is encoded as YuE would encode it.

    YuE averages the channels and resamples with torchaudio (``fixtures/resample``, made with
    torchaudio): the codes of a file read by ``noiseloss score`` and by the runner equal those of
    that audio; soxr's audio gives other codes.
    """
    from noiseloss.runner.run import read_source
    from noiseloss.sources.audio import resample, to_mono
    from noiseloss.sources.datasets import Item

    fixture = np.load(FIXTURES.parent / "resample" / "torchaudio.npz")
    clip, yues = fixture["in_44100"], fixture["out_44100"]
    path = tmp_path / "stereo-44k.wav"
    sf.write(path, clip.T, 44100, subtype="FLOAT")
    expected = stage2.encode(yues)
    assert stage2.resampler == "torchaudio" and expected.shape == (8, 8)
    read = read_source(Item("d", "clip", "audio", str(path)), sample_rate=stage2.sample_rate,
                       resampler=stage2.resampler)
    for audio in (stage2.load(path), read[0]):
        assert np.abs(audio - yues).max() <= 1e-6
        np.testing.assert_array_equal(stage2.encode(audio), expected)
    with_soxr = stage2.encode(resample(to_mono(clip.T), orig_sr=44100, target_sr=16000))
    assert (with_soxr != expected).any()
    assert stage2.provenance()["tokenizer"]["resampler"] == "torchaudio"


class WritesAFile:
    """Unpickling this object would create ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def small_codec_folder(root: Path, checkpoint: dict, **save) -> Path:
    """YuE's folder layout around ``checkpoint`` (config files of the fixture)."""
    (root / "final_ckpt").mkdir(parents=True)
    (root / "final_ckpt" / "config.yaml").write_text("generator: {config: {}}\n")
    torch.save(checkpoint, root / "final_ckpt" / "ckpt_00360000.pth", **save)
    (root / "semantic_ckpts" / "hf_1_325000").mkdir(parents=True)
    (root / "semantic_ckpts" / "hf_1_325000" / "config.json").write_text(
        json.dumps(CODEC["semantic_config"]))
    return root


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy-format"])
def test_a_checkpoint_that_would_run_code_is_refused_unread(zipped, tmp_path):
    from noiseloss.models.yue_codec import load_codec

    target = tmp_path / "written-by-the-pickle"
    folder = small_codec_folder(tmp_path / "codec", {
        "codec_model": {"w": torch.zeros(2)}, "optimizer_g": WritesAFile(target)},
        _use_new_zipfile_serialization=zipped)
    with pytest.raises(ModelLoadError, match="refused, nothing in it was run" if zipped else
                       "cannot be checked before it is read") as err:
        load_codec(folder, device="cpu", name="codec")
    assert str(folder / "final_ckpt" / "ckpt_00360000.pth") in str(err.value)
    assert not target.exists()
    if zipped:
        assert "open" in str(err.value)


def test_codec_folders_that_are_not_yues_are_named(tmp_path):
    from noiseloss.models.yue_codec import codec_sha256, load_codec

    with pytest.raises(ModelLoadError, match=f"codec {tmp_path / 'nowhere'} does not exist"):
        codec_sha256(tmp_path / "nowhere")
    folder = small_codec_folder(tmp_path / "codec", {"codec_model": {"w": torch.zeros(2)}})
    (folder / "semantic_ckpts" / "hf_1_325000" / "config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"hf_1_325000/config.json is missing"):
        codec_sha256(folder)
    (folder / "semantic_ckpts" / "hf_1_325000" / "config.json").write_text("{}")
    (folder / "final_ckpt" / "ckpt_00360000.pth").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:c8c3\nsize 1360444883\n")
    with pytest.raises(ModelLoadError, match="Git LFS pointer"):
        codec_sha256(folder)
    (folder / "final_ckpt" / "other.pth").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="must hold one .pth"):
        codec_sha256(folder)
    (folder / "final_ckpt" / "other.pth").unlink()
    torch.save({"codec_model": {"encoder.block.0.weight_v": torch.zeros(4, 1, 7)}},
               folder / "final_ckpt" / "ckpt_00360000.pth")
    with pytest.raises(ModelLoadError, match="cannot read .*config.yaml"):
        load_codec(folder, device="cpu", name="codec")


def tiny_tokenizer(folder) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tokenizer.model"
    path.write_bytes(gzip.decompress((FIXTURES / "tokenizer.model.gz").read_bytes()))
    return path


def test_prompt_tokenizer_gives_yues_ids(tmp_path):
    from noiseloss.models.yue import PromptTokenizer

    tok = PromptTokenizer(tiny_tokenizer(tmp_path))
    assert tok.special_ids == TEXT["specials"]
    for case in TEXT["texts"]:
        assert tok.encode(case["text"]) == case["ids"], repr(case["text"])
    tok.check_yue()  # its specials sit at YuE's ids
    assert {name: TEXT["yue_specials"][name] for name in ("<SOA>", "<EOA>", "<stage_1>", "<stage_2>")} \
        == {"<SOA>": IDS["soa"], "<EOA>": IDS["eoa"], "<stage_1>": IDS["stage_1"],
            "<stage_2>": IDS["stage_2"]}  # as YuE's mmtokenizer reads its own tokenizer.model


def llama_config_folder(root: Path) -> Path:
    """A folder that says LlamaForCausalLM (enough for ``model_info``: no weights are read)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"model_type": "llama",
                                                 "max_position_embeddings": 16384}))
    return root


def test_stage1_prompt_of_yues_tokenizer_model(tmp_path):
    from noiseloss.models import model_info

    stage1 = TEXT["stage1"]
    model = llama_config_folder(tmp_path / "llama")
    path = tiny_tokenizer(tmp_path / "mm_tokenizer_v0.2_hf")  # the file or its folder
    for given in (path, path.parent):
        info = model_info(str(model), backend="yue-s1", text_tokenizer=str(given),
                          genres=stage1["genres"], lyrics=stage1["lyrics"])
        assert info.details["prompt"] + [IDS["soa"], IDS["xcodec"]] == stage1["ids"]


def test_a_tokenizer_model_that_is_not_yues_is_named(tmp_path):
    import io

    import sentencepiece as spm

    from noiseloss.models import model_info

    model = llama_config_folder(tmp_path / "llama")
    written = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["some plain text here"] * 20),
                                   model_writer=written, vocab_size=18, hard_vocab_limit=False,
                                   minloglevel=2)
    (tmp_path / "other.model").write_bytes(written.getvalue())
    with pytest.raises(ModelLoadError, match=r"other.model is not YuE's prompt tokenizer"):
        model_info(str(model), backend="yue-s1", text_tokenizer=str(tmp_path / "other.model"))
    (tmp_path / "garbage.model").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="garbage.model: not a SentencePiece model"):
        model_info(str(model), backend="yue-s1", text_tokenizer=str(tmp_path / "garbage.model"))
    with pytest.raises(ModelLoadError, match="missing.model does not exist"):
        model_info(str(model), backend="yue-s1", text_tokenizer=str(tmp_path / "missing.model"))


def test_builtin_yue_configs_name_what_is_missing(tmp_path, monkeypatch, capsys):
    from noiseloss.cli.main import main
    from noiseloss.config import load_config

    for stage in (1, 2):
        (model,) = load_config(f"yue-s{stage}-noise").models
        assert model.backend == f"yue-s{stage}"
        assert model.options["codec"] == "YuE/inference/xcodec_mini_infer"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["run", "yue-s2-noise", "--out", "runs/a", "--no-report"]) == 2
    assert "model 'm-a-p/YuE-s2-1B-general' is neither a local directory nor in the local " \
           "Hugging Face cache" in capsys.readouterr().err
    cached = tmp_path / "hub" / "models--m-a-p--YuE-s2-1B-general"
    llama_config_folder(cached / "snapshots" / ("0" * 40))
    (cached / "refs").mkdir()
    (cached / "refs" / "main").write_text("0" * 40)
    for stage, missing in ((2, "codec YuE/inference/xcodec_mini_infer does not exist"),
                           (1, "text_tokenizer YuE/inference/mm_tokenizer_v0.2_hf/tokenizer.model "
                               "does not exist")):
        if stage == 1:
            (cached.parent / "models--m-a-p--YuE-s1-7B-anneal-en-cot").symlink_to(cached)
        assert main(["run", f"yue-s{stage}-noise", "--out", f"runs/{stage}", "--no-report"]) == 2
        assert missing in capsys.readouterr().err


def test_a_noise_grid_runs_on_yues_codec_folder(codec_dir, tmp_path):
    """Stage 2, a tiny YuE-shaped Llama and YuE's codec folder, through ``noiseloss run``."""
    import pyarrow.parquet as pq
    from transformers import LlamaConfig, LlamaForCausalLM

    from noiseloss.cli.main import main
    from noiseloss.models.yue_codec import codec_sha256

    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=83968, hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                 max_position_embeddings=16384)).save_pretrained(tmp_path / "llama")
    (tmp_path / "data").mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(t.size)
    sf.write(tmp_path / "data" / "song.wav", np.stack([tone, -0.5 * tone], 1).astype(np.float32), SR)
    config = tmp_path / "yue.json"
    config.write_text(json.dumps({
        "name": "yue-codec", "datasets": {"d": {"path": str(tmp_path / "data")}},
        "models": [{"name": str(tmp_path / "llama"), "backend": "yue-s2", "codec": str(codec_dir)}],
        "excerpt": {"seconds": 2.003},  # 32048 samples: 100 frames, not ceil(32048 / 320) = 101
        "perturbations": [{"kind": "noise", "onset_frames": 40, "level_db": -6.0,
                           "level_ref": "signal", "grid": {"length_frames": [10, 30]}}]}))
    assert main(["run", str(config), "--out", str(tmp_path / "run"), "--no-report"]) == 0
    rows = pq.read_table(tmp_path / "run" / "results.parquet").to_pylist()
    assert len(rows) == 3 and {(r["num_codebooks"], r["num_frames"]) for r in rows} == {(7, 100)}
    assert all(np.isfinite(r["nll"]).all() for r in rows)
    assert codec_sha256(codec_dir) in (tmp_path / "run" / "provenance.json").read_text()
