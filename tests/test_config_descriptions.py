"""The built-in configs say what their grids hold: every number of frames, seconds, dB and
percent a description names is checked against the perturbation grid it describes."""

from __future__ import annotations

import re

import pytest

from noiseloss.config import builtin_configs, load_config

#: Frames per second of the demo model, which every built-in config runs.
FRAME_RATE = 50.0
#: Spec keys of the length a family varies (as ``noiseloss.analysis.run.LENGTH_KEYS``).
LENGTH_KEYS = ("length_frames", "block_frames")

NUMBER = r"\d+(?:\.\d+)?"
#: "5-200 frames", "1 ... 200 frames", "50 or 100 frames", "100 frames": lengths.
LENGTHS = re.compile(rf"(?P<nums>{NUMBER}(?:(?:-| \.\.\. |, | or | and ){NUMBER})*) frames\b"
                     rf"(?: \((?P<secs>[^)]*)\))?")
#: "frames 250-349": one span, so one length (B - A + 1) from onset A.
SPAN = re.compile(r"frames (?P<a>\d+)-(?P<b>\d+)")
#: "at frame 250", "from frame 250 (5 s)", "[250, 250+L)": the onset.
ONSET = re.compile(rf"(?:at|from) frame (?P<onset>\d+)(?: \((?P<secs>{NUMBER}) s\))?"
                   r"|\[(?P<block>\d+), (?P=block)\+L\)")
EXCERPT = re.compile(rf"(?P<secs>{NUMBER}) s excerpts")
#: "0.1 ... 4 s spans", "2 s spans": lengths in seconds (symbolic configs).
SECOND_SPANS = re.compile(rf"(?P<nums>{NUMBER}(?:(?: \.\.\. |, | or | and ){NUMBER})*) s spans")
#: "at 5 s into": the onset in seconds.
SECOND_ONSET = re.compile(rf"at (?P<secs>{NUMBER}) s into")
DB = re.compile(rf"(?P<db>-?{NUMBER}) dB")
PERCENT = re.compile(r"(?P<pct>\d+) %")


def _values(specs: list[dict], keys) -> set[float]:
    return {float(s[k]) for s in specs for k in keys if s.get(k) is not None}


def description_errors(description: str, config) -> tuple[list[str], int]:
    """What in ``description`` disagrees with ``config``'s grid, and how many claims were checked."""
    text = " ".join(description.split())
    specs = config.perturbation_specs()
    lengths = _values(specs, LENGTH_KEYS)
    onsets = _values(specs, ("onset_frames",))
    errors, checked = [], 0
    for match in SPAN.finditer(text):
        a, b = int(match["a"]), int(match["b"])
        checked += 1
        if a not in onsets or lengths != {b - a + 1}:
            errors.append(f"'{match[0]}' is one span of {b - a + 1} frames from frame {a}; the "
                          f"grid has onsets {sorted(onsets)} and lengths {sorted(lengths)}")
    for match in LENGTHS.finditer(text):
        nums = [float(n) for n in re.findall(NUMBER, match["nums"])]
        ranged = "-" in match["nums"] or "..." in match["nums"]
        claimed = {min(nums), max(nums)} if ranged else set(nums)
        have = {min(lengths), max(lengths)} if ranged and lengths else lengths
        checked += 1
        if claimed != have and not (len(nums) == 1 and claimed <= lengths):
            errors.append(f"'{match[0]}' but the grid's lengths are {sorted(lengths)}")
        if match["secs"]:
            secs = [float(s) for s in re.findall(rf"({NUMBER}) s\b", match["secs"])]
            if secs != [n / FRAME_RATE for n in nums]:
                errors.append(f"'{match[0]}': {nums} frames are "
                              f"{[n / FRAME_RATE for n in nums]} s at {FRAME_RATE:g} frames/s")
    for match in ONSET.finditer(text):
        onset = float(match["onset"] or match["block"])
        checked += 1
        if onset not in onsets:
            errors.append(f"'{match[0]}' but the grid's onsets are {sorted(onsets)}")
        if match["secs"] and float(match["secs"]) != onset / FRAME_RATE:
            errors.append(f"'{match[0]}': frame {onset:g} is at {onset / FRAME_RATE:g} s")
    second_lengths = _values(specs, ("length_seconds", "block_seconds"))
    for match in SECOND_SPANS.finditer(text):
        nums = [float(n) for n in re.findall(NUMBER, match["nums"])]
        claimed = {min(nums), max(nums)} if "..." in match["nums"] else set(nums)
        have = {min(second_lengths), max(second_lengths)} if "..." in match["nums"] and \
            second_lengths else second_lengths
        checked += 1
        if claimed != have:
            errors.append(f"'{match[0]}' but the grid's lengths are {sorted(second_lengths)} s")
    second_onsets = _values(specs, ("onset_seconds",))
    for match in SECOND_ONSET.finditer(text):
        checked += 1
        if float(match["secs"]) not in second_onsets:
            errors.append(f"'{match[0]}' but the grid's onsets are {sorted(second_onsets)} s")
    for match in EXCERPT.finditer(text):
        checked += 1
        if float(match["secs"]) != config.excerpt.seconds:
            errors.append(f"'{match[0]}' but excerpt.seconds is {config.excerpt.seconds}")
    levels = _values(specs, ("level_db",))
    for match in DB.finditer(text):
        checked += 1
        if float(match["db"]) not in levels:
            errors.append(f"'{match[0]}' but the grid's levels are {sorted(levels)} dB")
    ratios = {round(100 * r) for r in _values(specs, ("ratio",))}
    for match in PERCENT.finditer(text):
        checked += 1
        if int(match["pct"]) not in ratios:
            errors.append(f"'{match[0]}' but the grid's ratios are {sorted(ratios)} %")
    return errors, checked


@pytest.mark.parametrize("name", sorted(builtin_configs()))
def test_builtin_description_matches_its_grid(name):
    config = load_config(name)
    errors, checked = description_errors(config.description, config)
    assert not errors, f"{name}: {errors}"
    assert checked >= 2, f"{name}: the description names nothing the test can check"


def test_the_check_catches_a_description_that_names_another_grid():
    config = load_config("paper-colors")
    old = ("Coloured noise (true power-law spectra) replacing frames 250-349 (2 s) of 15 s "
           "excerpts, -12 dB relative to the excerpt's RMS, on the demo model's three sets.")
    errors, _ = description_errors(old, config)
    assert any("frames 250-349" in e for e in errors)
    for wrong in ("lengths 5-150 frames", "50 or 200 frames", "at frame 200", "10 s excerpts",
                  "-20 dB", "50 or 100 frames (1 s or 3 s)", "from frame 250 (4 s)",
                  "0.1 ... 4 s spans", "at 5 s into"):
        assert description_errors(wrong, config)[0], wrong
