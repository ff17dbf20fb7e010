"""Sizing benchmark v3's test split: a power simulation for a minimum detectable difference of the mean
that counts only rejections in the true direction (issue 27)."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from agents.bench.v3.bootstrap import (SE_ZERO, check_count, check_finite, check_probability, check_resamples, critical_count,
                                       member_weights, seed_inflation)

__all__ = ["power_simulation", "smallest_n"]


def power_simulation(pilot_differences: Sequence[float], *, delta: float, n_members: Sequence[int], family_size: int,
                     alpha: float = 0.05, simulations: int = 2000, resamples: int = 2000, seed: int = 0,
                     chunk: int = 50, seed_sd: float = 0.0, train_seeds: int = 1) -> list[dict]:
    """Power of the primary analysis to show a mean member-level difference of ``delta`` over ``n`` members.

    ``pilot_differences`` are member-level differences measured on selection members (a proxy for
    the controller minus a reference, meta-training seeds averaged, so the seed spread enters only
    as far as it moves these). They are re-centred to mean 0; each simulation draws ``n`` members with
    replacement from them, which is the sample at a true mean difference of 0, and adds ``delta``
    for the sample at the true mean ``delta`` (the same draws: common random numbers). Each sample is
    analysed with the primary procedure's one-comparison analogue: a bootstrap-t of the mean over
    members, ``mean +- c se`` with ``se`` the plug-in standard error and ``c`` the ``1 - alpha /
    family_size`` quantile of ``|T*| = |mean* - mean| / se*``, each replicate's ``se*`` from its own
    draw. The Bonferroni level stands in for the family's max-|T| critical value: it is never
    smaller, whatever the comparisons' dependence, so the power is conservative.

    Only rejections in the true direction are power: for ``delta > 0`` the interval's low above 0
    (for ``delta < 0`` its high below 0; at ``delta = 0`` the direction counted is "better", the claim
    a controller's paper would make, so the "power" there is a false claim's rate, about half the
    level). A rejection the other way is reported apart
    (``wrong_direction_rate``), and at ``delta = 0`` the share of intervals that exclude 0 either way
    is the type-I check (``false_positive_rate_at_zero``, near ``alpha / family_size`` where the
    bootstrap is accurate; much above it, the test split is too small for the pilot's skew).

    A learned method's meta-training seeds add a level the pilot lacks: one seed is one agent deployed
    on every member, so its effect shifts the mean of every member alike and does not shrink as the
    test split grows. With ``seed_sd > 0`` each simulated split draws ``train_seeds`` seed effects from
    a normal of that standard deviation, adds their mean to the split's mean, and its bootstrap redraws
    them with replacement beside the members, stretched as the primary analysis's crossed bootstrap-t
    stretches them (``false_positive_rate_at_zero`` shows how near the level that keeps the test with
    few seeds).

    The bootstrap's member draws (a count matrix) are shared by the ``chunk`` simulations of one
    block and drawn afresh per block: each simulation's analysis is an ordinary bootstrap, and this
    turns the work into one matrix product per block.

    Args:
        pilot_differences: At least 2 finite member-level differences, not all equal.
        delta: The registered minimum detectable difference of the mean (accuracy units).
        n_members: Candidate sizes of the test split, each >= 2.
        family_size: Comparisons in the suite's family (>= 1).
        alpha: Family-wise level.
        simulations: Simulated test splits per size.
        resamples: Bootstrap replicates per simulated split (at least ``family_size / alpha``).
        seed: Seed of the ``numpy.random.Generator``.
        chunk: Simulations per block sharing one member-draw matrix.
        seed_sd: Standard deviation of a meta-training seed's effect on the mean (accuracy), >= 0.
        train_seeds: Meta-training seeds averaged in each simulated split (>= 2 where ``seed_sd > 0``).

    Returns:
        One row per size, ascending: ``n_members``, ``delta``, ``power``, ``wrong_direction_rate``,
            ``false_positive_rate_at_zero``, ``family_size``, ``alpha``, ``level``
            (``alpha / family_size``), ``simulations``, ``resamples``, ``seed_sd``, ``train_seeds``.
    """
    d = np.asarray(pilot_differences, dtype=np.float64)
    if d.ndim != 1 or d.size < 2 or not np.isfinite(d).all():
        raise ValueError(f"pilot_differences must be at least 2 finite member-level differences, got shape {d.shape}")
    if np.ptp(d) == 0:
        raise ValueError("pilot_differences have no spread (all equal): their distribution cannot be resampled")
    delta = check_finite("delta", delta)
    family_size = check_count("family_size", family_size)
    alpha = check_probability("alpha", alpha)
    level = alpha / family_size
    simulations = check_count("simulations", simulations)
    resamples = check_resamples(resamples, level, "(alpha / family_size)")
    chunk = check_count("chunk", chunk)
    seed = check_count("seed", seed, 0)
    seed_sd = check_finite("seed_sd", seed_sd)
    if seed_sd < 0:
        raise ValueError(f"seed_sd must be >= 0 (a standard deviation), got {seed_sd!r}")
    train_seeds = check_count("train_seeds", train_seeds, 2 if seed_sd > 0 else 1)
    if isinstance(n_members, (str, bytes)) or not isinstance(n_members, Iterable):
        raise ValueError(f"n_members must be a sequence of sizes, got {n_members!r}")
    sizes = sorted({check_count("n_members entries", n, 2) for n in n_members})
    if not sizes:
        raise ValueError("n_members must hold at least one size, got an empty sequence")
    k = critical_count(resamples, level)
    rng = np.random.default_rng(seed)
    centred = d - d.mean()
    rows = []
    for n in sizes:
        up = down = zero = 0
        for start in range(0, simulations, chunk):
            size = min(chunk, simulations - start)
            sample = rng.choice(centred, size=(size, n))                  # (size, n), true mean 0
            weights = member_weights(rng, n, resamples)                  # (resamples, n), rows sum to 1
            means = sample.mean(axis=1)
            boot = sample @ weights.T                                     # (size, resamples)
            # the bootstrap-t: each replicate's own se (the drawn members' variance, and seeds' below)
            var_star = np.maximum((sample * sample) @ weights.T - boot ** 2, 0.0) / (n - 1)
            se = sample.std(axis=1, ddof=1) / np.sqrt(n)
            if seed_sd > 0:
                s = train_seeds
                effects = rng.normal(0.0, seed_sd, size=(size, s))
                centre = effects.mean(axis=1)
                v = member_weights(rng, s, resamples)
                drawn, stretch = effects @ v.T, seed_inflation(s)  # as the analysis stretches the seed level
                means = means + centre
                boot = boot + centre[:, None] + stretch * (drawn - centre[:, None])
                var_star = var_star + stretch ** 2 * np.maximum((effects * effects) @ v.T - drawn ** 2, 0.0) / (s - 1)
                se = np.sqrt(se ** 2 + effects.var(axis=1, ddof=1) / s)
            se_star = np.sqrt(var_star)
            zero_se = se <= SE_ZERO
            gap = np.abs(boot - means[:, None])
            flat = se_star <= SE_ZERO
            abs_t_star = np.where(flat, np.where(gap > SE_ZERO, np.inf, 0.0), gap / np.where(flat, 1.0, se_star))
            c = np.partition(abs_t_star, resamples - k, axis=1)[:, resamples - k]
            # A zero spread makes the interval the point: it excludes 0 when the point is not 0 (beyond
            # the float noise of re-centring).
            half = np.where(zero_se, SE_ZERO, c * np.where(zero_se, 1.0, se))
            shifted = means + delta
            up += int(((shifted - half > 0) if delta >= 0 else (shifted + half < 0)).sum())
            down += int(((shifted + half < 0) if delta >= 0 else (shifted - half > 0)).sum())
            zero += int((np.abs(means) > half).sum())
        rows.append({"n_members": n, "delta": delta, "power": up / simulations,
                     "wrong_direction_rate": down / simulations, "false_positive_rate_at_zero": zero / simulations,
                     "family_size": family_size, "alpha": alpha, "level": level, "simulations": simulations,
                     "resamples": resamples, "seed_sd": seed_sd, "train_seeds": train_seeds})
    return rows


def smallest_n(rows: Sequence[Mapping], target: float = 0.8) -> int | None:
    """The smallest ``n_members`` of [`power_simulation`][agents.bench.v3.power.power_simulation]'s rows from
    which power stays at or above ``target``.

    Simulated power is noisy, so a size counts only if every larger size of the grid also reaches
    ``target``. None when the largest size does not.

    Raises:
        ValueError: on an empty table, rows of several deltas, family sizes or seed levels, or ``target``
            outside (0, 1).
    """
    target = check_probability("target", target)
    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one row of power_simulation, got none")
    for key in ("delta", "family_size", "alpha", "seed_sd", "train_seeds"):
        values = {r.get(key) for r in rows}  # a row without the key (a table kept from before it) is one value
        if len(values) > 1:
            raise ValueError(f"rows must come from one power simulation; they hold several {key}: {sorted(values)}")
    answer = None
    for r in sorted(rows, key=lambda r: -r["n_members"]):
        if r["power"] < target:
            break
        answer = int(r["n_members"])
    return answer
