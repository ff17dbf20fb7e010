"""Chunks played in this process (agents.local_runners): the run any number of Ray runners gives, no Ray needed."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import hpenv
from agents import RecurrentReinforce
from agents.local_runners import LocalRunners
from tests.conftest import FAST, assert_same_agent

K = 2  # children per chunk
AGENT = dict(seed=0, episodes_per_update=4, hidden_size=16)  # two chunks of K per update
EPISODES = 8  # two updates


def make_agent(seed: int = 0) -> RecurrentReinforce:
    return RecurrentReinforce(gym.make_vec("HPTune-v1", num_envs=K, **FAST), **{**AGENT, "seed": seed})


class ChunkByChunk:
    """Each chunk in a vector env of its own, as N runners would play an update: the chunks must not
    depend on which env played the one before."""

    num_envs = K

    def __init__(self) -> None:
        with LocalRunners(FAST, K) as probe:
            self.single_observation_space = probe.single_observation_space
            self.single_action_space = probe.single_action_space

    def play(self, snapshot, plans):
        out = []
        for plan in plans:
            with LocalRunners(FAST, K) as runner:
                out.extend(runner.play(snapshot, [plan]))
        return out


def test_local_runners_give_the_run_that_chunks_played_anywhere_give() -> None:
    with LocalRunners(FAST, K) as runners:
        agent = make_agent().learn(EPISODES, runners=runners)
    assert len(agent.history) == 2 and agent.num_episodes == EPISODES
    assert agent.obs_rms.count == EPISODES * FAST["horizon"]  # every step folded in once
    assert_same_agent(agent, make_agent().learn(EPISODES, runners=ChunkByChunk()))
    with LocalRunners(FAST, K) as runners:  # the seed reaches the chunks
        assert make_agent(seed=1).learn(4, runners=runners).history[0] != agent.history[0]


def test_a_local_chunk_is_the_one_the_learner_plays_itself() -> None:
    agent = make_agent()
    agent.obs_rms.update(np.random.default_rng(0).normal(size=(5, *agent.obs_shape)))
    plan = agent.plan_update(K)[0]
    with LocalRunners(FAST, K) as runners:
        (chunk,) = runners.play(agent.snapshot(), [plan])
    own = make_agent().play_chunk(agent.snapshot(), plan)
    for name in ("observations", "inputs", "actions", "rewards", "mask"):
        assert np.array_equal(getattr(chunk, name), getattr(own, name)), name


def test_local_runners_over_suite_members_play_in_their_groups() -> None:
    members = hpenv.instance_set("v3/mlp", "train")[:8]
    with LocalRunners({"horizon": 2, "steps_per_action": 2}, K, members=members) as runners:
        assert runners.groups is not None and len(runners.groups.groups) > 1
        agent = RecurrentReinforce(runners.groups.env(0), **AGENT)
        agent.learn(4, runners=runners)
    assert agent.num_episodes == 4 and runners.groups.sgd_steps == 4 * 2 * 2


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_local_runners_refuse_a_bad_chunk_size(bad) -> None:
    with pytest.raises(ValueError, match=f"num_envs must be an integer >= 1, got {bad!r}"):
        LocalRunners(FAST, bad)
