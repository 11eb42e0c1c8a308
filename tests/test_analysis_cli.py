"""``noiseloss analyze``: writes tables and figures, prints the correlations, exits non-zero on errors."""

from __future__ import annotations

import json

from noiseloss.cli.main import main
from test_analysis_run import synthetic_results, write_store


def test_analyze_command(tmp_path, capsys):
    write_store(tmp_path, synthetic_results(colors=("white",), swap=False, pure_noise=False))
    assert main(["analyze", str(tmp_path), "--detector", "fixed-anchor", "--smooth-frames", "3",
                 "--run-frames", "4", "--no-figures"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "loss_delta:" in line]
    assert [line.split()[0] for line in lines] == ["large", "small"]
    assert all("pearson r=-1.000" in line for line in lines)
    options = json.loads((tmp_path / "tables" / "index.json").read_text())["options"]
    assert options["detector"] == "fixed-anchor" and options["run_frames"] == 4
    assert not (tmp_path / "figures").exists()


def test_analyze_rejects_bad_options(tmp_path, capsys):
    write_store(tmp_path, synthetic_results(colors=("white",), swap=False, pure_noise=False))
    assert main(["analyze", str(tmp_path), "--run-frames", "0"]) == 2
    assert "run_frames" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path), "--detector", "bogus"]) == 2
    assert "fixed-anchor" in capsys.readouterr().err
    assert main(["analyze", str(tmp_path / "nowhere")]) != 0


def test_two_lengths_are_too_few_for_the_small_sample_test(tmp_path, capsys):
    results = synthetic_results(colors=("white",), swap=False, pure_noise=False)
    keep = results["length_frames"].isin([5, 10]) | (results["kind"] != "noise")
    write_store(tmp_path, results[keep])
    assert main(["analyze", str(tmp_path), "--no-figures"]) == 0
    err = capsys.readouterr().err
    large = next(line for line in err.splitlines() if line.startswith("  large ")
                 and "loss_delta:" in line)
    assert "n=8 pearson r=" in large  # 2 models x 2 data sets x 2 lengths
    # the undefined small-sample tests: one sentence with the reason, no row of NaN
    small = [line for line in err.splitlines() if line.startswith("  small ")]
    assert small == ["  small not tested, needs ≥ 3 lengths (has 2): noise "
                     "(loss_delta, mean_outside_delta)"]
    assert "nan" not in err.lower()


def test_analyze_names_the_detector_and_its_options(tmp_path, capsys):
    """``--detector fixed-anchor`` prints another summary than the default: the detector, the
    options it used, and region counts per model x data set x family."""
    write_store(tmp_path, synthetic_results(colors=("white",), swap=False, pure_noise=False))
    outputs = {}
    for detector in ("zero-crossing", "fixed-anchor"):
        assert main(["analyze", str(tmp_path), "--detector", detector, "--no-figures"]) == 0
        outputs[detector] = capsys.readouterr().err
    zero, fixed = outputs["zero-crossing"], outputs["fixed-anchor"]
    assert ("Regions by the detector zero-crossing (lead_frames=2, peak_window_frames=5, "
            "run_frames=5, smooth_frames=5)") in zero
    assert "Regions by the detector fixed-anchor (anchor_frames=4, baseline=" in fixed
    assert "fixed-anchor" not in zero and "zero-crossing" not in fixed
    counts = [line for line in fixed.splitlines() if line.startswith("  m1 · ood · noise: ")]
    assert len(counts) == 1 and "peak found in" in counts[0] and "wrong sign in" in counts[0]


def _help(command) -> str:
    from click.testing import CliRunner

    result = CliRunner().invoke(command, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_report_help_says_that_stale_tables_stop_it():
    """The report never analyses: missing or stale tables stop it (StaleError, naming the
    ``noiseloss analyze`` command); only the figures are drawn when missing."""
    from noiseloss.cli.report import report

    text = _help(report)
    assert "tables and figures are derived" not in text
    assert "noiseloss analyze" in text and "older than results.parquet" in text
    assert "figures are drawn" in text


def test_lead_frames_help_names_the_layout_not_a_k_minus_2_rule():
    from noiseloss.analysis import DetectorOptions
    from noiseloss.cli.analyze import analyze

    help_text = {p.name: p.help for p in analyze.params}["lead_frames"]
    for text in (help_text, DetectorOptions.__doc__):
        flat = " ".join(text.split())
        assert "K - 2" not in flat and "K − 2" not in flat, flat
        assert "layout" in flat and "lead_frames" in flat, flat
    assert "layout" in _help(analyze)


def test_a_run_config_that_does_not_load_is_never_replaced_by_defaults(tmp_path, capsys):
    """A config naming a detector this process does not know (registered by a module that
    is not loaded): analyze stops and says so, unless every option is given."""
    write_store(tmp_path, synthetic_results())
    (tmp_path / "config.yaml").write_text(
        "name: x\nmodels: [demo]\ndatasets: {d: {source: 'demo:train'}}\n"
        "analysis: {detector: span-only}\n", encoding="utf-8")
    assert main(["analyze", str(tmp_path), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "config.yaml does not load" in err and "span-only" in err and "--plugin" in err
    assert not (tmp_path / "tables").exists()
    flags = ["--detector", "zero-crossing", "--smooth-frames", "5", "--run-frames", "5",
             "--peak-window-frames", "5", "--lead-frames", "2"]
    assert main(["analyze", str(tmp_path), "--no-figures", *flags]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.out + captured.err
    assert (tmp_path / "tables" / "regions.parquet").is_file()
