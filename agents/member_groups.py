"""Meta-training on suite members whose envs differ: one vector env per group of members.

A benchmark v3 member is meant for its own env arguments (``hpenv.member_env_kwargs``: the child's
width, the batch size, SGD steps per action), and a native vector env trains children of one
width, batch size and budget in one batched pass. [`MemberGroupRunners`][agents.member_groups.MemberGroupRunners]
groups the members by their env arguments, keeps one vector env of ``num_envs`` children per
group (built when first needed), and plays each chunk of an update in the group that the chunk's
own action seed draws, with probability proportional to the group's members: every member is
equally likely in every episode, as in one env over all of them. It follows the
[`agents.rollout.Runners`][] protocol, so ``RecurrentReinforce.learn(..., runners=...)`` meta-trains
on every member of a split::

    import gymnasium as gym
    import hpenv
    from agents import RecurrentReinforce
    from agents.member_groups import MemberGroupRunners

    runners = MemberGroupRunners(hpenv.instance_set("v3/stream", "train"), num_envs=16)
    agent = RecurrentReinforce(runners.env(0), seed=0, episodes_per_update=32)
    agent.learn(256, runners=runners)

A chunk's group depends on its plan only, so a seed gives the same agent however the chunks are
played.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import gymnasium as gym
import numpy as np

import hpenv
from agents.rollout import ChunkPlan, EpisodeChunk, PolicySnapshot
from hpenv.instances import members_family

__all__ = ["group_members", "MemberGroupRunners"]

#: Mixed into a chunk's action seed to draw its group (apart from the draws the chunk's actions use).
GROUP_DRAW = 0x6A0


def group_members(members: Sequence[str], env_kwargs: dict | None = None) -> list[tuple[dict, list[str]]]:
    """``[(env arguments, members)]``: the members grouped by the env arguments each is meant for
    (``hpenv.member_env_kwargs``, updated with ``env_kwargs``), groups in order of first appearance."""
    members = list(members)
    if not members:
        raise ValueError("members must name at least one suite member, got none")
    groups: dict[str, tuple[dict, list[str]]] = {}
    for m in members:
        kwargs = {**hpenv.member_env_kwargs(m), **(env_kwargs or {})}
        groups.setdefault(json.dumps(kwargs, sort_keys=True, default=str), (kwargs, []))[1].append(m)
    return list(groups.values())


class MemberGroupRunners:
    """[`agents.rollout.Runners`][] over suite members whose env arguments differ (in process).

    Args:
        members: Suite member ids (e.g. ``hpenv.instance_set("v3/stream", "train")``).
        num_envs: Children per vector env: the episodes of one chunk.
        env_kwargs: Env arguments for every group, over each member's own (a shorter episode in a
            test, say; a width or batch size given here merges the groups it makes equal).

    Attributes:
        groups: ``[(env arguments, members)]``, from [`group_members`][agents.member_groups.group_members].
        probabilities: Each group's share of the members: how often a chunk is played in it.
    """

    def __init__(self, members: Sequence[str], num_envs: int, *, env_kwargs: dict | None = None):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.groups = group_members(members, env_kwargs)
        self.num_envs = num_envs
        sizes = np.array([len(ms) for _, ms in self.groups], dtype=np.float64)
        self.probabilities = sizes / sizes.sum()
        self._envs: dict[int, gym.vector.VectorEnv] = {}
        self._vessels: dict[int, Any] = {}
        first = self.env(0)
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space

    def env(self, group: int) -> gym.vector.VectorEnv:
        """The vector env of group ``group`` (built on first use)."""
        if group not in self._envs:
            kwargs, members = self.groups[group]
            family = members_family(f"group {group} ({len(members)} members)", members)
            env = gym.make_vec(hpenv.ENV_ID, num_envs=self.num_envs, **{**kwargs, "task": family})
            if self._envs and (env.single_observation_space != self.single_observation_space
                               or env.single_action_space != self.single_action_space):
                raise ValueError(f"group {group}'s env arguments {kwargs} give other spaces than group 0's: "
                                 f"members meta-trained together must share their observation and action spaces")
            self._envs[group] = env
        return self._envs[group]

    def group_of(self, plan: ChunkPlan) -> int:
        """The group that plays ``plan``: drawn from its action seed, with `probabilities`."""
        rng = np.random.default_rng([int(plan.action_seed), GROUP_DRAW])
        return int(rng.choice(len(self.groups), p=self.probabilities))

    def play(self, snapshot: PolicySnapshot, plans: list[ChunkPlan]) -> list[EpisodeChunk]:
        """Play every chunk of ``plans`` in its group's env with ``snapshot``; the chunks in plan order."""
        from agents.reinforce import RecurrentReinforce

        chunks = []
        for plan in plans:
            g = self.group_of(plan)
            self._vessels[g] = RecurrentReinforce.vessel(self.env(g), snapshot, self._vessels.get(g))
            chunks.append(self._vessels[g].play_chunk(snapshot, plan))
        return chunks

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()
        self._vessels.clear()

    def __enter__(self) -> MemberGroupRunners:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
