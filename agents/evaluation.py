"""Running policies on HPTune episodes and summarising the results honestly.

A *policy* is anything with Stable-Baselines3's ``predict(obs, state=None, episode_start=True,
deterministic=True) -> (action, state)`` or a plain callable ``f(obs) -> action``;
[`as_policy`][agents.engine.as_policy] accepts both. [`run_episodes`][agents.evaluation.run_episodes] plays
whole episodes through the one engine ([`agents.engine.play_episodes`][]) and gets what a paper needs as one
[`agents.engine.EpisodeRecord`][] per episode: return, final validation and test accuracy,
child SGD steps, wall time and the schedule of hyper-parameters applied.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from agents.engine import EpisodeRecord, Policy, as_policy, evaluate_policy
from agents.seeds import HELD_OUT, REPORT

__all__ = ["Policy", "as_policy", "run_episode", "run_episodes", "bootstrap_ci", "iqm", "summarize",
           "format_summary", "around_the_change", "response_to_the_change", "HELD_OUT_SEED", "REPORT_SEED"]

#: The first held-out evaluation seed (`agents.seeds.HELD_OUT`, which owns the range).
HELD_OUT_SEED = HELD_OUT.start
#: The first seed ``hptune train`` reports on (`agents.seeds.REPORT`).
REPORT_SEED = REPORT.start


def run_episode(env: gym.Env, policy: Any, seed: int, deterministic: bool = True) -> EpisodeRecord:
    """Play one episode of ``env`` from ``reset(seed=seed)`` with ``policy``; an
    [`agents.engine.EpisodeRecord`][]."""
    return run_episodes(env, policy, [seed], deterministic)[0]


def run_episodes(env: gym.Env, policy: Any, seeds: Sequence[int], deterministic: bool = True) -> list[EpisodeRecord]:
    """One episode of ``env`` per seed with ``policy``, through [`agents.engine.evaluate_policy`][]
    (``env`` may be a single env or a vector env)."""
    return evaluate_policy(policy, [int(s) for s in seeds], deterministic=deterministic, env=env)


def __getattr__(name: str):
    if name == "EpisodeResult":
        warnings.warn("agents.evaluation.EpisodeResult is now agents.engine.EpisodeRecord (one record "
                      "for every episode; its fields are keyword arguments)", DeprecationWarning, stacklevel=2)
        return EpisodeRecord
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------- statistics
def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, n_boot: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(1)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle 50% (robust to skew, as in rliable)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0:
        return float("nan")
    lo, hi = int(np.floor(n * 0.25)), int(np.ceil(n * 0.75))
    return float(x[lo:hi].mean()) if hi > lo else float(x.mean())


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Mean, 95% bootstrap interval, interquartile mean and count."""
    lo, hi = bootstrap_ci(values)
    return {"mean": float(np.mean(values)), "ci_low": lo, "ci_high": hi, "iqm": iqm(values), "n": len(values)}


def format_summary(s: dict[str, float], digits: int = 4) -> str:
    return f"{s['mean']:.{digits}f} [{s['ci_low']:.{digits}f}, {s['ci_high']:.{digits}f}]"


# ---------------------------------------------------------------------- a stream's change
def around_the_change(records: Sequence[EpisodeRecord], names: Sequence[str]) -> dict[int, dict[str, dict]]:
    """Children's schedules aligned on their data's change (relative step 0: the first step on changed data,
    [`EpisodeRecord.change_step`][agents.engine.EpisodeRecord.change_step]).

    Args:
        records: children of a stream task; those whose data did not change are skipped.
        names: the hyper-parameters to collect.

    Returns:
        ``out[k][name]``: ``values`` (applied at relative step ``k``) and ``changed`` (whether it
            differs from the step before; a schedule's first step has none).
    """
    out: dict = defaultdict(lambda: defaultdict(lambda: {"values": [], "changed": []}))
    for r in records:
        if r.change_step is None:
            continue
        for t, step in enumerate(r.schedule):
            cell = out[t - (r.change_step - 1)]
            for n in names:
                cell[n]["values"].append(float(step[n]))
                if t > 0:
                    cell[n]["changed"].append(step[n] != r.schedule[t - 1][n])
    return out


def response_to_the_change(records: Sequence[EpisodeRecord], name: str) -> tuple[float, float]:
    """Whether a policy times ``name`` by the data's change or by the clock.

    A policy that follows the clock scores the two shares alike; one that responds to the change, the
    first higher. Both are NaN where no env step has children of both kinds.

    Returns:
        at_one: The share of children that change ``name`` at relative step +1 (the first action chosen
            after a step on changed data, the first that can respond to it).
        same_step: The share that change it at the same env step among children whose change came at
            another step, weighted alike over env steps.
    """
    changed: dict = defaultdict(lambda: {True: [], False: []})
    for r in records:
        if r.change_step is None:
            continue
        for t in range(1, len(r.schedule)):  # t is the 0-based index of a step; +1 is index change_step
            changed[t][t == r.change_step].append(r.schedule[t][name] != r.schedule[t - 1][name])
    both = [c for c in changed.values() if c[True] and c[False]]
    if not both:
        return float("nan"), float("nan")
    weights = np.array([len(c[True]) for c in both], dtype=np.float64)
    at_one = np.array([np.mean(c[True]) for c in both]) @ weights / weights.sum()
    same_step = np.array([np.mean(c[False]) for c in both]) @ weights / weights.sum()
    return float(at_one), float(same_step)
