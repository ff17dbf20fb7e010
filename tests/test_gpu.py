"""What needs a GPU: on CUDA, the native vector env agrees with single envs, a seed repeats, divergence ends an episode.

Skipped without a CUDA device (the CPU versions of these checks run everywhere: tests/test_vector.py,
tests/test_env.py). On a GPU machine: ``python -m pytest -q -p no:cacheprovider tests/test_gpu.py``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import hpenv  # noqa: F401  (registers the env ids)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

KW = dict(device="cuda", steps_per_action=20, horizon=3)
K = 8  # children of the vector env


def actions() -> list[np.ndarray]:
    """Three steps of K actions each; learning rate <= 0.1 and momentum <= 0.9, so that no child diverges."""
    rng = np.random.default_rng(0)
    return [np.stack([rng.integers(0, n, K) for n in (4, 5, 5, 3)], 1) for _ in range(3)]


def test_vector_child_i_equals_a_single_env_seeded_s_plus_i():
    # batched kernels on a GPU round differently from one child's: equal to float32 noise, not bit for bit
    steps = actions()
    venv = gym.make_vec("HPTune-v1", num_envs=K, **KW)
    obs, _ = venv.reset(seed=100)
    trajectory, rewards = [obs], []
    for a in steps:
        obs, reward, *_ = venv.step(a)
        trajectory.append(obs)
        rewards.append(reward)
    for i in range(K):
        env = gym.make("HPTune-v1", **KW)
        obs, _ = env.reset(seed=100 + i)
        np.testing.assert_allclose(obs, trajectory[0][i], atol=1e-3)
        for t, a in enumerate(steps):
            obs, reward, *_ = env.step(a[i])
            np.testing.assert_allclose(obs, trajectory[t + 1][i], atol=1e-3)
            assert abs(reward - rewards[t][i]) <= 2 / 360  # at most two validation examples of 360


def test_the_same_seed_and_actions_give_identical_observations():
    steps = actions()
    runs = []
    for _ in range(2):
        env = gym.make("HPTune-v1", **KW)
        obs, _ = env.reset(seed=7)
        runs.append(np.stack([obs] + [env.step(a[0])[0] for a in steps]))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_divergence_ends_the_episode():
    env = gym.make("HPTune-v1", device="cuda", hp_space={"learning_rate": [10.0], "momentum": [0.99]},
                   steps_per_action=50, horizon=5)
    env.reset(seed=0)
    *_, terminated, _, info = env.step(np.array([0, 0]))
    assert terminated and info["diverged"]
