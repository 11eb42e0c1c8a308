"""draw_all on small synthetic run folders: files, index, captions, no clipped data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from noiseloss.analysis import analyze_run
from noiseloss.figures import draw_all
from noiseloss.figures.lengths import delta_vs_length
from test_analysis_run import synthetic_results, write_store


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("figrun")
    write_store(run_dir, synthetic_results())
    tables = analyze_run(run_dir)
    return run_dir, tables, draw_all(run_dir, tables)


def test_files_exist_and_are_indexed(drawn):
    run_dir, tables, paths = drawn
    index = json.loads((run_dir / "figures" / "index.json").read_text())
    assert set(index) == set(paths)
    prefixes = sorted(name.split("-")[0] for name in paths)
    models = tables["profile_clips"]["model"].nunique()
    # one distribution figure per model, and the models side by side (profile-models)
    assert prefixes == ["colors", "families", "fig2", "fig2", "fig3", "fig4", "fig4b", "fig5",
                        *["profile"] * (models + 1)]
    assert models == 2 and "profile-models" in paths
    for name, png in paths.items():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        pdf = run_dir / "figures" / index[name]["pdf"]
        assert pdf.read_bytes()[:5] == b"%PDF-"
        assert index[name]["table"] in tables and index[name]["caption"]
    assert "pure noise" in index["fig3-token-loss"]["caption"]


def test_without_pure_noise_the_caption_says_so(tmp_path):
    write_store(tmp_path, synthetic_results(colors=("white",), swap=False, pure_noise=False))
    paths = draw_all(tmp_path, analyze_run(tmp_path))
    index = json.loads((tmp_path / "figures" / "index.json").read_text())
    assert "no pure-noise clip in this run" in index["fig3-token-loss"]["caption"]
    # one colour: no colour comparison; no swap: no Fig. 5
    assert not any(name.startswith(("colors", "fig5")) for name in paths)


def test_reads_tables_from_disk_and_draws_only_what_the_data_supports(tmp_path):
    results = synthetic_results(colors=("white",), swap=False, pure_noise=False)
    write_store(tmp_path, results)
    tables = analyze_run(tmp_path)
    # the clip-metric distributions: one figure per model, whenever there are clean units
    profile = sorted(f"profile-{m}" for m in tables["profile_clips"]["model"].unique())
    assert len(profile) == 2
    first = draw_all(tmp_path, tables)
    assert len(first) == 5 + len(profile) + 1 and "profile-models" in first
    (tmp_path / "figures" / "notes.txt").write_text("mine")
    write_store(tmp_path, results[results["kind"].isin(["clean", "note-delete"])])
    analyze_run(tmp_path)
    assert list(draw_all(tmp_path)) == ["families-delta", *profile]
    assert list(json.loads((tmp_path / "figures" / "index.json").read_text())) == [
        "families-delta", *profile]
    # the earlier figures are gone, other files are left alone
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted([
        "families-delta.pdf", "families-delta.png", "index.json", "notes.txt",
        *(f"{name}.{kind}" for name in profile for kind in ("pdf", "png"))])
    write_store(tmp_path, results[results["kind"] == "clean"])
    analyze_run(tmp_path)
    assert list(draw_all(tmp_path)) == profile


def test_y_limits_never_clip_the_data(drawn):
    _, tables, _ = drawn
    seq = tables["sequence"]
    fig = delta_vs_length(seq[seq["kind"] == "swap"], hue="dataset")
    for ax in fig.axes:
        low, high = ax.get_ylim()
        for line in ax.get_lines():
            y = np.asarray(line.get_ydata(), dtype=float)
            assert low <= np.nanmin(y) and np.nanmax(y) <= high


def test_families_without_a_length_axis_are_box_plots_of_their_loss_deltas(drawn):
    from noiseloss.figures.common import grouped_boxes, panels
    from noiseloss.figures.lengths import draw_families

    _, tables, _ = drawn
    sequence = tables["sequence"]
    (figure,) = draw_families(sequence)
    lengths = sequence.groupby("family")["perturbation_seconds"].nunique()
    single = sequence[sequence["family"].isin(lengths[lengths < 2].index)]
    assert set(single["kind"]) == {"note-delete", "noise"}  # the MIDI edit and the pure noise
    families = sorted(single["family"].unique())
    models = sorted(single["model"].unique())
    assert len(figure.figure.axes) == len(models)
    first = single[single["model"] == models[0]]
    legend = [t.get_text() for t in figure.figure.axes[0].get_legend().get_texts()]
    counts = {d: "/".join(str((p["family"] == f).sum()) for f in families)
              for d, p in first.groupby("dataset", sort=True)}
    assert legend == [f"{d} (n={n})" for d, n in counts.items()]
    # the boxes show the loss deltas of the table: medians match
    _, axes = panels(1, 1)
    values = {d: [p.loc[p["family"] == f, "loss_delta"].to_numpy(float) for f in families]
              for d, p in first.groupby("dataset", sort=True)}
    medians = grouped_boxes(axes[0, 0], families, values)
    assert sum(len(lines) for lines in medians.values()) == sum(
        v.size > 0 for arrays in values.values() for v in arrays)
    for dataset, lines in medians.items():
        for family, line in lines.items():
            expected = np.median(values[dataset][families.index(family)])
            assert line.get_ydata()[0] == pytest.approx(expected)
