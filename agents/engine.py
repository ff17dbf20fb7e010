"""The one evaluation engine: play HPTune episodes for many children at once.

:func:`run_batch` plays one episode per seed, ``chunk`` children at a time in one native vector
env, each child with its own seed and actions. Everything that trains children for a result
(policy evaluation, static tuples, fixed schedules, the search methods of :mod:`agents.search`,
the benchmark) goes through it, so an episode is recorded the same way everywhere: the
schedule of hyper-parameters applied (read from ``info`` by
:func:`hpenv.hyperparameters_from_info`), final validation and test accuracy, SGD
steps and wall time.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from agents.evaluation import EpisodeResult, _takes_reward, as_policy
from hpenv.config import EnvConfig
from hpenv.episodes import hyperparameters_from_info
from hpenv.vector import HPTuneVectorEnv

__all__ = ["Actor", "run_batch", "evaluate_policy", "static_episodes", "schedule_episodes"]

# ---------------------------------------------------------------------- the batched runner
Actor = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``act(obs (K, d), reward (K,), episode_start (K,), live (K,)) -> actions (K, n_hp)``; rows not
``live`` (their episode has ended) may hold anything valid."""


def run_batch(seeds: Sequence[int], make_actor: Callable[[list[int]], Actor], *, chunk: int = 16,
              **env_kwargs) -> tuple[list[EpisodeResult], int]:
    """Play one episode per seed, ``chunk`` children at a time in one native vector env.

    Child ``i`` of a chunk is reset with its own seed (``reset(seed=[...])``), so it is the same
    child as ``gym.make(hpenv.ENV_ID).reset(seed=seeds[i])`` (up to float rounding of batched
    matrix products). ``make_actor(rows)`` is called once per chunk with the indices (into
    ``seeds``) of its rows and returns the actor for that chunk.

    Returns:
        one :class:`~agents.evaluation.EpisodeResult` per seed, in order (``wall_time_s`` is the
        chunk's wall time divided by its size: the cost per child when children train
        together), and the child SGD steps actually run (children that end early, by
        divergence, are restarted by the vector env's autoreset while others finish; those
        steps are wasted but counted here).
    """
    seeds = [int(s) for s in seeds]
    out: list[EpisodeResult | None] = [None] * len(seeds)
    trained = 0
    for start in range(0, len(seeds), chunk):
        rows = list(range(start, min(start + chunk, len(seeds))))
        K = len(rows)
        act = make_actor(rows)
        t0 = time.perf_counter()
        venv = HPTuneVectorEnv(num_envs=K, **env_kwargs)
        obs, _ = venv.reset(seed=[seeds[r] for r in rows])
        done = np.zeros(K, dtype=bool)
        terminated = np.zeros(K, dtype=bool)
        starts = np.ones(K, dtype=bool)
        reward = np.zeros(K)
        total = np.zeros(K)
        schedules: list[list[dict]] = [[] for _ in range(K)]
        finished: dict[int, dict] = {}
        while not done.all():
            live = ~done
            actions = np.asarray(act(obs, reward, starts, live)).reshape(K, -1)
            actions = np.where(live[:, None], actions, 0).astype(np.int64)
            trained += int((~terminated).sum()) * venv.steps_per_action  # ended rows only reset
            obs, reward, terminated, _, info = venv.step(actions)
            for k in np.flatnonzero(live):
                total[k] += reward[k]
                schedules[k].append({**hyperparameters_from_info(info, k),
                                     "val_accuracy": float(info["val_accuracy"][k]),
                                     "val_loss": float(info["val_loss"][k])})
                if terminated[k]:
                    finished[k] = {"test_accuracy": float(info["test_accuracy"][k]),
                                   "val_accuracy": float(info["val_accuracy"][k]),
                                   "sgd_steps": int(info["sgd_steps"][k]),
                                   "diverged": bool(info["diverged"][k])}
            done |= terminated
            starts[:] = False
        venv.close()
        wall = (time.perf_counter() - t0) / K
        for k, r in enumerate(rows):
            out[r] = EpisodeResult(seed=seeds[r], episode_return=float(total[k]), wall_time_s=wall,
                                   schedule=schedules[k], **finished[k])
    return out, trained  # type: ignore[return-value]


def _policy_actor(policy: Any, n_rows: int, deterministic: bool = True) -> Actor:
    """Rows of a batch played by one policy, each with its own recurrent state.

    The policy sees one observation at a time (the documented single-env contract:
    ``predict(obs, state, episode_start, deterministic)``), so any user policy works unchanged.
    """
    policy = as_policy(policy)
    with_reward = _takes_reward(policy)
    states: list[Any] = [None] * n_rows

    def act(obs, reward, starts, live):
        actions = None
        for i in np.flatnonzero(live):
            kw = {"reward": float(reward[i])} if with_reward else {}
            a, states[i] = policy.predict(obs[i], state=states[i], episode_start=bool(starts[i]),
                                          deterministic=deterministic, **kw)
            a = np.asarray(a).reshape(-1)
            if actions is None:
                actions = np.zeros((len(obs), a.size), dtype=np.int64)
            actions[i] = a
        return actions

    return act


def evaluate_policy(policy: Any, seeds: Sequence[int], *, deterministic: bool = True, chunk: int = 16,
                    **env_kwargs) -> list[EpisodeResult]:
    """Play one episode per seed with ``policy``; the children train together in a vector env.

    ``policy``: anything :func:`agents.evaluation.as_policy` accepts (an object with
    ``predict(obs, state=None, episode_start=True, deterministic=True) -> (action, state)``, or a
    callable ``obs -> action``). It is called with one observation at a time; a ``predict`` that
    takes ``reward=`` gets the previous reward, as in :func:`agents.evaluation.run_episode`.
    Each seed's child equals a single env's ``reset(seed=seed)``.
    """
    results, _ = run_batch(seeds, lambda rows: _policy_actor(policy, len(rows), deterministic),
                           chunk=chunk, **env_kwargs)
    return results


def _require_absolute(env_kwargs: dict, what: str) -> None:
    """Refuse an env whose actions are relative moves: ``what`` plays absolute grid positions, and
    replaying them as moves would train other hyper-parameters than the ones recorded."""
    EnvConfig.from_kwargs(env_kwargs).resolve_space().require_absolute(what)


def static_episodes(tuples: np.ndarray, seeds: Sequence[int], *, chunk: int = 16,
                    **env_kwargs) -> tuple[list[EpisodeResult], int]:
    """Train one child per (tuple, seed) pair with that static tuple for a whole episode.

    A tuple is absolute (one grid position per hyper-parameter): an env with ``relative_actions``
    is refused with a ValueError.
    """
    _require_absolute(env_kwargs, "static_episodes")
    tuples = np.asarray(tuples, dtype=np.int64)

    def make_actor(rows):
        fixed = tuples[rows]
        return lambda obs, reward, starts, live: fixed

    return run_batch(seeds, make_actor, chunk=chunk, **env_kwargs)



def schedule_episodes(schedules: np.ndarray, seeds: Sequence[int], *, chunk: int = 16,
                      **env_kwargs) -> tuple[list[EpisodeResult], int]:
    """Train one child per (schedule, seed) pair: ``schedules[i, t]`` is the action at env step ``t``.

    ``schedules`` is ``(n, horizon, n_hp)``: a fixed schedule depends on the time-step only. Its
    actions are absolute grid positions: an env with ``relative_actions`` is refused with a ValueError.
    """
    _require_absolute(env_kwargs, "schedule_episodes")
    schedules = np.asarray(schedules, dtype=np.int64)

    def make_actor(rows):
        fixed = schedules[rows]
        t = {"step": 0}

        def act(obs, reward, starts, live):
            a = fixed[:, min(t["step"], fixed.shape[1] - 1)]
            t["step"] += 1
            return a

        return act

    return run_batch(seeds, make_actor, chunk=chunk, **env_kwargs)
