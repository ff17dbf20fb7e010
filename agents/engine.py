"""The one episode engine: play HPTune episodes and record each child the same way.

[`play_episodes`][agents.engine.play_episodes] plays one episode per seed with an *actor over a batch* in a
single env, a vector env (chunks of its ``num_envs``) or a vector env it builds from env keyword arguments
(``chunk`` children at a time). Everything that trains children for a result (``hptune train``'s
comparison, ``hptune eval``, static tuples, fixed schedules, the searches of
[`agents.search`][], the benchmark) goes through it and gets one
[`EpisodeRecord`][agents.engine.EpisodeRecord] per child: the hyper-parameters applied at each step with
validation accuracy and loss ([`step_record`][agents.engine.step_record]), final validation and test accuracy,
SGD steps, divergence and wall time.
"""

from __future__ import annotations

import inspect
import math
import time
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import gymnasium as gym
import numpy as np

import hpenv
from hpenv.config import EnvConfig
from hpenv.episodes import hyperparameters_from_info

__all__ = ["Policy", "as_policy", "takes_reward", "Actor", "EpisodeRecord", "EpisodeLog", "step_record", "play_episodes", "run_batch",
           "evaluate_policy", "static_episodes", "schedule_episodes"]


# ---------------------------------------------------------------------- policies
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


def takes_reward(policy: Policy) -> bool:
    """Whether ``policy.predict`` accepts ``reward=`` (then the loop passes the previous reward)."""
    try:
        return "reward" in inspect.signature(policy.predict).parameters
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------- the record
def _info_reader(info: Mapping[str, Any], index: int | None) -> Callable[[str], Any]:
    """``key -> value`` of a single env's ``info``, or of row ``index`` of a vector env's."""
    return (lambda key: info[key]) if index is None else (lambda key: info[key][index])


def step_record(info: Mapping[str, Any], index: int | None = None) -> dict:
    """One step of a schedule: the hyper-parameters applied (by name), ``val_accuracy`` and
    ``val_loss``, from a single env's ``info`` (or row ``index`` of a vector env's); on a stream task
    also ``phase``, the phase whose data the step trained on (for plots around the change, never for acting)."""
    at = _info_reader(info, index)
    record = {**hyperparameters_from_info(info, index), "val_accuracy": float(at("val_accuracy")),
              "val_loss": float(at("val_loss"))}
    phase = int(at("phase")) if "phase" in info else -1
    if phase >= 0:  # a task without phases keeps the record it always had
        record["phase"] = phase
    return record


@dataclass
class EpisodeRecord:
    """One child's episode, as every part of the project records it (a method's outcome at one seed).

    Attributes:
        seed: the child seed (``reset(seed=seed)``) of the recorded child.
        test_accuracy: test accuracy of that child (the test split is read only for this).
        val_accuracy: its final validation accuracy (what any choice was based on).
        sgd_steps: child SGD steps spent for this result (for a search: all candidates too), not
            counting ``meta_train_sgd_steps``.
        wall_time_s: wall time spent for this result.
        meta_train_sgd_steps: one-off cost paid before deployment, in child SGD steps.
        meta_train_wall_time_s: one-off cost paid before deployment, in wall time.
        episode_return: sum of the child's rewards (final - initial validation accuracy with the
            default reward).
        diverged: whether the child diverged.
        schedule: one [`step_record`][agents.engine.step_record] per env step.
        chosen: the static tuple chosen (values), where a method chooses one.
        search_sgd_steps: the part of ``sgd_steps`` spent on candidates other than the recorded
            child (0 for a plain policy).
    """

    seed: int
    test_accuracy: float
    val_accuracy: float
    sgd_steps: int
    wall_time_s: float
    meta_train_sgd_steps: int = 0
    meta_train_wall_time_s: float = 0.0
    episode_return: float = float("nan")
    diverged: bool = False
    schedule: list[dict] = field(default_factory=list)
    chosen: dict | None = None
    search_sgd_steps: int = 0

    @property
    def change_step(self) -> int | None:
        """On a stream task, the env step (from 1) whose training first used changed data; else None."""
        return next((t + 1 for t, step in enumerate(self.schedule) if step.get("phase", 0) > 0), None)

    @property
    def deployed_sgd_steps(self) -> int:
        """SGD steps of the recorded child itself (``sgd_steps`` less the search's extra compute)."""
        return self.sgd_steps - self.search_sgd_steps

    @property
    def val_loss(self) -> float:
        """Final validation loss (NaN for a record without a schedule, e.g. one read from a cache)."""
        return float(self.schedule[-1]["val_loss"]) if self.schedule else math.nan

    @classmethod
    def from_episode(cls, r: "EpisodeRecord", **overrides) -> "EpisodeRecord":
        """A copy of ``r`` with ``overrides`` (a search's cost on top of its deployed child)."""
        return dataclasses.replace(r, **overrides)


class EpisodeLog:
    """Accumulates one child's episode step by step and turns it into an
    [`EpisodeRecord`][agents.engine.EpisodeRecord].

    The engine keeps one per row; [`agents.bench.methods.EpisodeRecorder`][] keeps one for an
    env that someone else drives (the online learner).
    """

    def __init__(self) -> None:
        self.schedule: list[dict] = []
        self.total = 0.0
        self.final: dict = {}

    def add(self, reward: float, info: Mapping[str, Any], index: int | None = None) -> None:
        at = _info_reader(info, index)
        self.total += float(reward)
        self.schedule.append(step_record(info, index))
        self.final = {"test_accuracy": float(at("test_accuracy")), "val_accuracy": float(at("val_accuracy")),
                      "sgd_steps": int(at("sgd_steps")), "diverged": bool(at("diverged"))}

    def record(self, seed: int, wall_time_s: float) -> EpisodeRecord:
        return EpisodeRecord(seed=int(seed), wall_time_s=wall_time_s, episode_return=self.total,
                             schedule=self.schedule, **self.final)


# ---------------------------------------------------------------------- the one loop
Actor = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``act(obs (K, d), reward (K,), episode_start (K,), live (K,)) -> actions (K, n_hp)``; rows not
``live`` (their episode has ended) may hold anything valid."""


def play_episodes(seeds: Sequence[int], make_actor: Callable[[list[int]], Actor], *,
                  env: gym.Env | gym.vector.VectorEnv | None = None, chunk: int = 16,
                  **env_kwargs) -> tuple[list[EpisodeRecord], int]:
    """Play one episode per seed and record each child.

    Args:
        seeds: one child seed per episode.
        make_actor: called once per batch with the indices (into ``seeds``) of its rows; returns
            the [`Actor`][agents.engine.Actor] for that batch.
        env: a single env (one child at a time, the actor sees batches of one), a vector env
            (``num_envs`` children at a time; a last, short batch fills its spare rows with
            copies of its last row, given to ``make_actor`` too, trained and counted but not
            recorded), or None: a native vector env of ``chunk`` children built per batch from
            ``env_kwargs`` with ``gym.make_vec(hpenv.ENV_ID, ..., vectorization_mode="vector_entry_point")``.
        chunk: children per batch when ``env`` is None.

    Child ``i`` is reset with its own seed, so it is the same child as
    ``gym.make(hpenv.ENV_ID).reset(seed=seeds[i])`` (up to float rounding of batched matrix
    products when several train together).

    Returns:
        records: One [`EpisodeRecord`][agents.engine.EpisodeRecord] per seed, in order (``wall_time_s`` is
            the batch's wall time divided by its size: the cost per child when children train together).
        sgd_steps: The child SGD steps actually run (in a vector env, children that end early, by
            divergence, are restarted by its autoreset while others finish; those steps are wasted but
            counted).
    """
    seeds = [int(s) for s in seeds]
    if env is not None and env_kwargs:
        raise ValueError(f"play_episodes: pass env or env keyword arguments, not both (got env and "
                         f"{sorted(env_kwargs)})")
    single = env is not None and not isinstance(env, gym.vector.VectorEnv)
    size = 1 if single else env.num_envs if env is not None else int(chunk)
    if size < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk!r}")
    out: list[EpisodeRecord] = []
    trained = 0
    for start in range(0, len(seeds), size):
        rows = list(range(start, min(start + size, len(seeds))))
        t0 = time.perf_counter()  # a batch's cost includes building its env
        venv = env if env is not None else gym.make_vec(
            hpenv.ENV_ID, num_envs=len(rows), vectorization_mode="vector_entry_point", **env_kwargs)
        played = rows if single else rows + rows[-1:] * (venv.num_envs - len(rows))  # a given env's spare rows
        logs, spent = _play_batch(venv, single, [seeds[r] for r in played], make_actor(played))
        if env is None:
            venv.close()
        trained += spent
        wall = (time.perf_counter() - t0) / len(rows)
        out += [log.record(seeds[r], wall) for r, log in zip(rows, logs)]
    return out, trained


def _play_batch(env, single: bool, seeds: list[int], act: Actor) -> tuple[list[EpisodeLog], int]:
    """One episode per row of ``env`` (or of the single env, as a batch of one) with ``act``."""
    K = len(seeds)
    spa = env.unwrapped.steps_per_action
    obs, _ = env.reset(seed=seeds[0] if single else seeds)
    if single:
        obs = np.asarray(obs)[None]
    logs = [EpisodeLog() for _ in range(K)]
    done = np.zeros(K, dtype=bool)
    terminated = np.zeros(K, dtype=bool)
    starts = np.ones(K, dtype=bool)
    reward = np.zeros(K)
    trained = 0
    while not done.all():
        live = ~done
        actions = np.asarray(act(obs, reward, starts, live)).reshape(K, -1)
        actions = np.where(live[:, None], actions, 0).astype(np.int64)
        trained += int((~terminated).sum()) * spa  # rows that ended last step only reset now
        if single:
            obs, r, term, trunc, info = env.step(actions[0])
            obs, reward, terminated = np.asarray(obs)[None], np.array([r]), np.array([term or trunc])
            logs[0].add(r, info)
        else:
            obs, reward, terminated, _, info = env.step(actions)
            for k in np.flatnonzero(live):
                logs[k].add(reward[k], info, k)
        done |= terminated
        starts[:] = False
    return logs, trained


def run_batch(seeds: Sequence[int], make_actor: Callable[[list[int]], Actor], *, chunk: int = 16,
              **env_kwargs) -> tuple[list[EpisodeRecord], int]:
    """[`play_episodes`][agents.engine.play_episodes] in a native vector env of ``chunk`` children built from
    ``env_kwargs``."""
    return play_episodes(seeds, make_actor, chunk=chunk, **env_kwargs)


def _policy_actor(policy: Any, n_rows: int, deterministic: bool = True) -> Actor:
    """Rows of a batch played by one policy, each with its own recurrent state.

    The policy sees one observation at a time (the documented single-env contract:
    ``predict(obs, state, episode_start, deterministic)``), so any user policy works unchanged.
    """
    policy = as_policy(policy)
    with_reward = takes_reward(policy)
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
                    env: gym.Env | gym.vector.VectorEnv | None = None, **env_kwargs) -> list[EpisodeRecord]:
    """Play one episode per seed with ``policy``; the children train together in a vector env.

    ``policy``: anything [`as_policy`][agents.engine.as_policy] accepts (an object with
    ``predict(obs, state=None, episode_start=True, deterministic=True) -> (action, state)``, or a
    callable ``obs -> action``). It is called with one observation at a time; a ``predict`` that
    takes ``reward=`` gets the previous reward, as in [`agents.evaluation.run_episode`][].
    Each seed's child equals a single env's ``reset(seed=seed)``. ``env``: play in that env
    instead (a single env or a vector env, as [`play_episodes`][agents.engine.play_episodes] takes).
    """
    results, _ = play_episodes(seeds, lambda rows: _policy_actor(policy, len(rows), deterministic),
                               env=env, chunk=chunk, **env_kwargs)
    return results


def _require_absolute(env_kwargs: dict, what: str) -> None:
    """Refuse an env whose actions are relative moves: ``what`` plays absolute grid positions, and
    replaying them as moves would train other hyper-parameters than the ones recorded."""
    EnvConfig.from_kwargs(env_kwargs).resolve_space().require_absolute(what)


def static_episodes(tuples: np.ndarray, seeds: Sequence[int], *, chunk: int = 16,
                    **env_kwargs) -> tuple[list[EpisodeRecord], int]:
    """Train one child per (tuple, seed) pair with that static tuple for a whole episode.

    A tuple is absolute (one grid position per hyper-parameter): an env with ``relative_actions``
    is refused with a ValueError.
    """
    _require_absolute(env_kwargs, "static_episodes")
    tuples = np.asarray(tuples, dtype=np.int64)

    def make_actor(rows):
        fixed = tuples[rows]
        return lambda obs, reward, starts, live: fixed

    return play_episodes(seeds, make_actor, chunk=chunk, **env_kwargs)


def schedule_episodes(schedules: np.ndarray, seeds: Sequence[int], *, chunk: int = 16,
                      **env_kwargs) -> tuple[list[EpisodeRecord], int]:
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

    return play_episodes(seeds, make_actor, chunk=chunk, **env_kwargs)
