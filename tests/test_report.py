"""The HTML report: a synthetic run shaped like the demo run, with known losses and regions.

The run folder is built the way ``noiseloss run`` writes it (``results.parquet`` with the store's
schema, Ogg clips for the first items of each data set, provenance, config); the report then
derives tables and figures itself. The loss differences are exact step functions, so the losses
and regions shown in the page have closed forms.
"""

from __future__ import annotations

import hashlib
import html.parser
import io
import json
import os
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from noiseloss.errors import ParameterError

K, T, ONSET, RATE, SR, HOP = 4, 750, 250, 50.0, 32000, 640
LENGTHS = (5, 10, 50, 100, 150, 200)
DATASETS = ("generated", "ood", "train")
ITEMS_PER_DATASET, AUDIO_ITEMS = 5, 3
BASE_LOSS = 4.0
PEAK, PEAK_FRAMES, DIP, AFTER, AFTER_FRAMES = 2.0, 5, -1.0, -0.5, 10
XSS = "<script>alert(1)</script>.ogg"
CHROMIUM = Path("/usr/bin/chromium")


def effect(length: int) -> np.ndarray:
    """Per-frame loss change: a 5-frame peak, a dip to the span end, a 10-frame undershoot."""
    d = np.zeros(T)
    d[ONSET:ONSET + PEAK_FRAMES] = PEAK
    d[ONSET + PEAK_FRAMES:ONSET + length] = DIP
    d[ONSET + length:ONSET + length + AFTER_FRAMES] = AFTER
    return d


def loss_delta(length: int) -> float:
    """Closed form of the whole-item loss difference (mean of ``effect`` over T frames)."""
    return (PEAK * PEAK_FRAMES + DIP * (length - PEAK_FRAMES) + AFTER * AFTER_FRAMES) / T


def music(rng: np.random.Generator, *, seconds: float) -> np.ndarray:
    """Piano-like notes (decaying harmonics, a new note every 1/4 s) with a soft noise floor."""
    n = int(seconds * SR)
    t = np.arange(int(0.6 * SR)) / SR
    out = np.zeros(n + t.size)
    for start in range(0, n, SR // 4):
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        note = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 9)) * np.exp(-5 * t)
        out[start:start + t.size] += 0.08 * note
    out = out[:n] + 0.003 * rng.standard_normal(n)
    return out.astype(np.float32)


def inject(clean: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """White noise at -12 dB re the clip's RMS replaces frames [ONSET, ONSET + length)."""
    out = clean.copy()
    rms = float(np.sqrt(np.mean(clean.astype(np.float64) ** 2)))
    a, b = ONSET * HOP, (ONSET + length) * HOP
    out[a:b] = rng.standard_normal(b - a) * rms * 10 ** (-12 / 20)
    return out


def build_run(run_dir: Path, *, seed: int = 0) -> dict:
    """Write a demo-shaped run folder; return what the test needs to know about it."""
    import pyarrow as pa
    import yaml

    from noiseloss.sources.audio import write_audio
    from noiseloss.store.io import write_json, write_parquet
    from noiseloss.store.results import results_schema

    rng = np.random.default_rng(seed)
    rows, audio_units = [], 0
    base = np.full((K, T), BASE_LOSS, dtype=np.float32)
    for dataset in DATASETS:
        names = [f"{dataset}_{i:03d}.ogg" for i in range(ITEMS_PER_DATASET)]
        if dataset == "ood":
            names[0] = XSS
        for index, item in enumerate(names):
            with_audio = index < AUDIO_ITEMS
            clean = music(rng, seconds=T / RATE) if with_audio else None
            for length in (None, *LENGTHS):
                spec = None if length is None else {
                    "kind": "noise", "color": "white", "mode": "replace", "onset_frames": ONSET,
                    "length_frames": length, "level_db": -12.0, "level_ref": "signal", "seed": 0}
                key = hashlib.sha256(json.dumps([dataset, item, spec]).encode()).hexdigest()
                audio = None
                if with_audio:
                    audio = f"audio/{key[:20]}.ogg"
                    signal = clean if length is None else inject(clean, length, rng)
                    write_audio(run_dir / audio, signal, sample_rate=SR)
                    audio_units += 1
                nll = base if length is None else base + effect(length).astype(np.float32)
                rows.append({
                    "key": key, "model": "demo", "dataset": dataset, "item": item,
                    "perturbation": "clean" if spec is None else
                    f"noise/color=white,length_frames={length},level_db=-12.0/seed=0",
                    "kind": "clean" if spec is None else "noise",
                    "spec": json.dumps(spec, sort_keys=True), "params": "{}",
                    "onset_frame": None if spec is None else ONSET, "length_frames": length,
                    "color": None if spec is None else "white",
                    "level_db": None if spec is None else -12.0,
                    "level_ref": None if spec is None else "signal",
                    "seed": None if spec is None else 0, "prompt": "unconditional",
                    "alignment": "delayed", "num_codebooks": K, "num_frames": T,
                    "frame_rate": RATE, "loss": float(nll.mean(dtype=np.float64)),
                    "nll": nll.ravel(), "audio": audio})
    write_parquet(pa.Table.from_pylist(rows, schema=results_schema()), run_dir / "results.parquet")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(
        {"name": "paper-noise", "description": "synthetic <b>demo-shaped</b> run",
         "report": {"audio_examples": AUDIO_ITEMS}}))
    failed = {"train/broken<i>.wav": "cannot read audio <b>oops</b>"}
    write_json({"date_utc": "2025-01-01T00:00:00+00:00", "git_commit": "abc123",
                "versions": {"noiseloss": "0.1.0", "torch": None},
                "counts": {"done": len(rows), "skipped": 0, "failed": 1}, "failed": failed},
               run_dir / "provenance.json")
    write_json(failed, run_dir / "failed.json")
    return {"rows": len(rows), "audio_units": audio_units}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The report of the synthetic run: (run_dir, index path, facts about the run)."""
    from noiseloss.analysis import analyze_run
    from noiseloss.report import write_report

    run_dir = tmp_path_factory.mktemp("run")
    facts = build_run(run_dir)
    analyze_run(run_dir)
    index = write_report(run_dir)
    return run_dir, index, facts


class Links(html.parser.HTMLParser):
    """Collects tags, their attributes and the page's text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


# --- pieces -------------------------------------------------------------------------------------


def test_cell_formats_numbers_and_missing_values():
    from noiseloss.report.html import cell

    assert cell(3.14159265) == "3.142"
    assert cell(-0.00012345) == "-1.234e-04"
    assert cell(0.0) == "0"
    assert cell(float("nan")) == "NaN"
    assert cell(np.int64(750)) == "750"
    assert cell(np.bool_(True)) == "true"
    assert cell(pd.NA) == ""
    assert cell(np.zeros(750, np.float32)) == "[750 values]"
    assert cell("<b>") == "<b>"  # escaping is the template's job (autoescape), tested below


def test_pick_examples_prefers_items_with_audio_and_caps_per_dataset():
    from noiseloss.report.gallery import pick_examples

    deltas = pd.DataFrame({
        "dataset": ["a"] * 6 + ["b"] * 2,
        "item": ["z", "z", "y", "x", "w", "w", "q", "p"],
        "clean_audio": [None, None, "audio/y.ogg", None, "audio/w.ogg", "audio/w.ogg", None, None],
        "model": "m", "prompt": "u", "alignment": "delayed",
        "family": "f", "length_frames": [10, 5, 5, 5, 10, 5, 5, 5], "seed": 0,
        "perturbation": "c", "key": [f"k{i}" for i in range(8)]})
    before = deltas.copy()
    chosen = pick_examples(deltas, examples_per_dataset=2)
    # a: the two items with audio (w, y) beat x and z; b: no audio at all, name order
    assert list(zip(chosen["dataset"], chosen["item"], chosen["length_frames"], strict=True)) == [
        ("a", "w", 5), ("a", "w", 10), ("a", "y", 5), ("b", "p", 5), ("b", "q", 5)]
    pd.testing.assert_frame_equal(deltas, before)
    assert pick_examples(deltas, examples_per_dataset=0).empty
    with pytest.raises(ParameterError, match="examples_per_dataset"):
        pick_examples(deltas, examples_per_dataset=-1)


def test_plot_delta_is_a_deterministic_640x240_png():
    from noiseloss.report.gallery import Region, plot_delta

    regions = (Region("peak", True, 250, 255, 2.0), Region("assimilation", True, 255, 350, -1.0),
               Region("recovery", False, None, None, float("nan")))
    from noiseloss.timeaxis import TimeAxis

    frames = TimeAxis.frames(T, frame_rate=RATE)
    args = dict(onset_frame=ONSET, length_frames=100, smooth_frames=5, axis=frames, label="t")
    losses = (np.full(T, BASE_LOSS), BASE_LOSS + effect(100))
    first, axis = plot_delta(effect(100), regions=regions, losses=losses, **args)
    assert png_size(first) == (640, 240)
    assert plot_delta(effect(100), regions=regions, **args)[0] != first  # the loss curves
    assert plot_delta(effect(100), regions=regions, losses=losses, **args)[0] == first
    assert plot_delta(effect(100), regions=regions[:1], losses=losses, **args)[0] != first
    spanless = plot_delta(effect(100), regions=(), onset_frame=None, length_frames=None,
                          smooth_frames=1, axis=frames, label="t")[0]
    assert png_size(spanless) == (640, 240)
    # the axis geometry the page's cursor uses: the shaded peak [250, 255) starts at 250 / RATE s
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(first), format="png")[..., :3]  # [240, 640, 3] in 0..1
    pink = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.85) & (pixels[..., 2] < 0.85)
    columns = np.flatnonzero(pink.sum(axis=0) > 50)  # the tall shaded band, not the legend
    expected = (axis.x0 + (250 / RATE - axis.time0) / (axis.time1 - axis.time0)
                * (axis.x1 - axis.x0)) * 640
    assert abs(columns[0] - expected) <= 1.5
    assert (axis.time0, axis.time1) == (0.0, T / RATE)


def test_assets_are_stored_once_and_non_ogg_clips_are_encoded(tmp_path):
    import soundfile as sf

    from noiseloss.report.assets import AssetFolder, inside, playable_clip
    from noiseloss.sources.audio import write_audio

    signal = music(np.random.default_rng(1), seconds=2.0)
    wav = write_audio(tmp_path / "run" / "clip.wav", signal, sample_rate=SR)
    ogg = write_audio(tmp_path / "run" / "clip.ogg", signal, sample_rate=SR)
    folder = AssetFolder(tmp_path / "report")
    data, suffix = playable_clip(ogg, compression_level=0.6)
    assert (data, suffix) == (ogg.read_bytes(), ".ogg")
    first = folder.put(data, folder="audio", stem="clip", suffix=suffix)
    assert folder.put(data, folder="audio", stem="clip", suffix=suffix) == first
    assert (tmp_path / "report" / first).read_bytes() == ogg.read_bytes()
    data, suffix = playable_clip(wav, compression_level=0.6)
    assert suffix == ".ogg" and data[:4] == b"OggS"
    encoded = folder.put(data, folder="audio", stem="clip", suffix=suffix)
    assert len(data) < wav.stat().st_size / 10  # float32 wav: 256 kB for 2 s
    back, rate = sf.read(io.BytesIO(data))
    assert rate == SR and abs(back.size - signal.size) <= 1
    assert sorted(p.name for p in (tmp_path / "report" / "audio").iterdir()) == sorted(
        [Path(first).name, Path(encoded).name])
    assert folder.bytes_written == ogg.stat().st_size + len(data)
    # paths from tables never leave the run folder
    assert inside(tmp_path / "run", "clip.wav") == wav.resolve()
    assert inside(tmp_path / "run", "../run/clip.wav") == wav.resolve()
    assert inside(tmp_path / "run" / "sub", "../clip.wav") is None
    assert inside(tmp_path / "run", str(wav.resolve())) == wav.resolve()
    assert inside(tmp_path / "run", "missing.ogg") is None
    assert inside(tmp_path / "run", None) is None


# --- the report of a run ------------------------------------------------------------------------


def test_report_is_self_contained_and_links_resolve(report):
    run_dir, index, _ = report
    assert index == run_dir / "report" / "index.html"
    root = index.parent
    pages = [index, *sorted((root / "tables").glob("*.html"))]
    assert {p.stem for p in pages[1:]} >= {"deltas", "sequence", "regions", "stats_large",
                                            "stats_small"}
    for page in pages:
        for _tag, attrs in parse(page).tags:
            for name in ("src", "href"):
                link = attrs.get(name)
                if link is None or link.startswith("#") or link == "data:,":
                    continue
                assert "://" not in link and not link.startswith("/"), (page.name, link)
                target = (page.parent / link).resolve()
                assert target.is_file() and target.is_relative_to(root.resolve()), (page, link)
    assert not list(run_dir.glob(".report-*"))


def test_summary_and_provenance_are_shown(report):
    run_dir, index, facts = report
    text = " ".join(" ".join(parse(index).text).split())
    assert f"units in results {facts['rows']}" in text
    assert "git commit abc123" in text and "date utc 2025-01-01T00:00:00+00:00" in text
    assert f"last run done {facts['rows']}, skipped 0, failed 1" in text
    assert "torch not installed" in text and '"git_commit": "abc123"' in text


def test_gallery_shows_players_losses_and_regions(report):
    run_dir, index, facts = report
    page = parse(index)
    audio = [attrs["src"] for tag, attrs in page.tags if tag == "audio"]
    # 3 data sets x 3 items with audio x (clean + 6 lengths), each its own clip
    assert len(audio) == len(set(audio)) == len(DATASETS) * AUDIO_ITEMS * (1 + len(LENGTHS))
    assert facts["audio_units"] == len(audio)
    plots = [attrs["src"] for tag, attrs in page.tags if tag == "img" and "plots/" in attrs["src"]]
    assert len(plots) == len(DATASETS) * AUDIO_ITEMS * len(LENGTHS)
    assert len(set(plots)) == len(LENGTHS)  # identical curves in every item: stored once
    text = " ".join(" ".join(page.text).split())
    assert text.count(f"Original (loss {BASE_LOSS:.3f} nats/token)") == len(DATASETS) * AUDIO_ITEMS
    for length in LENGTHS:
        shown = (f"Perturbed (loss {BASE_LOSS + loss_delta(length):.3f} nats/token, "
                 f"Δℓ {loss_delta(length):+.3f})")
        assert text.count(shown) == len(DATASETS) * AUDIO_ITEMS, shown
    # zero-crossing detector on the exact step curve: peak = the 5 frames of the rise
    recovery = AFTER * AFTER_FRAMES / (T - ONSET - 100)
    assert (f"span [250, 350) · peak [250, 255) mean Δℓ {PEAK:+.3f} · assimilation [255, 350) "
            f"mean Δℓ {DIP:+.3f} · recovery [350, 750) mean Δℓ {recovery:+.3f}") in text
    assert text.count("span [250, 255) · peak [250, 255) mean Δℓ +2.000 · assimilation not "
                      "found · recovery [255, 750)") == len(DATASETS) * AUDIO_ITEMS
    # the clips are the run's own files, unchanged
    regions = pd.read_parquet(run_dir / "tables" / "regions.parquet")
    assert len(regions) == 3 * len(DATASETS) * ITEMS_PER_DATASET * len(LENGTHS)
    copied = {hashlib.sha256((index.parent / a).read_bytes()).hexdigest() for a in audio}
    stored = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (run_dir / "audio").iterdir()}
    assert copied == stored


def test_untrusted_names_are_text_not_markup(report):
    run_dir, index, _ = report
    source = index.read_text(encoding="utf-8")
    # the one script is the report's own local file; nothing from the run becomes markup
    own = '<script src="report.js" defer></script>'
    assert source.count(own) == 1 and (index.parent / "report.js").is_file()
    source = source.replace(own, "")
    assert "<script" not in source and "<b>" not in source and "<i>" not in source
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.ogg" in source
    assert "cannot read audio &lt;b&gt;oops&lt;/b&gt;" in source
    text = " ".join(parse(index).text)
    assert XSS in text and "synthetic <b>demo-shaped</b> run" in text
    assert [attrs for tag, attrs in parse(index).tags if tag == "script"] == [
        {"src": "report.js", "defer": None}]
    tables = sorted((index.parent / "tables").glob("*.html"))
    assert tables and any("&lt;script&gt;alert(1)" in t.read_text(encoding="utf-8") for t in tables)
    assert [t.name for t in tables if "<script" in t.read_text(encoding="utf-8")] == []


def test_statistics_figures_and_table_links(report):
    run_dir, index, _ = report
    page = parse(index)
    text = " ".join(" ".join(page.text).split())
    stats = pd.read_csv(run_dir / "tables" / "stats_small.csv")
    row = stats[stats["metric"] == "loss_delta"].iloc[0]
    seconds = np.array(LENGTHS, dtype=float) / RATE
    expected = np.polyfit(seconds, [loss_delta(n) for n in LENGTHS], 1)[0]
    assert row["slope"] == pytest.approx(expected, rel=1e-4)
    assert "-0.06667" in text and f"{row['slope']:.4g}" == "-0.06667"  # nats per second
    figures = json.loads((run_dir / "figures" / "index.json").read_text())
    assert figures, "the figures module drew nothing"
    shown = [a for t, a in page.tags if t == "img" and a["src"].startswith("figures/")]
    assert len(shown) == len(figures)
    table_links = [a["href"] for t, a in page.tags if t == "a" and a.get("href", "").startswith(
        "tables/") and a["href"].endswith(".html")]
    for entry in figures.values():
        assert f"tables/{entry['table']}.html" in table_links
    for tag, attrs in page.tags:
        if tag == "img" and attrs["src"].startswith("figures/"):
            data = (index.parent / attrs["src"]).read_bytes()
            assert png_size(data)[0] > 100
    csv = (index.parent / "tables" / "stats_small.csv").read_bytes()
    assert csv == (run_dir / "tables" / "stats_small.csv").read_bytes()


def test_report_of_demo_shaped_run_is_small(report):
    run_dir, index, facts = report
    size = sum(p.stat().st_size for p in index.parent.rglob("*") if p.is_file())
    audio = sum(p.stat().st_size for p in (index.parent / "audio").iterdir())
    assert size < 30e6
    assert audio > 0.5 * size  # the clips dominate: nothing else bloats the report
    print(f"report {size / 1e6:.2f} MB, audio {audio / 1e6:.2f} MB in "
          f"{facts['audio_units']} clips")


def test_rebuild_replaces_the_report_and_cli(report, tmp_path, capsys):
    import shutil

    from noiseloss.cli.main import main
    from noiseloss.report import write_report

    run_dir = tmp_path / "run"
    shutil.copytree(report[0], run_dir)
    index = run_dir / "report" / "index.html"
    stale = index.parent / "plots" / "stale.png"
    stale.write_bytes(b"x")
    assert main(["report", str(run_dir), "--examples", "1"]) == 0
    assert not stale.exists() and index.is_file()
    audio = [a for t, a in parse(index).tags if t == "audio"]
    assert len(audio) == len(DATASETS) * (1 + len(LENGTHS))
    assert "report.css" in {p.name for p in index.parent.iterdir()}
    assert str(index) in capsys.readouterr().err
    assert not list(run_dir.glob(".report*"))
    assert main(["report", str(run_dir / "nope")]) == 2
    # default gallery size: the run's report.audio_examples
    (run_dir / "config.yaml").write_text("name: x\nmodels: [m]\ndatasets: {d: {path: d}}\n"
                                         "report: {audio_examples: 2}\n")
    write_report(run_dir)
    assert len([a for t, a in parse(index).tags if t == "audio"]) == 2 * len(DATASETS) * 7
    # an audio budget that holds exactly the originals: every original keeps its player
    results = pd.read_parquet(run_dir / "results.parquet", columns=["kind", "audio"])
    originals = results[(results["kind"] == "clean") & results["audio"].notna()]["audio"]
    budget = sum((run_dir / a).stat().st_size for a in originals)
    write_report(run_dir, examples_per_dataset=AUDIO_ITEMS, audio_budget_mb=budget / 1e6)
    page = parse(index)
    kept = {(index.parent / a["src"]).read_bytes() for t, a in page.tags if t == "audio"}
    assert kept == {(run_dir / a).read_bytes() for a in originals}
    text = " ".join(" ".join(page.text).split())
    assert text.count("clip left out: the report's audio budget") == len(originals) * len(LENGTHS)
    assert sum(p.stat().st_size for p in (index.parent / "audio").iterdir()) == budget


def test_bad_arguments_name_the_parameter(tmp_path, report):
    from noiseloss.report import write_report

    with pytest.raises(ParameterError, match="run_dir"):
        write_report(tmp_path / "missing")
    with pytest.raises(ParameterError, match="examples_per_dataset"):
        write_report(report[0], examples_per_dataset=-1)
    with pytest.raises(ParameterError, match="compression_level"):
        write_report(report[0], compression_level=1.5)
    with pytest.raises(ParameterError, match="results.parquet"):
        write_report(tmp_path)  # a folder that is not a run


def test_mixed_run_wav_clip_token_edit_and_spanless_edit(tmp_path):
    """Clean clip stored as WAV (re-encoded), a token edit (no audio), a MIDI edit without a
    span whose clip is missing, and a second model without any clip."""
    import pyarrow as pa
    import soundfile as sf

    from noiseloss.analysis import DetectorOptions, analyze_run
    from noiseloss.errors import StaleError
    from noiseloss.report import write_report
    from noiseloss.sources.audio import write_audio
    from noiseloss.store.io import write_parquet
    from noiseloss.store.results import results_schema

    frames, onset, length = 100, 40, 20
    clean = music(np.random.default_rng(2), seconds=frames / RATE)
    write_audio(tmp_path / "audio" / "clean.wav", clean, sample_rate=SR)
    write_audio(tmp_path / "audio" / "noise.ogg", inject(clean, 0, np.random.default_rng(3)),
                sample_rate=SR)
    step = np.zeros(frames, np.float32)
    step[onset:onset + length] = -1.0
    units = [("clean", None, None, "audio/clean.wav", 0.0),
             ("noise", onset, length, "audio/noise.ogg", step),
             ("token-noise", onset, length, None, 2 * step),
             ("note-delete", None, None, "audio/gone.ogg", np.full(frames, -0.25, np.float32))]
    rows = []
    for model in ("m1", "m2"):
        for kind, on, n, audio, change in units:
            nll = np.full((K, frames), BASE_LOSS, np.float32) + change
            rows.append({
                "key": f"{model}-{kind}", "model": model, "dataset": "set", "item": "a.wav",
                "perturbation": kind, "kind": kind, "spec": json.dumps({"kind": kind}),
                "params": "{}", "onset_frame": on, "length_frames": n, "color": None,
                "level_db": None, "level_ref": None, "seed": 0, "prompt": "unconditional",
                "alignment": "delayed", "num_codebooks": K, "num_frames": frames,
                "frame_rate": RATE, "loss": float(nll.mean(dtype=np.float64)), "nll": nll.ravel(),
                "audio": audio if model == "m1" else None})
    write_parquet(pa.Table.from_pylist(rows, schema=results_schema()), tmp_path / "results.parquet")
    with pytest.raises(StaleError, match=f"tables of {tmp_path} are missing; write them with "
                                         f"`noiseloss analyze {tmp_path} --detector zero-crossing"):
        write_report(tmp_path)
    analyze_run(tmp_path, options=DetectorOptions(smooth_frames=3))
    index = write_report(tmp_path)
    page = parse(index)
    text = " ".join(" ".join(page.text).split())
    audio = [a["src"] for t, a in page.tags if t == "audio"]
    assert len(audio) == 2 and all(a.endswith(".ogg") for a in audio)
    back, rate = sf.read(index.parent / audio[0])  # the WAV, re-encoded
    assert rate == SR and abs(back.size - clean.size) <= 1
    assert (index.parent / audio[1]).read_bytes() == (tmp_path / "audio" / "noise.ogg").read_bytes()
    assert text.count("audio file missing from the run folder") == 1
    assert text.count("no audio stored for this item") == 1  # m2's clean clip
    assert text.count("no audio stored (token-domain perturbation") == 2 + 2  # m1: token; m2: 3 - 1
    assert text.count("Original (loss 4.000 nats/token)") == 2
    # span of 20 of 100 frames at -1 (noise) and -2 (token edit); -0.25 everywhere (MIDI edit)
    assert text.count("Perturbed (loss 3.800 nats/token, Δℓ -0.200)") == 2
    assert text.count("Perturbed (loss 3.600 nats/token, Δℓ -0.400) no audio stored") == 2
    assert text.count("Perturbed (loss 3.750 nats/token, Δℓ -0.250) audio file missing") == 1
    assert text.count("no span") == 2  # the MIDI edit, for each model
    # a dip without a rise: no peak; assimilation is the span, recovery the rest
    assert text.count(f"span [40, 60) · peak not found · assimilation [40, 60) mean Δℓ "
                      f"{-1:+.3f} · recovery [60, 100) mean Δℓ +0.000") == 2
    # only edits without a span (an empty regions table): results are newer, tables redone
    spanless = [r for r in rows if r["kind"] in ("clean", "note-delete")]
    os.utime(tmp_path / "tables" / "index.json", (1, 1))  # older than the results written now
    write_parquet(pa.Table.from_pylist(spanless, schema=results_schema()),
                  tmp_path / "results.parquet")
    # the report never re-analyses behind the user's back: it names the command, with the
    # options the tables were made with
    with pytest.raises(StaleError, match="older than results.parquet; write them with "
                                         f"`noiseloss analyze {tmp_path} --detector zero-crossing "
                                         "--smooth-frames 3 --run-frames 5"):
        write_report(tmp_path)
    analyze_run(tmp_path)
    text = " ".join(" ".join(parse(write_report(tmp_path)).text).split())
    assert pd.read_parquet(tmp_path / "tables" / "regions.parquet").empty
    assert text.count("no span") == 2 and "span [40, 60)" not in text
    assert text.count("Perturbed (loss 3.750 nats/token, Δℓ -0.250)") == 2


# --- in a real browser --------------------------------------------------------------------------


@pytest.mark.skipif(not CHROMIUM.is_file() and not os.environ.get("CI"),
                    reason="Debian chromium is not installed (make test installs it; CI fails)")
def test_report_in_headless_chromium(report, tmp_path):
    from playwright.sync_api import sync_playwright

    _, index, _ = report
    errors, dialogs = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(index.as_uri(), wait_until="load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])")
            durations = page.evaluate("""async () => Promise.all(
                [...document.querySelectorAll('audio')].map(a => new Promise(resolve => {
                    const done = () => resolve([a.getAttribute('src'), a.duration]);
                    if (a.readyState >= 1) { done(); return; }
                    a.addEventListener('loadedmetadata', done, {once: true});
                    a.addEventListener('error', () => resolve([a.getAttribute('src'), -1]),
                                       {once: true});
                    a.load();
                    setTimeout(() => resolve([a.getAttribute('src'), -2]), 20000);
                })))""")
            headings = page.locator("article.example h4").all_inner_texts()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
            table = page.goto((index.parent / "tables" / "stats_small.html").as_uri())
            assert table is not None and table.ok
        finally:
            browser.close()
    assert errors == [] and dialogs == []
    assert len(images) == len(DATASETS) * AUDIO_ITEMS * len(LENGTHS) + len(
        json.loads((index.parent.parent / "figures" / "index.json").read_text()))
    assert [src for src, complete, width in images if not complete or width <= 0] == []
    assert len(durations) == len(DATASETS) * AUDIO_ITEMS * (1 + len(LENGTHS))
    # every clip is the 15 s excerpt as scored (Vorbis duration within a few ms)
    assert [src for src, d in durations if not abs(d - T / RATE) < 0.05] == []
    assert XSS in headings
    assert png_size((tmp_path / "report.png").read_bytes())[0] > 0


def test_findings_come_first_and_equal_the_tables(report):
    run_dir, index, _ = report
    page = parse(index)
    text = " ".join(" ".join(page.text).split())
    sections = [attrs.get("id") for tag, attrs in page.tags if tag == "section"]
    assert sections[0] == "summary" and sections[-1] == "provenance"
    sequence = pd.read_parquet(run_dir / "tables" / "sequence.parquet")
    trends = pd.read_parquet(run_dir / "tables" / "stats_group.parquet")
    regions = pd.read_parquet(run_dir / "tables" / "regions.parquet")
    checked = 0
    for (model, dataset, family), units in sequence.groupby(["model", "dataset", "family"]):
        for length, part in units.groupby("perturbation_seconds"):
            fell = int((part["loss_delta"] < 0).sum())
            assert (f"{length:g} s: loss fell in {fell} of {len(part)} clips, mean Δℓ "
                    f"{part['loss_delta'].mean():+.3f} nats") in text
            checked += 1
        trend = trends[(trends["model"] == model) & (trends["dataset"] == dataset)
                       & (trends["family"] == family) & (trends["metric"] == "loss_delta")]
        assert f"Pearson r = {trend['pearson_r'].iloc[0]:+.2f}" in text
        mine = regions[regions["key"].isin(units["key"])]
        for name in ("peak", "assimilation"):
            rows = mine[mine["region"] == name]
            assert (f"{name} found in {int(rows['found'].sum())} of {len(rows)}, wrong sign in "
                    f"{int((rows['status'] == 'wrong-sign').sum())}") in text
    assert checked == len(DATASETS) * len(LENGTHS)
    assert "onset sensitivity" in text and "Profile:" in text


def test_statistics_tables_are_compact_with_full_specs_in_tooltips(report):
    run_dir, index, _ = report
    from noiseloss.report.html import STAT_COLUMNS

    source = index.read_text(encoding="utf-8")
    start = source.index('id="table-stats_small"')
    table = source[start:source.index("</table>", start)]
    headers = [h.split(">")[-1] for h in table.split("</th>")[:-1]]
    stats = pd.read_csv(run_dir / "tables" / "stats_small.csv")
    # one prompt and one alignment: no such columns; stats_small pools models and data sets
    assert headers == [c for c in STAT_COLUMNS if c in stats.columns
                       and c not in ("prompt", "alignment")]
    assert len(headers) == 9
    for family in stats["family"].unique():  # the cell shows the short label, e.g. "noise"
        assert re.search(f'title="{re.escape(html_escape(family))}">(noise|swap)[^<]{{0,30}}</td>',
                         table)
    assert 'class="families"' in source


def html_escape(text: str) -> str:
    from markupsafe import escape  # what the templates' autoescape writes

    return str(escape(text))


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="Debian chromium is not installed (make test installs it; CI fails)")
def test_cursor_follows_the_audio_and_a_click_seeks(report):
    from playwright.sync_api import sync_playwright

    _, index, _ = report
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--autoplay-policy=no-user-gesture-required", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(index.as_uri(), wait_until="load")
            # r and p of the first statistics table are on screen without scrolling sideways
            for column in ("pearson_r", "pearson_p"):
                box = page.locator("#statistics table").first.locator(
                    f"th:text-is('{column}')").bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1280
            curve = page.locator(".curve[data-audio]").first
            audio_id = curve.get_attribute("data-audio")
            curve.scroll_into_view_if_needed()
            page.evaluate(f"document.getElementById('{audio_id}').play()")
            page.wait_for_function(f"document.getElementById('{audio_id}').currentTime >= 1.0")
            # at one moment: the audio's time and the time under the cursor
            now, shown = page.evaluate(f"""() => {{
                const a = document.getElementById('{audio_id}');
                const c = document.querySelector('[data-audio="{audio_id}"]');
                const k = c.querySelector('.cursor').getBoundingClientRect();
                const box = c.getBoundingClientRect(), d = c.dataset;
                const frac = (k.left + 1 - box.left) / box.width;  // 2 px line: its middle
                return [a.currentTime, +d.time0 + (frac - d.x0) / (d.x1 - d.x0) * (d.time1 - d.time0)];
            }}""")
            assert abs(shown - now) < 0.2
            page.evaluate(f"document.getElementById('{audio_id}').pause()")
            # a click at 8 s on the curve seeks the audio there (within one 50 Hz frame)
            box = curve.bounding_box()
            d = page.evaluate(f"() => ({{...document.querySelector('[data-audio=\"{audio_id}\"]').dataset}})")
            frac = float(d["x0"]) + (8.0 - float(d["time0"])) / (
                float(d["time1"]) - float(d["time0"])) * (float(d["x1"]) - float(d["x0"]))
            page.mouse.click(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)
            page.wait_for_function(f"Math.abs(document.getElementById('{audio_id}').currentTime"
                                   " - 8.0) <= 0.02")
            # without JavaScript the plots are the same and no cursor shows
            off = browser.new_page(java_script_enabled=False)
            off.goto(index.as_uri(), wait_until="load")
            assert off.locator(".curve img").count() == page.locator(".curve img").count() > 0
            assert off.locator(".cursor:visible").count() == 0
        finally:
            browser.close()
    assert errors == []


def test_models_compared_side_by_side():
    from noiseloss.report.html import model_comparison

    rows = [{"model": m, "dataset": "d", "family": "noise", "prompt": "unconditional",
             "alignment": "delayed", "metric": metric, "value": v, "ci_low": v - 0.5,
             "ci_high": v + 0.5, "n_clips": 15, "unit": "nats"}
            for m, base in (("small", 1.0), ("large", 2.0))
            for metric, v in (("onset_sensitivity", base), ("clean_loss", 3 * base))]
    table = model_comparison(pd.DataFrame(rows))
    assert list(table.columns) == ["dataset", "metric", "unit", "large", "small"]
    by_metric = table.set_index("metric")
    assert by_metric.loc["onset_sensitivity", "small"] == "1 [0.5, 1.5]"
    assert by_metric.loc["clean_loss", "large"] == "6 [5.5, 6.5]"
    assert model_comparison(pd.DataFrame(rows[:2])).empty  # one model: nothing to compare


def _two_length_run(run_dir: Path, *, detector: str = "zero-crossing") -> Path:
    """The synthetic run of test_analysis_run with lengths 50 and 100 only (as paper-colors)."""
    from noiseloss.analysis import DetectorOptions, analyze_run
    from noiseloss.report import write_report
    from test_analysis_run import synthetic_results, write_store

    results = synthetic_results(swap=False, pure_noise=False)
    write_store(run_dir, results[results["length_frames"].isin([50, 100])
                                 | (results["kind"] != "noise")])
    analyze_run(run_dir, options=DetectorOptions(detector=detector))
    return write_report(run_dir)


def _section(source: str, marker: str) -> str:
    """The page source from ``marker`` to the next heading or the end of its section."""
    return re.split(r"<h3|</section>", source[source.index(marker):], maxsplit=1)[0]


def test_two_length_run_says_why_once_instead_of_nan(tmp_path):
    """2 lengths: no small-sample or group test and no onset_sensitivity (no injection of at
    most 10 frames). The main page has no NaN; each reason is one sentence."""
    index = _two_length_run(tmp_path)
    source = index.read_text(encoding="utf-8")
    text = " ".join(" ".join(parse(index).text).split())
    assert "NaN" not in text and not re.search(r"\bnan\b", text, re.IGNORECASE)
    assert "[NaN" not in source and ">NaN<" not in source
    # statistics: stats_small and stats_group hold no test, so no table, one sentence each
    for name, rows in (("stats_small", 4), ("stats_group", 16)):
        section = _section(source, f'id="table-{name}"')
        assert "<table>" not in section, name
        assert section.count("needs ≥ 3 lengths (has 2)") == 1, name
        assert (f"Not tested ({rows} of {rows} rows), needs ≥ 3 lengths (has 2): noise "
                "color=pink, noise color=white (loss_delta, mean_outside_delta).") in section
    assert "<table>" in _section(source, 'id="table-stats_large"')  # 8 points: tested
    # findings: the shared reasons once, above the findings (8 of 12: the note-delete
    # findings have no length)
    assert text.count("needs ≥ 3 lengths (has 2)") == 3  # findings, stats_small, stats_group
    assert ("Not measured in 8 of 12 findings: length vs Δℓ — no test, needs ≥ 3 lengths "
            "(has 2).") in text
    assert ("Not measured in 8 of 12 findings: onset sensitivity — no injection of ≤ 10 "
            "frames in this run.") in text
    # profile metrics: no onset_sensitivity rows, one sentence
    profile = text[text.index("Profile metrics Scores"):text.index("Models compared Model")]
    assert "onset_sensitivity: no injection of ≤ 10 frames in this run (all 8 rows)." in profile
    assert profile.count("onset_sensitivity") == 2  # the introduction and the sentence


def test_findings_of_a_fixed_anchor_run_name_it(tmp_path):
    """The detector and the options it used head the findings; every region count names it;
    recovery_time, fixed by construction under fixed-anchor, is said so and has no interval."""
    index = _two_length_run(tmp_path, detector="fixed-anchor")
    text = " ".join(" ".join(parse(index).text).split())
    assert ("Regions by the detector fixed-anchor (anchor_frames=4, baseline=0.0, "
            "run_frames=5, smooth_frames=1): the authors' rule") in text
    assert text.count("Regions (fixed-anchor detector): peak found in") == 8
    assert "zero-crossing" not in text.split("Statistics: perturbation")[0]
    assert ("Not measured in 8 of 12 findings: recovery time — fixed by construction under "
            "fixed-anchor: Recovery starts 4 frames after the injection in every clip; "
            "+0.080 s.") in text
    assert "recovery time +0.080 [" not in text and "[0.08, 0.08]" not in text
    profile = text[text.index("Profile metrics Scores"):text.index("Models compared Model")]
    assert ("recovery_time: fixed by construction under fixed-anchor: Recovery starts 4 frames "
            "after the injection in every clip (all 8 rows; value 0.08 s).") in profile
    assert "NaN" not in text
