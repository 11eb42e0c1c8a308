"""The bad-input corpus (``tests/bad_inputs/make_corpus.py``) through every command.

Each case asserts the exit code, that the output names the file or key at fault, that good
items beside bad ones are stored, that a scored file has every token scored once (strided
windows whose scored parts tile its events), that nothing is a traceback, and that nothing
hangs (an alarm per case).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "bad_inputs"))
from make_corpus import build  # noqa: E402

SECONDS_PER_CASE = 120


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    return root, {case.name: case for case in build(root)}


def _names():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return [case.name for case in build(tmp)]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no result after {SECONDS_PER_CASE} s")


@pytest.mark.parametrize("name", _names())
def test_bad_input(name, corpus, capsys):
    from noiseloss.cli.main import main

    root, cases = corpus
    case = cases[name]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS_PER_CASE)
    try:
        code = main(case.argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text
    assert code == case.code, text[-2000:]
    for mention in case.mentions:
        assert mention in text, (mention, text[-2000:])
    out_dir = Path(case.argv[case.argv.index("--out") + 1]) if "--out" in case.argv else None
    if case.stored:
        items = set(pq.read_table(out_dir / case.results, columns=["item"])
                    .column("item").to_pylist())
        assert set(case.stored) <= items
    if case.rows is not None:
        nll = pq.read_table(out_dir / "nll.parquet", columns=["nll"]).column("nll").to_numpy()
        assert len(nll) == case.rows and np.isfinite(nll).all()
        (item,) = json.loads((out_dir / "provenance.json").read_text())["items"].values()
        scored = [(start, end) for _, start, end in item["windows"]]
        assert [start for start, _ in scored] == [0, *(end for _, end in scored[:-1])]
        assert item["num_codebooks"] * scored[-1][1] == case.rows
        assert len(scored) == case.windows
