"""Running policies on HPTune episodes and summarising the results honestly.

A *policy* is anything with Stable-Baselines3's ``predict(obs, state=None, episode_start=True,
deterministic=True) -> (action, state)`` or a plain callable ``f(obs) -> action``;
:func:`as_policy` accepts both. :func:`run_episodes` plays whole episodes and records what a
paper needs: return, final validation and test accuracy, child SGD steps, wall time and the
schedule of hyper-parameters chosen.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import gymnasium as gym
import numpy as np

from hpenv.episodes import hyperparameters_from_info


#: Evaluation seeds start here; training episodes draw seeds below 2**31 - 1, so these are held out.
HELD_OUT_SEED = 2**31
#: Seeds that ``hptune train`` reports on: held out from training too, but disjoint from the
#: benchmark's evaluation seeds ``HELD_OUT_SEED + i`` (i < 10**6), which only the benchmark reports.
REPORT_SEED = HELD_OUT_SEED + 1_000_000


class Policy(Protocol):
    def predict(self, observation, state=None, episode_start=True, deterministic=True) -> tuple[Any, Any]: ...


class _CallablePolicy:
    """A plain function ``f(obs) -> action`` seen as a policy."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        return self.fn(observation), state


def as_policy(obj: Any) -> Policy:
    """``obj`` if it has ``predict``, a wrapper if it is a callable, else a clear error."""
    if hasattr(obj, "predict") and callable(obj.predict):
        return obj
    if callable(obj):
        return _CallablePolicy(obj)
    raise TypeError(
        f"a policy must have predict(obs, state, episode_start, deterministic) -> (action, state) "
        f"or be a callable obs -> action; got {type(obj).__name__}"
    )


def _takes_reward(policy: Policy) -> bool:
    try:
        return "reward" in inspect.signature(policy.predict).parameters
    except (TypeError, ValueError):
        return False


@dataclass
class EpisodeResult:
    """What one evaluation episode produced."""

    seed: int
    episode_return: float
    test_accuracy: float
    val_accuracy: float
    sgd_steps: int
    wall_time_s: float
    diverged: bool
    schedule: list[dict] = field(default_factory=list)


def run_episode(env: gym.Env, policy: Any, seed: int, deterministic: bool = True) -> EpisodeResult:
    """Play one episode of ``env`` from ``reset(seed=seed)`` with ``policy``."""
    policy = as_policy(policy)
    with_reward = _takes_reward(policy)
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed)
    state, start, reward, total = None, True, 0.0, 0.0
    schedule = []
    while True:
        kwargs = {"reward": reward} if with_reward else {}
        action, state = policy.predict(obs, state=state, episode_start=start, deterministic=deterministic, **kwargs)
        obs, reward, terminated, truncated, info = env.step(np.asarray(action))
        total += float(reward)
        start = False
        schedule.append(dict(hyperparameters_from_info(info), val_accuracy=info["val_accuracy"]))
        if terminated or truncated:
            break
    return EpisodeResult(
        seed=seed, episode_return=total, test_accuracy=float(info.get("test_accuracy", np.nan)),
        val_accuracy=float(info["val_accuracy"]), sgd_steps=int(info["sgd_steps"]),
        wall_time_s=time.perf_counter() - t0, diverged=bool(info["diverged"]), schedule=schedule,
    )


def run_episodes(env: gym.Env, policy: Any, seeds: Sequence[int], deterministic: bool = True) -> list[EpisodeResult]:
    """:func:`run_episode` once per seed."""
    return [run_episode(env, policy, int(s), deterministic) for s in seeds]


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
