"""The env through the libraries researchers run it with: Gymnasium's wrappers, Stable-Baselines3,
TorchRL, Tianshou and a CleanRL-style loop, single and vector (TorchRL and Tianshou are test extras;
RLlib pins an older gymnasium and is shown in the README only)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import hpenv
from agents import RecurrentReinforce
from conftest import FAST
from hpenv.wrappers import FlatDiscreteActions, SB3VecEnv

ACTIONS = np.array([[3, 0, 3, 2], [1, 1, 2, 1], [2, 2, 4, 0]])


# ---------------------------------------------------------------------- Stable-Baselines3
def test_sb3_evaluate_policy_runs_our_recurrent_agent():
    """v0: evaluate_policy failed, predict demanded reward= after the first step."""
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    env = Monitor(gym.make(hpenv.ENV_ID, **FAST))
    agent = RecurrentReinforce(env, seed=0)
    mean, std = evaluate_policy(agent, env, n_eval_episodes=2, deterministic=True)
    assert np.isfinite(mean) and np.isfinite(std)


def test_predict_without_reward_equals_predict_with_it():
    """The reward predict recomputes from its state is the one the env paid."""
    env = gym.make(hpenv.ENV_ID, **FAST)
    agent = RecurrentReinforce(env, seed=1)
    obs, _ = env.reset(seed=0)
    with_reward, without = agent.predict(obs), agent.predict(obs)
    assert np.array_equal(with_reward[0], without[0])
    for _ in range(FAST["horizon"] - 1):
        obs, reward, *_ = env.step(with_reward[0])
        with_reward = agent.predict(obs, with_reward[1], episode_start=False, reward=reward)
        without = agent.predict(obs, without[1], episode_start=False)
        assert np.array_equal(with_reward[0], without[0])
        np.testing.assert_allclose(with_reward[1][0], without[1][0], atol=1e-5)  # LSTM state


def test_predict_needs_reward_on_an_env_it_cannot_read():
    agent = RecurrentReinforce(gym.make(hpenv.ENV_ID, **FAST), seed=0)
    agent.reward_mode = None  # as for an env that is not HPTune
    obs = np.zeros(agent.obs_shape, dtype=np.float32)
    _, state = agent.predict(obs)
    with pytest.raises(ValueError, match="reward="):
        agent.predict(obs, state, episode_start=False)


def test_sb3_ppo_on_the_registered_id_and_on_the_vector_env():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecMonitor

    PPO("MlpPolicy", make_vec_env(hpenv.ENV_ID, n_envs=2, env_kwargs=FAST), n_steps=3, batch_size=6,
        n_epochs=1, seed=0).learn(6)
    PPO("MlpPolicy", VecMonitor(SB3VecEnv(num_envs=2, **FAST)), n_steps=3, batch_size=6,
        n_epochs=1, seed=0).learn(6)


# ---------------------------------------------------------------------- Gymnasium's wrappers
def test_gymnasium_single_env_wrappers():
    from gymnasium.wrappers import (FlattenObservation, NormalizeObservation, NormalizeReward,
                                    RecordEpisodeStatistics, TimeAwareObservation)

    env = RecordEpisodeStatistics(NormalizeReward(NormalizeObservation(TimeAwareObservation(
        FlattenObservation(gym.make(hpenv.ENV_ID, **FAST))))))
    env.reset(seed=0)
    for t in range(FAST["horizon"]):
        obs, _, terminated, truncated, info = env.step(ACTIONS[0])
    assert terminated and "episode" in info and info["episode"]["l"] == FAST["horizon"]
    assert obs.shape == (18,)  # the time feature appended


def test_gymnasium_vector_wrappers_on_the_native_env():
    from gymnasium.wrappers.vector import NormalizeObservation, RecordEpisodeStatistics

    venv = RecordEpisodeStatistics(NormalizeObservation(gym.make_vec(hpenv.ENV_ID, num_envs=3, **FAST)))
    venv.reset(seed=0)
    for _ in range(FAST["horizon"]):
        _, _, terminated, _, info = venv.step(ACTIONS)
    assert terminated.all() and info["_episode"].all()
    assert info["episode"]["l"].tolist() == [FAST["horizon"]] * 3


def test_cleanrl_style_loop():
    """A CleanRL script's shape: SyncVectorEnv of env thunks, RecordEpisodeStatistics, next-step autoreset."""
    def make_env(seed_offset):
        def thunk():
            return gym.wrappers.RecordEpisodeStatistics(gym.make("hpenv:" + hpenv.ENV_ID, **FAST))
        return thunk

    envs = gym.vector.SyncVectorEnv([make_env(i) for i in range(2)])
    obs, _ = envs.reset(seed=1)
    returns = []
    for _ in range(2 * FAST["horizon"] + 1):
        obs, reward, terminated, truncated, infos = envs.step(envs.action_space.sample())
        if "episode" in infos:
            returns += infos["episode"]["r"][infos["_episode"]].tolist()
    assert len(returns) == 4 and all(np.isfinite(returns))


# ---------------------------------------------------------------------- TorchRL
@pytest.fixture(scope="module")
def torchrl():
    return pytest.importorskip("torchrl")


def test_torchrl_single_env_specs(torchrl):
    """TorchRL's info reader takes numpy values, not the single env's Python scalars: read info
    through the native vector env (next test), at num_envs=1 if need be."""
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs

    env = GymWrapper(gym.make(hpenv.ENV_ID, **FAST))
    check_env_specs(env, seed=0)
    rollout = env.rollout(FAST["horizon"] + 2)
    assert rollout["next", "done"].flatten().tolist() == [False] * (FAST["horizon"] - 1) + [True]


def test_torchrl_vector_env_specs_and_collector(torchrl):
    """TorchRL refuses next-step autoreset from any Gymnasium vector env: use DISABLED (its preference)."""
    from torchrl.collectors import Collector
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs

    env = GymWrapper(gym.make_vec(hpenv.ENV_ID, num_envs=3, autoreset_mode=AutoresetMode.DISABLED, **FAST))
    env.auto_register_info_dict()
    check_env_specs(env, seed=0)
    collector = Collector(env, policy=None, frames_per_batch=3 * FAST["horizon"], total_frames=6 * FAST["horizon"])
    batches = list(collector)
    collector.shutdown()
    assert len(batches) == 2
    for batch in batches:
        done = batch["next", "done"].squeeze(-1)
        test_acc = batch["next", "test_accuracy"].squeeze(-1)
        assert done.sum() == 3  # one episode per child per batch
        assert ((test_acc >= 0) == done).all()  # test accuracy exactly where episodes end


# ---------------------------------------------------------------------- Tianshou
def test_tianshou_dummy_vector_env_collects_episodes():
    pytest.importorskip("tianshou")
    from tianshou.algorithm.algorithm_base import RandomActionPolicy
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv

    def make():
        return FlatDiscreteActions(gym.make(hpenv.ENV_ID, **FAST))  # its random policy takes Discrete

    envs = DummyVectorEnv([make for _ in range(2)])
    collector = Collector(RandomActionPolicy(make().action_space), envs, VectorReplayBuffer(20, 2))
    collector.reset(gym_reset_kwargs={"seed": 0})
    stats = collector.collect(n_episode=2)
    assert stats.n_collected_episodes == 2
    batch, _ = collector.buffer.sample(0)  # everything collected
    assert len(batch) == 2 * FAST["horizon"]
    assert ((batch.info["test_accuracy"] >= 0) == batch.terminated).all()
