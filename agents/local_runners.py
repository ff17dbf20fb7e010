"""Runners in this process: what one Ray runner does, without Ray.

[`agents.reinforce.RecurrentReinforce.learn`][] plays an update either in its own vector env, taking in
each step's observation statistics as it is played, or as chunks handed to runners
([`agents.rollout.Runners`][]), each played with a frozen snapshot of the learner. The two are different
runs of one seed. [`LocalRunners`][agents.local_runners.LocalRunners] plays the chunks in this process,
in order, exactly as any number of [`agents.distributed.RayRunners`][] would, so a run gives the same
agent with Ray or without it (the ray extra installed or not), on one core or on many::

    import gymnasium as gym
    from agents import RecurrentReinforce
    from agents.local_runners import LocalRunners

    env_kwargs = {"task": "digits", "horizon": 10}
    agent = RecurrentReinforce(gym.make_vec("HPTune-v1", num_envs=8, **env_kwargs), seed=0,
                               episodes_per_update=16)
    with LocalRunners(env_kwargs, num_envs=8) as runners:
        agent.learn(512, runners=runners)
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym

import hpenv
from agents.member_groups import MemberGroupRunners
from agents.rollout import ChunkPlan, EpisodeChunk, PolicySnapshot

__all__ = ["LocalRunners"]


class LocalRunners:
    """[`agents.rollout.Runners`][] in this process: one vector env of ``num_envs`` children (or one per group
    of ``members``) that plays every chunk of an update, in plan order, with the learner's snapshot.

    Args:
        env_kwargs: Keyword arguments of the env (``task``, ``horizon``, ``steps_per_action``...), or, with
            ``members``, the arguments over each member's own.
        num_envs: Children of the vector env, ``K``: the size of every chunk.
        members: Suite members whose env arguments differ (a benchmark v3 split): the chunks are played by a
            [`MemberGroupRunners`][agents.member_groups.MemberGroupRunners] over them, each in the group its
            plan draws.
        env_id: The registered env id.
    """

    def __init__(self, env_kwargs: dict[str, Any], num_envs: int, *, members: Sequence[str] | None = None,
                 env_id: str = hpenv.ENV_ID):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.num_envs = num_envs
        self.groups = MemberGroupRunners(list(members), num_envs, env_kwargs=env_kwargs) if members else None
        self.env = None if members else gym.make_vec(env_id, num_envs=num_envs, **env_kwargs)
        source = self.groups or self.env
        self.single_observation_space = source.single_observation_space
        self.single_action_space = source.single_action_space
        self._vessel: Any = None

    def play(self, snapshot: PolicySnapshot, plans: list[ChunkPlan]) -> list[EpisodeChunk]:
        """Play every chunk of ``plans`` with ``snapshot``; the chunks in plan order."""
        from agents.reinforce import RecurrentReinforce

        if self.groups is not None:  # each chunk in the group its plan draws
            return self.groups.play(snapshot, plans)
        self._vessel = RecurrentReinforce.vessel(self.env, snapshot, self._vessel)
        return [self._vessel.play_chunk(snapshot, plan) for plan in plans]

    def close(self) -> None:
        if self.groups is not None:
            self.groups.close()
        if self.env is not None:
            self.env.close()
        self._vessel = None

    def __enter__(self) -> LocalRunners:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
