"""Paired statistics for benchmark tables.

Every method trains the same evaluation children (same member, same seed), so comparisons are
paired: the unit is one (member, seed) pair, and a method's result is compared with a
reference's result *on the same pair*. Never a verdict from overlapping unpaired intervals.

* [`paired_comparison`][agents.bench.stats.paired_comparison] -- mean paired difference, paired bootstrap 95%
  interval (``scipy.stats.bootstrap(..., paired=True)``, seeded, percentile), Wilcoxon signed-rank p
  (``scipy.stats.wilcoxon``; 1.0 when every difference is zero), wins / ties / losses and the
  probability of improvement.
* [`holm`][agents.bench.stats.holm] -- Holm-Bonferroni step-down adjustment of a table's p-values.
* [`iqm`][agents.evaluation.iqm] -- interquartile mean (rliable's robust aggregate;
  [`agents.evaluation.iqm`][]).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from agents.evaluation import iqm  # the one implementation (rliable's interquartile mean)

__all__ = ["paired_comparison", "holm", "iqm", "probability_of_improvement", "signed_rank_p", "win_tie_loss", "verdict",
           "difference_text", "methods_of", "summary_table"]

#: Differences smaller than this are ties (accuracies are multiples of 1 / n_test anyway).
TIE_TOLERANCE = 1e-9


def probability_of_improvement(x: Sequence[float], y: Sequence[float]) -> float:
    """P(x > y) + P(x = y) / 2 over the pairs: how often the method beats the reference on the same child."""
    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    if d.size == 0:
        return float("nan")
    return float((d > TIE_TOLERANCE).mean() + 0.5 * (np.abs(d) <= TIE_TOLERANCE).mean())


def win_tie_loss(differences: Sequence[float]) -> tuple[int, int, int]:
    """How many differences are above, within `TIE_TOLERANCE` of, and below zero."""
    d = np.asarray(differences, dtype=np.float64)
    wins, losses = int((d > TIE_TOLERANCE).sum()), int((d < -TIE_TOLERANCE).sum())
    return wins, d.size - wins - losses, losses


def signed_rank_p(differences: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p of ``differences`` with ties at zero dropped; 1.0 when all are zero."""
    from scipy import stats

    d = np.asarray(differences, dtype=np.float64)
    d = d[np.abs(d) > TIE_TOLERANCE]
    if d.size == 0:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.wilcoxon(d).pvalue)


def paired_comparison(x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95,
                      n_resamples: int = 9999, seed: int = 0) -> dict:
    """Compare a method (``x``) with a reference (``y``) on the same pairs, ``x[i]`` with ``y[i]``.

    Returns a dict with ``n``, ``mean_diff`` (mean of ``x - y``), ``ci_low`` / ``ci_high`` (paired
    percentile bootstrap of the mean difference, resampling pairs), ``p`` (two-sided Wilcoxon
    signed-rank p, zero differences dropped; 1.0 when all differences are zero), ``wins`` /
    ``ties`` / ``losses`` (pairs where ``x`` is above / equal to / below ``y``), ``prob_improvement``,
    and the means and IQMs of both sides.
    """
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D and paired (same length), got shapes {x.shape} and {y.shape}")
    n = len(x)
    if n == 0:
        raise ValueError("no pairs to compare")
    d = x - y
    wins, ties, losses = win_tie_loss(d)
    out = {
        "n": n, "mean_diff": float(d.mean()), "wins": wins, "ties": ties, "losses": losses,
        "prob_improvement": probability_of_improvement(x, y),
        "mean": float(x.mean()), "ref_mean": float(y.mean()), "iqm": iqm(x), "ref_iqm": iqm(y),
    }
    if n < 2 or np.ptp(d) <= TIE_TOLERANCE:  # one pair, or every difference the same: no spread
        out["ci_low"] = out["ci_high"] = float(d.mean()) if n >= 2 else float("nan")
    else:
        res = stats.bootstrap((x, y), lambda a, b, axis=-1: np.mean(a - b, axis=axis), paired=True,
                              vectorized=True, confidence_level=confidence, n_resamples=n_resamples,
                              method="percentile", random_state=np.random.default_rng(seed))
        out["ci_low"], out["ci_high"] = float(res.confidence_interval.low), float(res.confidence_interval.high)
    out["p"] = signed_rank_p(d)
    return out


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given; NaN stays NaN, excluded from m)."""
    p = np.asarray(p_values, dtype=np.float64)
    ok = np.flatnonzero(~np.isnan(p))
    adjusted = np.full(len(p), np.nan)
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def verdict(c: dict, alpha: float = 0.05) -> str:
    """``"better"`` / ``"worse"`` when the Holm-adjusted p is below ``alpha`` and the paired interval
    excludes 0 on the same side; otherwise ``"no difference shown"``."""
    p = c.get("p_holm", c.get("p", float("nan")))
    if not (p < alpha):
        return "no difference shown"
    if c["ci_low"] > 0:
        return "better"
    if c["ci_high"] < 0:
        return "worse"
    return "no difference shown"


def difference_text(c: dict) -> str:
    """A paired comparison's mean difference and 95% interval in points: ``+8.50 [+4.34, +13.31]``."""
    return f"{100 * c['mean_diff']:+.2f} [{100 * c['ci_low']:+.2f}, {100 * c['ci_high']:+.2f}]"


# ---------------------------------------------------------------------- tables of rows
def methods_of(rows) -> list[str]:
    """The methods of ``rows`` in the order they first appear."""
    return list(dict.fromkeys(r["method"] for r in rows))


def summary_table(rows: Sequence[dict]) -> dict[str, dict[str, dict]]:
    """``{suite: {method: {mean, iqm, std, n, deployed, search, one_off, wall}}}``."""
    out: dict[str, dict[str, dict]] = {}
    for suite in dict.fromkeys(r["suite"] for r in rows):
        for m in methods_of([r for r in rows if r["suite"] == suite]):
            rs = [r for r in rows if r["suite"] == suite and r["method"] == m]
            a = np.array([float(r["test_accuracy"]) for r in rs])
            by_seed: dict[int, list[float]] = {}
            for r in rs:
                by_seed.setdefault(int(r["seed"]), []).append(float(r["test_accuracy"]))
            seed_means = [float(np.mean(v)) for v in by_seed.values()]
            out.setdefault(suite, {})[m] = {
                "mean": float(a.mean()), "iqm": iqm(a), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                "n": len(a), "seed_min": min(seed_means), "seed_max": max(seed_means), "deployed": float(np.mean([int(r["deployed_sgd_steps"]) for r in rs])),
                "search": float(np.mean([int(r["search_sgd_steps"]) for r in rs])),
                "one_off": float(rs[0]["one_off_sgd_steps"]), "one_off_wall": float(rs[0]["one_off_wall_time_s"]),
                "wall": float(np.mean([float(r["wall_time_s"]) for r in rs])),
                "diverged": int(sum(bool(r["diverged"]) for r in rs)), "source": rs[0].get("source", "built-in"),
            }
    return out
