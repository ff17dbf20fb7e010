"""RecurrentReinforce with its roles apart: bit-identical to main, old checkpoints, SB3's predict.

The golden results (``tests/data/rr_golden.json``) were recorded by
``tests/data/make_rr_golden.py`` on main 6e4809c, before the roles were split, over every path:
plain Env and VectorEnv, the three baselines (leave-one-out with groups), entropy decay,
unnormalised observations and advantages, the online mode, a save/load round trip then more
learning, and the runner protocol (``plan_update``/``snapshot``/``play_chunk``/
``update_from_chunks``) driven in process. On the machine that recorded them the match is exact,
weight hashes included (``python tests/data/make_rr_golden.py --check``); this test compares
integers exactly and floats to rtol 1e-6 or 1e-5 absolute, so it also holds on another CPU (on the
AMD EPYC of 2026-12-02 float32 rounding moves the recorded floats by at most 9.5e-7 absolute, a
policy loss near 0 by 3e-4 relative; a changed update moves them by orders of magnitude more).
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from agents import RecurrentReinforce, RecurrentReinforceConfig
from agents.wrappers import PreviousReward
from tests.data import make_rr_golden
from tests.test_reinforce import TargetSequenceEnv

DATA = Path(__file__).parent / "data"


def assert_close(got, expected, where: str = "") -> None:
    """Equal structure; ints, bools and strings exact, floats to rtol 1e-6 or atol 1e-5."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(expected), where
        for key in expected:
            assert_close(got[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_close(g, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-5), where
    else:
        assert got == expected, where


def test_every_path_gives_the_results_recorded_on_main() -> None:
    golden = json.loads((DATA / "rr_golden.json").read_text())
    results = make_rr_golden.record()
    assert sorted(results) == sorted(golden)
    for name in golden:
        for part in ("history", "counters", "obs_rms", "baselines", "predict"):
            assert_close(results[name][part], golden[name][part], f"{name}/{part}")
        for tensor, expected in golden[name]["weights"].items():
            got = results[name]["weights"][tensor]
            assert_close([got["sum"], got["first"]], [expected["sum"], expected["first"]],
                         f"{name}/{tensor}")


def test_a_checkpoint_written_by_main_loads_acts_and_resumes() -> None:
    recorded = json.loads((DATA / "rr_main_checkpoint.json").read_text())
    agent = RecurrentReinforce.load(DATA / "rr_main_checkpoint.pt", env=TargetSequenceEnv())
    assert_close(agent.history, recorded["history"])
    assert agent.config.reward_input  # the field it predates takes its default
    env = TargetSequenceEnv()
    obs, _ = env.reset(seed=3)
    actions, state, reward = [], None, None
    for _ in range(5):
        action, state = agent.predict(obs, state, episode_start=state is None, reward=reward)
        actions.append(action.tolist())
        obs, reward, *_ = env.step(action)
    assert actions == recorded["actions"]
    agent.learn(4)
    assert agent.num_episodes == 8 and agent.num_updates == 2


# ------------------------------------------------------------------------- SB3's predict, any env


class CountingEnv(gym.Env):
    """A user's own env: MultiDiscrete([2, 3]); the reward pays for the action ``(t % 2, 2)``;
    the observation is the progress and a constant; 4 steps."""

    def __init__(self) -> None:
        self.action_space = gym.spaces.MultiDiscrete([2, 3])
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0, 0.5], dtype=np.float32), {}

    def step(self, action):
        reward = float(action[0] == self.t % 2) + float(action[1] == 2)
        self.t += 1
        obs = np.array([self.t / 4, 0.5], dtype=np.float32)
        return obs, reward, self.t >= 4, False, {}


def test_predict_without_reward_on_a_users_env_names_both_ways_out() -> None:
    agent = RecurrentReinforce(CountingEnv(), seed=0)
    obs, _ = CountingEnv().reset(seed=0)
    _, state = agent.predict(obs)
    with pytest.raises(ValueError, match="PreviousReward.*reward_input=False"):
        agent.predict(obs, state, episode_start=False)


@pytest.mark.parametrize("num_envs", [1, 2])
@pytest.mark.parametrize("way", ["wrapper", "reward_input=False"])
def test_evaluate_policy_runs_the_agent_on_a_users_multidiscrete_env(way: str, num_envs: int) -> None:
    def make() -> gym.Env:
        return Monitor(PreviousReward(CountingEnv()) if way == "wrapper" else CountingEnv())

    options = {"reward_input": False} if way == "reward_input=False" else {}
    agent = RecurrentReinforce(make(), seed=0, ent_coef=0.1, episodes_per_update=8, **options)
    agent.learn(400)
    env = make() if num_envs == 1 else DummyVecEnv([make] * num_envs)
    mean, std = evaluate_policy(agent, env, n_eval_episodes=4, deterministic=True)
    # a uniform policy earns 4 * (1/2 + 1/3) = 3.3 and the optimum is 8; seeds 0-3 all reached
    # 7 or 8 after these 400 episodes, with either way, and 8 after 800 in seven of eight runs
    assert mean >= 7.0 and std == 0.0


def test_the_wrapper_gives_predict_the_reward_the_caller_would_have_passed() -> None:
    agent = RecurrentReinforce(PreviousReward(CountingEnv()), seed=1).learn(16)
    env = PreviousReward(CountingEnv())
    obs, _ = env.reset(seed=0)
    recovered = given = None
    reward = None
    for _ in range(4):
        start = recovered is None
        action, recovered = agent.predict(obs, recovered, episode_start=start)
        expected, given = agent.predict(obs, given, episode_start=start, reward=reward)
        np.testing.assert_array_equal(action, expected)
        np.testing.assert_array_equal(recovered[0], given[0])  # LSTM h: the same reward went in
        obs, reward, *_ = env.step(action)
    assert reward > 0  # a reward of 0 throughout would not tell a lost reward from a kept one


def test_reward_input_must_be_a_bool_and_shapes_the_network() -> None:
    with pytest.raises(ValueError, match="reward_input must be True or False, got 'no'"):
        RecurrentReinforceConfig(reward_input="no")
    with_reward = RecurrentReinforce(CountingEnv(), seed=0)
    without = RecurrentReinforce(CountingEnv(), seed=0, reward_input=False)
    assert with_reward.policy.input_size == without.policy.input_size + 1
