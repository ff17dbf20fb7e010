"""The bootstrap's primitives and argument checks that benchmark v3's analysis and power simulation share."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["SE_ZERO", "check_probability", "check_count", "check_finite", "check_resamples", "member_weights",
           "seed_inflation", "critical_count", "critical_value"]

#: A bootstrap standard error at or below this is zero: every replicate gave the same difference
#: (accuracies are multiples of 1 / (n_test x cells), far above it; float sums are not exact).
SE_ZERO = 1e-12

def check_probability(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_resamples(resamples, level: float, what: str) -> int:
    resamples = check_count("resamples", resamples, 2)
    # Below 1 / level replicates no bootstrap p can fall under the level: the test could not reject.
    if resamples * level < 1:
        raise ValueError(f"resamples must be at least 1 / {what} = {math.ceil(1 / level)} for a test at that "
                         f"level, got {resamples}")
    return resamples


def member_weights(rng: np.random.Generator, k: int, resamples: int) -> np.ndarray:
    """``(resamples, k)``: how often each of ``k`` units is drawn in ``k`` draws with replacement, over ``k``."""
    draws = rng.integers(0, k, size=(resamples, k)) + k * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * k).reshape(resamples, k) / k


def seed_inflation(seeds: int) -> float:
    """How much a bootstrap stretches resampled meta-training seeds' deviations from their mean:
    ``sqrt(S / (S - 1))``, so that the bootstrap variance of a mean of ``S`` seeds is the unbiased
    ``s^2 / S``, not ``(S - 1) / S`` of it."""
    return float(math.sqrt(seeds / (seeds - 1)))


def critical_count(resamples: int, level: float) -> int:
    """The smallest count ``k`` with ``k / resamples >= level``.

    A bootstrap p is ``count / resamples`` with ``count`` the replicates at or above ``|t|``; it is below
    ``level`` exactly when ``count < k``, that is when ``|t|`` exceeds the ``k``-th largest replicate, which
    is therefore the critical value. Computed with the same float comparison as the p, so the interval
    and the p agree even where ``level * resamples`` is not exact in floating point.
    """
    k = max(1, math.ceil(level * resamples))
    while k > 1 and (k - 1) / resamples >= level:
        k -= 1
    while k / resamples < level:
        k += 1
    return k


def critical_value(max_abs_t: np.ndarray, level: float) -> float:
    """The ``1 - level`` quantile of ``max_abs_t`` (per replicate), as
    [`critical_count`][agents.bench.v3.bootstrap.critical_count] defines it."""
    k = critical_count(len(max_abs_t), level)
    return float(np.partition(max_abs_t, len(max_abs_t) - k)[len(max_abs_t) - k])
