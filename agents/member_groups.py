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

Stable-Baselines3 takes one ``VecEnv`` whose children step together:
[`MemberGroupsVecEnv`][agents.member_groups.MemberGroupsVecEnv] splits its children among the groups in
proportion to their members, each group's children batched in one vector env.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

import hpenv
from agents.rollout import ChunkPlan, EpisodeChunk, PolicySnapshot
from hpenv.instances import members_family

__all__ = ["group_members", "group_family", "check_group_spaces", "MemberGroupRunners", "MemberGroupsVecEnv",
           "allocate_children"]

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


def group_family(group: int, members: Sequence[str]):
    """Group ``group``'s members as one task family: every episode draws one of them with its reset seed."""
    return members_family(f"group {group} ({len(members)} members)", members)


def check_group_spaces(group: int, kwargs: dict, spaces: tuple, first: tuple) -> None:
    """Refuse group ``group`` (env arguments ``kwargs``) when its ``(observation, action)`` spaces differ from
    group 0's ``first``: members trained together must share them."""
    if spaces != first:
        raise ValueError(f"group {group}'s env arguments {kwargs} give other spaces than group 0's: members "
                         f"trained together must share their observation and action spaces")


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
        sgd_steps: Child SGD steps of the chunks played so far (their env steps x the group's SGD steps
            per action): a meta-training's cost.
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
        self.sgd_steps = 0
        first = self.env(0)
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space

    def env(self, group: int) -> gym.vector.VectorEnv:
        """The vector env of group ``group`` (built on first use)."""
        if group not in self._envs:
            kwargs, members = self.groups[group]
            env = gym.make_vec(hpenv.ENV_ID, num_envs=self.num_envs, **{**kwargs, "task": group_family(group, members)})
            if self._envs:
                check_group_spaces(group, kwargs, (env.single_observation_space, env.single_action_space),
                                   (self.single_observation_space, self.single_action_space))
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
            self.sgd_steps += int(chunks[-1].mask.sum()) * int(self.groups[g][0]["steps_per_action"])
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


def allocate_children(sizes: Sequence[int], num_envs: int) -> list[int]:
    """``num_envs`` children split among groups of ``sizes`` members in proportion to them (largest
    remainders, ties to the earlier group), at least one child per group."""
    sizes = np.asarray(sizes, dtype=np.float64)
    if num_envs < len(sizes):
        raise ValueError(f"num_envs must be at least the number of member groups ({len(sizes)}: one child each), "
                         f"got {num_envs}")
    spare = num_envs - len(sizes)
    exact = spare * sizes / sizes.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: spare - int(counts.sum())]] += 1
    return (counts + 1).tolist()


class MemberGroupsVecEnv(VecEnv):
    """Stable-Baselines3's ``VecEnv`` over suite members whose env arguments differ.

    ``num_envs`` children are split among the groups of [`group_members`][agents.member_groups.group_members] in
    proportion to their members ([`allocate_children`][agents.member_groups.allocate_children]); each group's
    children are one [`hpenv.wrappers.SB3VecEnv`][] over its members as one task family (every episode draws
    one of them with its reset seed), and their observations, rewards and infos are concatenated in group
    order.

    Args:
        members: Suite member ids.
        num_envs: Children in all (at least one per group).
        env_kwargs: Env arguments for every group, over each member's own.
    """

    def __init__(self, members: Sequence[str], num_envs: int, *, env_kwargs: dict | None = None):
        from hpenv.wrappers import SB3VecEnv

        self.groups = group_members(members, env_kwargs)
        counts = allocate_children([len(ms) for _, ms in self.groups], num_envs)
        self.venvs = [SB3VecEnv(num_envs=n, **{**kw, "task": group_family(g, ms)})
                      for g, ((kw, ms), n) in enumerate(zip(self.groups, counts))]
        first = self.venvs[0]
        for g, venv in enumerate(self.venvs[1:], 1):
            check_group_spaces(g, self.groups[g][0], (venv.observation_space, venv.action_space),
                               (first.observation_space, first.action_space))
        self.offsets = np.cumsum([0, *counts]).tolist()
        super().__init__(num_envs, first.observation_space, first.action_space)

    def _local(self, indices) -> list[tuple[int, int]]:
        """``(group, index in the group's env)`` of each of ``indices``."""
        return [(g, i - self.offsets[g]) for i in self._get_indices(indices)
                for g in [int(np.searchsorted(self.offsets, i, side="right")) - 1]]

    def reset(self) -> np.ndarray:
        for venv, start in zip(self.venvs, self.offsets):
            if self._seeds[start] is not None:
                venv.seed(self._seeds[start])  # the group's children take the seeds from there on
        self._reset_seeds()
        self._reset_options()
        return np.concatenate([venv.reset() for venv in self.venvs])

    def step_async(self, actions: np.ndarray) -> None:
        for venv, a, b in zip(self.venvs, self.offsets, self.offsets[1:]):
            venv.step_async(np.asarray(actions)[a:b])

    def step_wait(self):
        parts = [venv.step_wait() for venv in self.venvs]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]), [info for p in parts for info in p[3]])

    def close(self) -> None:
        for venv in self.venvs:
            venv.close()

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [self.venvs[g].get_attr(attr_name, [i])[0] for g, i in self._local(indices)]

    def _all(self, indices) -> bool:
        return sorted(self._get_indices(indices)) == list(range(self.num_envs))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        if not self._all(indices):  # each group's children share one object, as in SB3VecEnv
            raise ValueError(f"set_attr({attr_name!r}) applies to every child; call it with indices=None, got "
                             f"indices={indices!r}")
        for venv in self.venvs:
            venv.set_attr(attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        if self._all(indices):
            return [r for venv in self.venvs for r in venv.env_method(method_name, *method_args, **method_kwargs)]
        return [self.venvs[g].env_method(method_name, *method_args, indices=[i], **method_kwargs)[0]
                for g, i in self._local(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))
