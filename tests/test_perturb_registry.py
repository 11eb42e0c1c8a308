"""The perturbation registry and the spec dispatcher."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

from noiseloss.errors import ParameterError
from noiseloss.perturb import PERTURBATIONS, Perturbed, perturb

EXPECTED = {
    "audio": {"noise", "swap", "permute", "reverse", "delete", "repeat", "silence", "lowpass",
              "hard-clip"},
    "tokens": {"token-random", "token-noise", "token-repeat"},
    "score": {"note-delete", "velocity", "tempo-warp", "pitch-shift", "bar-shuffle", "note-noise",
              "loop", "transpose-span", "score-swap", "score-permute"},
}


def test_registered_kinds_and_domains():
    by_domain = {}
    for name in PERTURBATIONS:
        by_domain.setdefault(PERTURBATIONS.get(name).domain, set()).add(name)
    assert by_domain == EXPECTED
    assert PERTURBATIONS.get("noise").domain == "audio"
    assert all(PERTURBATIONS.describe(name) for name in PERTURBATIONS)


def test_listing_the_registry_imports_no_heavy_module():
    code = ("import sys; from noiseloss.perturb import PERTURBATIONS; "
            "[(PERTURBATIONS.get(n).domain, PERTURBATIONS.describe(n)) for n in PERTURBATIONS]; "
            "heavy = ['torch', 'transformers', 'pretty_midi', 'music21', 'pyloudnorm', "
            "'scipy', 'noiseloss.perturb.inject', 'noiseloss.perturb.midi_edits']; "
            "print([m for m in heavy if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(set().union(*EXPECTED.values())))
def test_every_function_is_keyword_only_after_the_data(name):
    entry = PERTURBATIONS.get(name)
    params = list(inspect.signature(entry.function).parameters.values())
    assert params[0].kind is params[0].POSITIONAL_OR_KEYWORD
    assert all(p.kind is p.KEYWORD_ONLY for p in params[1:])
    assert entry.parameters().keys() == {p.name for p in params[1:]}


def test_perturb_adds_kind_and_the_result_is_reproducible_from_its_params():
    x = np.random.default_rng(0).standard_normal(32000 * 3).astype(np.float32) * 0.1
    out = perturb(x, {"kind": "noise", "onset_frames": 50, "length_frames": 20},
                  sample_rate=32000, hop_length=640, seed=5)
    assert isinstance(out, Perturbed) and next(iter(out.params)) == "kind"
    # every default is recorded: the used spec can be rebuilt from params alone
    entry = PERTURBATIONS.get("noise")
    spec = {"kind": "noise", **{k: out.params[k] for k in entry.parameters() if k in out.params}}
    assert spec["color"] == "white" and spec["mode"] == "replace" and spec["seed"] == 5
    assert perturb(x, spec).data.tobytes() == out.data.tobytes()


def test_context_keys_are_ignored_by_kinds_that_do_not_use_them():
    x = np.arange(640 * 10, dtype=np.float32)
    out = perturb(x, {"kind": "reverse", "onset_frames": 1, "length_frames": 2, "seed": 3},
                  sample_rate=32000, hop_length=640)
    assert "seed" not in out.params and out.span_frames == (1, 2)


@pytest.mark.parametrize("spec, kwargs, pattern", [
    ({"kind": "nois"}, {}, r"unknown perturbation 'nois'; registered: \[.*'noise'.*\]\. "
                           r"Did you mean 'noise'\?"),
    ({"color": "pink"}, {}, r"spec must be a mapping with a 'kind' key"),
    ({"kind": "reverse", "onset_frames": 1, "length_frames": 2, "colour": "pink"}, {},
     r"unknown parameter\(s\) \['colour'\] for kind 'reverse'; allowed: \[.*'length_frames'"),
    ({"kind": "noise", "onset_frames": 1, "length_frames": 2}, {"sample_rate": 32000},
     r"missing parameter\(s\) \['hop_length', 'seed'\] for kind 'noise'"),
    ({"kind": "noise", "seed": 1}, {"seed": 2},
     r"seed is given twice with different values: 1 in the spec and 2 as an argument"),
])
def test_spec_errors_name_the_problem(spec, kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        perturb(np.zeros(6400, np.float32), spec, **kwargs)


def test_the_documented_lists_are_the_registry():
    """The package docstring and the README's table list exactly the registered kinds."""
    import re
    from pathlib import Path

    import noiseloss.perturb as module

    doc = re.sub(r",\n\s{12}", ", ", module.__doc__)  # a list continued on the next line
    listed = dict(re.findall(r"^\s{4}(audio|tokens|score)\s+(.+)$", doc, flags=re.M))
    assert {d: set(names.split(", ")) for d, names in listed.items()} == EXPECTED
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (`[^|]+`) \| (audio|codes|score) \|", readme, flags=re.M)
    documented = {}
    for kinds, domain in rows:
        domain = {"codes": "tokens"}.get(domain, domain)
        documented.setdefault(domain, set()).update(re.findall(r"`([^`]+)`", kinds))
    assert documented == EXPECTED
