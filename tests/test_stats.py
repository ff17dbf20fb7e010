"""Paired statistics: known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from agents.bench.stats import holm, iqm, paired_comparison, probability_of_improvement, verdict


def test_iqm_known_values():
    assert iqm([1, 2, 3, 4]) == 2.5
    assert iqm([0, 1, 1, 1, 1, 1, 1, 100]) == 1.0  # the outliers are trimmed
    assert iqm([5.0]) == 5.0
    assert np.isnan(iqm([]))


def test_holm_known_values():
    # m = 3: sorted p 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (monotone), original order kept
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = holm([0.01, float("nan"), 0.03])
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.03)


def test_paired_comparison_counts_and_mean():
    # accuracies in eighths, exact in binary: differences +1/8, 0, -1/8, +1/8, +1/8
    x = np.array([7, 6, 5, 4, 3]) / 8
    y = np.array([6, 6, 6, 3, 2]) / 8
    c = paired_comparison(x, y)
    assert c["n"] == 5 and (c["wins"], c["ties"], c["losses"]) == (3, 1, 1)
    assert c["mean_diff"] == pytest.approx(0.05)
    assert c["prob_improvement"] == pytest.approx((3 + 0.5) / 5)
    assert c["ci_low"] <= c["mean_diff"] <= c["ci_high"]
    assert c["mean"] == pytest.approx(0.625) and c["ref_mean"] == pytest.approx(0.575)
    # the tie is dropped before the signed-rank test (scipy's default); the test is scale-free
    assert c["p"] == pytest.approx(st.wilcoxon([1, -1, 1, 1]).pvalue)


def test_paired_interval_is_narrow_where_unpaired_ones_overlap():
    """The point of pairing: a small, consistent gain over noisy children is detected."""
    rng = np.random.default_rng(1)
    child = rng.uniform(0.5, 0.95, size=30)  # hard and easy members dominate the spread
    y = child
    x = child + 0.01 + rng.normal(0, 0.002, size=30)
    c = paired_comparison(x, y, seed=3)
    assert 0.008 < c["ci_low"] < 0.01 < c["ci_high"] < 0.012
    assert c["p"] < 1e-5 and c["wins"] == 30
    assert verdict({**c, "p_holm": c["p"]}) == "better"
    assert verdict({**paired_comparison(y, x), "p_holm": c["p"]}) == "worse"
    # the same seed gives the same interval
    assert paired_comparison(x, y, seed=3)["ci_low"] == c["ci_low"]


def test_all_zero_differences():
    x = [0.5, 0.6, 0.7]
    c = paired_comparison(x, x)
    assert c["mean_diff"] == 0 and c["p"] == 1.0 and (c["ci_low"], c["ci_high"]) == (0.0, 0.0)
    assert (c["wins"], c["ties"], c["losses"]) == (0, 3, 0) and c["prob_improvement"] == 0.5
    assert verdict(c) == "no difference shown"
    c = paired_comparison([1.0, 1.0], [0.5, 0.5])  # constant difference: a degenerate interval
    assert (c["ci_low"], c["ci_high"]) == (0.5, 0.5)


def test_bad_input():
    with pytest.raises(ValueError, match="paired"):
        paired_comparison([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="no pairs"):
        paired_comparison([], [])
    assert probability_of_improvement([1, 0], [0, 1]) == 0.5
