"""Grouped episodes (``group_size``) and the leave-one-out baseline of RecurrentReinforce.

The episodes of a group share one reset seed (on HPTune: the task member and the initial child)
and sample their actions independently; ``baseline="leave_one_out"`` compares each episode with
the others of its group, which removes what the reset decides from the advantages.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import SyncVectorEnv, VectorWrapper

from agents import RecurrentReinforce, RecurrentReinforceConfig
from agents.checkpoint import load_checkpoint, save_checkpoint
from agents.reinforce import leave_one_out_advantages
from agents.rollout import ChunkPlan, EpisodeChunk, PolicySnapshot, discounted_returns
from hpenv.instances import member_task
from hpenv.tasks import TaskFamily
from tests.test_reinforce import (
    FAST,
    LEARN_EPISODES,
    NEAR_OPTIMAL,
    TargetSequenceEnv,
    mean_greedy_return,
    parameters,
)

TINY = {"horizon": 2, "steps_per_action": 2}  # HPTune episodes of 2 steps of 2 SGD steps
LOO = {"group_size": 2, "baseline": "leave_one_out"}


@pytest.fixture(scope="module")
def family() -> TaskFamily:
    """Six members of the wine-scaled suite: the input scale differs, so do first observations."""
    return TaskFamily("wine-scaled", lambda i: member_task(f"v1/wine-scaled/{i}"), range(6))


class RecordResets(VectorWrapper):
    """Records the seeds, first observations and task members of every seeded reset."""

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        self.seeds: list[list[int]] = []
        self.first_obs: list[np.ndarray] = []
        self.members: list[list[str]] = []

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self.seeds.append(list(seed))
            self.first_obs.append(np.array(obs))
            self.members.append([task.name for task in self.env.unwrapped.tasks])
        return obs, info


class LocalRunners:
    """Runners that play every chunk in this process, as a Ray runner does (see test_ray)."""

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        self.env = env
        self.num_envs = env.num_envs
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.vessel: RecurrentReinforce | None = None
        self.plans: list[ChunkPlan] = []
        self.chunks: list[EpisodeChunk] = []

    def play(self, snapshot: PolicySnapshot, plans: list[ChunkPlan]) -> list[EpisodeChunk]:
        if self.vessel is None:
            self.vessel = RecurrentReinforce(self.env, **snapshot.config)
        chunks = [self.vessel.play_chunk(snapshot, plan) for plan in plans]
        self.plans += plans
        self.chunks += chunks
        return chunks


def assert_pairs_share_and_groups_differ(rows: np.ndarray) -> None:
    """Rows (2k, 2k + 1) are equal, and row 0 differs from row 2."""
    for k in range(0, len(rows), 2):
        np.testing.assert_array_equal(rows[k], rows[k + 1])
    assert not np.array_equal(rows[0], rows[2])


# ------------------------------------------------------------------------------------ grouping


def test_in_process_groups_share_seed_member_and_first_observation(family) -> None:
    venv = RecordResets(gym.make_vec("HPTune-v1", num_envs=4, task=family, **TINY))
    agent = RecurrentReinforce(venv, seed=0, episodes_per_update=8, hidden_size=8, **LOO)
    agent.learn(8)

    assert len(venv.seeds) == 2 and agent.num_updates == 1  # two rounds of 4 episodes
    for seeds, first_obs, members in zip(venv.seeds, venv.first_obs, venv.members):
        assert_pairs_share_and_groups_differ(np.array(seeds))
        assert_pairs_share_and_groups_differ(first_obs)
        assert members[0] == members[1] and members[2] == members[3]
    assert len({m for members in venv.members for m in members}) > 1  # groups, other members


def test_runners_play_grouped_chunks_with_independent_actions(family) -> None:
    def make_vec() -> gym.vector.VectorEnv:
        return gym.make_vec("HPTune-v1", num_envs=4, task=family, **TINY)

    runners = LocalRunners(make_vec())
    agent = RecurrentReinforce(make_vec(), seed=0, episodes_per_update=8, hidden_size=8, **LOO)
    agent.learn(8, runners=runners)

    assert agent.num_episodes == 8 and len(runners.chunks) == 2
    for plan, chunk in zip(runners.plans, runners.chunks):
        assert_pairs_share_and_groups_differ(np.array(plan.seeds))
        assert_pairs_share_and_groups_differ(chunk.observations[:, 0])
        # the same start, but each episode samples its own actions
        assert not np.array_equal(chunk.actions[0], chunk.actions[1])
        assert not np.array_equal(chunk.actions[2], chunk.actions[3])


def test_a_plain_env_plays_a_group_one_episode_after_another() -> None:
    seeds: list[int] = []

    class Recording(TargetSequenceEnv):
        def reset(self, *, seed=None, options=None):
            seeds.append(seed)
            return super().reset(seed=seed, options=options)

    agent = RecurrentReinforce(Recording(), seed=0, episodes_per_update=6, group_size=3)
    agent.learn(12)

    assert len(seeds) == 12 and len(set(seeds)) == 4
    assert all(seeds[k] == seeds[k + 1] == seeds[k + 2] for k in range(0, 12, 3))


def test_group_size_one_draws_the_seeds_as_before() -> None:
    """group_size=1 is the default and changes nothing (same history, same weights)."""
    default = RecurrentReinforce(TargetSequenceEnv(), seed=3, episodes_per_update=4).learn(8)
    explicit = RecurrentReinforce(
        TargetSequenceEnv(), seed=3, episodes_per_update=4, group_size=1
    ).learn(8)
    assert default.history == explicit.history


# ------------------------------------------------------------------------------------ arithmetic


def test_leave_one_out_advantages_by_hand_with_padding() -> None:
    nan = np.nan  # padding: whatever stands there must not leak into the result
    returns = np.array([
        [3.0, 2.0, 1.0],  # group 0: three full episodes
        [6.0, 4.0, 2.0],
        [0.0, 0.0, 0.0],
        [1.0, 1.0, 1.0],  # group 1: lengths 3, 1 and 2
        [5.0, nan, nan],
        [2.0, 3.0, nan],
    ])
    mask = ~np.isnan(returns)
    expected = np.array([
        [3 - 3.0, 2 - 2.0, 1 - 1.0],  # minus the mean of the two others
        [6 - 1.5, 4 - 1.0, 2 - 0.5],
        [0 - 4.5, 0 - 3.0, 0 - 1.5],
        [1 - 3.5, 1 - 3.0, 0.0],  # t=2: no other episode of the group runs: advantage 0
        [5 - 1.5, 0.0, 0.0],  # padding: 0
        [2 - 3.0, 3 - 1.0, 0.0],  # t=1: only the first episode is left to compare with
    ])

    advantages = leave_one_out_advantages(returns, mask, group_size=3)

    np.testing.assert_allclose(advantages, expected)
    full = advantages[:3]
    np.testing.assert_allclose(full.sum(axis=0), 0.0, atol=1e-12)  # centred within a group


def test_update_divides_leave_one_out_advantages_by_their_root_mean_square() -> None:
    agent = RecurrentReinforce(
        TargetSequenceEnv(), seed=0, episodes_per_update=6, group_size=3,
        baseline="leave_one_out", normalize_observations=False,
    )
    with torch.no_grad():  # a policy far from uniform, so that the loss shows the scaling
        for head in agent.policy.action_heads:
            head.weight.mul_(300.0)
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(6, 4))
    mask = np.ones((6, 4), dtype=bool)
    mask[1, 2:] = mask[4, 1:] = mask[5, 3:] = False  # shorter episodes, padded
    rewards[~mask] = 0.0
    chunk = EpisodeChunk(
        observations=np.zeros((6, 4, 3)),
        inputs=rng.normal(size=(6, 4, agent.policy.input_size)).astype(np.float32),
        actions=np.stack([rng.integers(0, n, size=(6, 4)) for n in agent.nvec], axis=-1),
        rewards=rewards,
        mask=mask,
    )
    with torch.no_grad():
        zeros = torch.zeros(6, agent.config.hidden_size)
        log_prob, _, _ = agent.policy.evaluate_actions(
            torch.as_tensor(chunk.inputs), (zeros, zeros), torch.as_tensor(chunk.actions)
        )
    log_prob = log_prob.double().numpy()
    advantages = leave_one_out_advantages(discounted_returns(rewards, mask, 1.0), mask, 3)
    n_steps = mask.sum()
    scaled = advantages / (np.sqrt((advantages**2).sum() / n_steps) + 1e-8)  # not re-centred
    expected_loss = -(log_prob * scaled).sum() / n_steps
    mean = advantages.sum() / n_steps
    standardised = np.where(mask, advantages - mean, 0.0)
    standardised /= np.sqrt((standardised**2).sum() / (n_steps - 1))
    # what standardising would give: a different loss, so the check below tells them apart
    assert -(log_prob * standardised).sum() / n_steps != pytest.approx(expected_loss, rel=1e-3)

    metrics = agent.update_from_chunks([chunk], fold_observations=False)

    assert metrics["train/policy_loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert agent.episode_baseline.values == []  # the moving average plays no part


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "options, message",
    [
        ({"group_size": 0}, "group_size must be an integer >= 1, got 0"),
        ({"group_size": 2.0}, "group_size must be an integer >= 1, got 2.0"),
        ({"group_size": 3}, "episodes_per_update=8 must be a multiple of group_size=3"),
        ({"baseline": "leave_one_out"}, "needs group_size >= 2.*got group_size=1"),
        ({"baseline": "leave_out"}, "baseline must be one of .*'leave_one_out'"),
    ],
)
def test_bad_group_options_raise_naming_the_argument(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecurrentReinforceConfig(**options)
    with pytest.raises(ValueError, match=message):
        RecurrentReinforce(TargetSequenceEnv(), **options)


def test_num_envs_must_hold_whole_groups() -> None:
    def vector(n: int) -> SyncVectorEnv:
        return SyncVectorEnv([lambda: TargetSequenceEnv() for _ in range(n)])

    with pytest.raises(ValueError, match="VectorEnv's num_envs=3 must be a multiple of group_size=2"):
        RecurrentReinforce(vector(3), episodes_per_update=4, group_size=2)

    agent = RecurrentReinforce(vector(4), seed=0, episodes_per_update=4, group_size=2)
    runners = LocalRunners(vector(3))
    with pytest.raises(ValueError, match="runners' num_envs=3 must be a multiple of group_size=2"):
        agent.learn(4, runners=runners)
    assert runners.plans == [] and agent.num_updates == 0  # refused before playing anything
    with pytest.raises(ValueError, match="num_envs=3"):
        agent.plan_update(3)
    with pytest.raises(ValueError, match="group_size=2 and 3 episodes"):
        leave_one_out_advantages(np.zeros((3, 2)), np.ones((3, 2), dtype=bool), 2)


# ------------------------------------------------------------------------------------ learning


class OffsetTargetEnv(TargetSequenceEnv):
    """The toy task plus a reward offset drawn at every reset, N(0, 2) per step: which start an
    episode got (its seed) moves its return far more than its actions do."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.offset = float(self.np_random.normal(0.0, 2.0))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward + self.offset, terminated, truncated, info


def offset_vector_env() -> SyncVectorEnv:
    return SyncVectorEnv([lambda: OffsetTargetEnv() for _ in range(16)])


# Measured: with these settings the leave-one-out agent reached the optimum 5.0 (greedy, on the
# offset-free task) for seeds 0-19 after LEARN_EPISODES, from at most 2.2 at initialisation; the
# moving-average agent stayed at or below 2.3 for seeds 0-11.
@pytest.mark.parametrize("seed", range(2))
def test_leave_one_out_learns_where_the_reset_dominates_the_return(seed: int) -> None:
    agent = RecurrentReinforce(
        offset_vector_env(), seed=seed, group_size=4, baseline="leave_one_out", **FAST
    )
    assert mean_greedy_return(agent) < NEAR_OPTIMAL - 2.0

    agent.learn(LEARN_EPISODES)

    assert mean_greedy_return(agent) >= NEAR_OPTIMAL


def test_without_groups_the_same_budget_does_not_learn_it() -> None:
    """The contrast that makes the test above meaningful: the offset is what grouping removes."""
    agent = RecurrentReinforce(offset_vector_env(), seed=0, **FAST).learn(LEARN_EPISODES)
    assert mean_greedy_return(agent) < NEAR_OPTIMAL - 1.5


def test_learn_online_uses_the_moving_average_in_place_of_leave_one_out() -> None:
    online = {}
    for baseline, options in (("moving_average", {}), ("leave_one_out", LOO)):
        env = TargetSequenceEnv(horizon=1000, report_accuracy=True)
        agent = RecurrentReinforce(env, seed=0, **{"baseline": baseline, **options})
        agent.learn_online(env, total_steps=20, update_every=5)
        online[baseline] = agent
    loo, moving = online["leave_one_out"], online["moving_average"]
    assert loo.history == moving.history and len(loo.online_baseline.values) == 5
    for a, b in zip(parameters(loo), parameters(moving)):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------------ checkpoints


def test_save_load_keeps_the_group_options_and_resumes_exactly(tmp_path: Path) -> None:
    options = dict(seed=5, episodes_per_update=4, **LOO)
    uninterrupted = RecurrentReinforce(TargetSequenceEnv(), **options).learn(16)
    first_half = RecurrentReinforce(TargetSequenceEnv(), **options).learn(8)
    first_half.save(tmp_path / "agent.pt")

    resumed = RecurrentReinforce.load(tmp_path / "agent.pt", env=TargetSequenceEnv())
    assert resumed.config == first_half.config
    assert (resumed.config.group_size, resumed.config.baseline) == (2, "leave_one_out")
    resumed.learn(8)
    assert resumed.history == uninterrupted.history
    for a, b in zip(parameters(resumed), parameters(uninterrupted)):
        assert torch.equal(a, b)


def test_a_checkpoint_without_group_size_loads_with_the_default(tmp_path: Path) -> None:
    RecurrentReinforce(TargetSequenceEnv(), seed=0).save(tmp_path / "agent.pt")
    payload = load_checkpoint(tmp_path / "agent.pt")
    del payload["config"]["group_size"]  # as written before the option existed
    save_checkpoint(tmp_path / "old.pt", payload)

    assert RecurrentReinforce.load(tmp_path / "old.pt").config.group_size == 1
