"""Meta-training on members whose envs differ (agents.member_groups): groups, draws, determinism."""

import numpy as np
import pytest

import hpenv
from agents import RecurrentReinforce
from agents.member_groups import MemberGroupRunners, group_members
from agents.rollout import ChunkPlan

TINY = {"horizon": 2, "steps_per_action": 2}


def members(n: int = 12) -> list[str]:
    return hpenv.instance_set("v3/mlp", "train")[:n]


def test_members_are_grouped_by_the_env_arguments_each_is_meant_for():
    groups = group_members(members(30))
    assert sum(len(ms) for _, ms in groups) == 30 and len(groups) > 3
    for kwargs, ms in groups:
        assert all(hpenv.member_env_kwargs(m) == kwargs for m in ms)
    # arguments given for every group merge the groups they make equal
    merged = group_members(members(30), {"width": 64, "batch_size": 32, "steps_per_action": 2})
    assert len(merged) == 1 and merged[0][0]["width"] == 64
    with pytest.raises(ValueError, match="at least one suite member"):
        group_members([])


def test_each_chunk_is_played_in_one_group_drawn_in_proportion_to_its_members():
    runners = MemberGroupRunners(members(), num_envs=2, env_kwargs=TINY)
    rng = np.random.default_rng(0)
    drawn = np.bincount([runners.group_of(ChunkPlan([0, 1], int(s))) for s in rng.integers(2**31, size=3000)],
                        minlength=len(runners.groups)) / 3000
    assert np.allclose(drawn, runners.probabilities, atol=0.03)
    agent = RecurrentReinforce(runners.env(0), seed=0, episodes_per_update=4)
    plans = agent.plan_update(runners.num_envs)
    chunks = runners.play(agent.snapshot(), plans)
    assert len(chunks) == len(plans)
    last = runners.group_of(plans[-1])  # its env still holds the last chunk's episodes
    assert {t.name for t in runners.env(last).tasks} <= set(runners.groups[last][1])
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1, got 0"):
        MemberGroupRunners(members(), num_envs=0)


def test_meta_training_over_groups_is_repeatable():
    histories = []
    for _ in range(2):
        with MemberGroupRunners(members(), num_envs=2, env_kwargs=TINY) as runners:
            agent = RecurrentReinforce(runners.env(0), seed=3, episodes_per_update=4)
            agent.learn(12, runners=runners)
            histories.append([h["rollout/ep_return_mean"] for h in agent.history])
    assert len(histories[0]) == 3 and histories[0] == histories[1]
