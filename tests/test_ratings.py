"""Metrics against listeners: Holm, Williams' test, the comparison with mean loss, pairwise
preferences and the MusicEval-style folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from noiseloss.analysis.ratings import (
    compare_to_loss,
    holm,
    pairwise_accuracy,
    read_musiceval,
    read_preferences,
    williams_test,
)
from noiseloss.errors import ParameterError

DIRECTIONS = {"mean_loss": "higher", "sharp": "higher", "blur": "lower"}


def test_holm_step_down():
    got = holm([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_allclose(got[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(got[4])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]


def test_williams_t_by_its_formula_and_its_p_from_student_t():
    r12, r13, r23, n = 0.6, 0.4, 0.5, 50
    det = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23
    t_ref = (r12 - r13) * np.sqrt(49 * 1.5) / np.sqrt(2 * det * 49 / 47 + 0.25 * 0.125)
    t, p = williams_test(r12, r13, r23, n)
    assert t == pytest.approx(t_ref) and p == pytest.approx(2 * stats.t.sf(t_ref, 47))
    assert williams_test(r13, r12, r23, n) == pytest.approx((-t, p))
    assert np.isnan(williams_test(0.5, 0.4, 0.3, 3)[1])


def test_williams_keeps_its_level_under_the_null():
    """Two metrics equally correlated with the ratings: about 5 % of p below 0.05."""
    rng = np.random.default_rng(0)
    rejections = 0
    for _ in range(1000):
        x = rng.normal(size=60)
        a, b, y = x + rng.normal(size=60), x + rng.normal(size=60), x + rng.normal(size=60)
        r = [stats.pearsonr(u, v).statistic for u, v in ((a, y), (b, y), (a, b))]
        rejections += williams_test(*r, 60)[1] < 0.05
    assert 0.03 <= rejections / 1000 <= 0.07


def _rated(n: int, *, seed: int) -> pd.DataFrame:
    """A planted answer: ``sharp`` tracks the listeners closely, mean loss loosely."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n)
    return pd.DataFrame({
        "model": "m", "rating": quality + 0.3 * rng.normal(size=n),
        "sharp": -quality + 0.3 * rng.normal(size=n),       # higher = worse, close
        "mean_loss": -quality + 2.0 * rng.normal(size=n),   # higher = worse, loose
        "blur": quality + 2.0 * rng.normal(size=n)})        # lower = worse, as loose as loss


def test_a_planted_difference_of_correlations_is_detected_at_n_400():
    table = compare_to_loss(_rated(400, seed=1), ["sharp", "blur", "mean_loss"],
                            directions=DIRECTIONS, seed=0).set_index("metric")
    assert list(table.index) == ["sharp", "blur"]
    sharp, blur = table.loc["sharp"], table.loc["blur"]
    assert sharp["rho_metric"] > 0.8 and 0 < sharp["rho_loss"] < 0.6  # oriented: positive
    assert sharp["ci_low"] > 0 and sharp["p"] < 1e-6 and sharp["p_holm"] == pytest.approx(
        min(1.0, 2 * sharp["p"]) if sharp["p"] < blur["p"] else sharp["p"])
    assert blur["ci_low"] < 0 < blur["ci_high"] and blur["p_holm"] > 0.05
    assert (table["n"] == 400).all()


def test_pairwise_accuracy_counts_winners_and_ties():
    a = pd.DataFrame({"model": "m", "sharp": [1.0, 2.0, 3.0, 5.0], "blur": [1.0, 1.0, 0.0, 2.0]})
    b = pd.DataFrame({"model": "m", "sharp": [2.0, 1.0, 4.0, 5.0], "blur": [0.0, 1.0, 1.0, 1.0]})
    winner = ["a", "b", "a", "a"]
    table = pairwise_accuracy(a, b, winner, ["sharp", "blur"], directions=DIRECTIONS,
                              seed=0).set_index("metric")
    # sharp (higher = worse): prefers a, b, a, tie -> 3.5 of 4; blur (lower = worse): a, tie, b, a
    assert table.loc["sharp", "accuracy"] == pytest.approx(3.5 / 4)
    assert table.loc["blur", "accuracy"] == pytest.approx(2.5 / 4)
    assert (table["n"] == 4).all()


def test_preferences_name_the_winner_by_letter_or_file(tmp_path):
    path = tmp_path / "prefs.csv"
    path.write_text("file_a,file_b,winner\nx.wav,y.wav,a\nx.wav,z.wav,z.wav\np.wav,q.wav,B\n")
    assert read_preferences(path)["winner"].tolist() == ["a", "b", "b"]
    path.write_text("file_a,file_b,winner\nx.wav,y.wav,w.wav\n")
    with pytest.raises(ParameterError, match="winner must be a, b"):
        read_preferences(path)
    path.write_text("left,right\nx,y\n")
    with pytest.raises(ParameterError, match="file_a, file_b, winner"):
        read_preferences(path)


def _musiceval(root):
    (root / "wav").mkdir(parents=True)
    (root / "sets").mkdir()
    (root / "sets" / "train_mos_list.txt").write_text(
        "audiomos2025-track1-S001_P001.wav,3.5,4.0\naudiomos2025-track1-S002_P001.wav,2.0,3.0\n")
    (root / "sets" / "dev_mos_list.txt").write_text("audiomos2025-track1-S001_P002.wav,4.5,2.5\n")
    return root


def test_musiceval_folder_becomes_ratings_with_systems(tmp_path):
    root = _musiceval(tmp_path / "MusicEval")
    every = read_musiceval(root)
    assert every["file"].tolist() == ["wav/audiomos2025-track1-S001_P002.wav",
                                      "wav/audiomos2025-track1-S001_P001.wav",
                                      "wav/audiomos2025-track1-S002_P001.wav"]
    assert every["rating"].tolist() == [4.5, 3.5, 2.0]
    assert every["system"].tolist() == ["S001", "S001", "S002"]
    assert read_musiceval(root, split="train", score="textual")["rating"].tolist() == [4.0, 3.0]
    with pytest.raises(ParameterError, match="MusicEval-style"):
        read_musiceval(tmp_path)


def test_correlate_joins_a_musiceval_folder_and_preferences(tmp_path):
    """A profile of the folder's wav/ (a clip table written here) joined to its lists."""
    from noiseloss.profiling import correlate

    root = _musiceval(tmp_path / "MusicEval")
    lines = []
    rng = np.random.default_rng(0)
    items = [f"audiomos2025-track1-S{s:03d}_P{p:03d}.wav" for s in range(1, 5)
             for p in range(1, 6)]
    ratings = {item: float(rng.uniform(1, 5)) for item in items}
    for item in items:
        lines.append(f"{item},{ratings[item]},3.0")
    (root / "sets" / "train_mos_list.txt").write_text("\n".join(lines) + "\n")
    (root / "sets" / "dev_mos_list.txt").unlink()
    profile_dir = tmp_path / "profile"
    profile_dir.mkdir()
    clips = pd.DataFrame({"model": "demo", "dataset": "wav", "item": items,
                          "mean_loss": [-ratings[i] for i in items],
                          "excess_surprisal": [ratings[i] for i in items]})
    clips.to_parquet(profile_dir / "clips.parquet")
    prefs = pd.DataFrame({"file_a": items[:10], "file_b": items[10:],
                          "winner": ["a" if ratings[x] > ratings[y] else "b"
                                     for x, y in zip(items[:10], items[10:], strict=True)]})
    result = correlate(profile_dir, root, preferences=prefs, seed=0)
    assert result["matched"] == 20 and not result["unmatched"] and not result["ambiguous"]
    clip = result["table"]
    rho = clip[(clip["level"] == "clip") & (clip["metric"] == "mean_loss")
               & (clip["method"] == "spearman")]["value"].iloc[0]
    assert rho == pytest.approx(stats.spearmanr(clips["mean_loss"],
                                                [ratings[i] for i in items]).statistic)
    assert set(clip["level"]) == {"clip", "system"}  # systems S001 ... S004 from the ids
    pairwise = result["pairwise"].set_index("metric")
    assert pairwise.loc["mean_loss", "accuracy"] == 1.0 and pairwise.loc["mean_loss", "n"] == 10
    assert pairwise.loc["excess_surprisal", "accuracy"] == 0.0  # it rises with quality
    paired = result["paired"]
    assert paired["metric"].tolist() == ["excess_surprisal"] and paired["n"].iloc[0] == 20
