"""Wrappers the learned methods train and deploy through:
[`EpisodeRecorder`][agents.bench.methods.wrappers.EpisodeRecorder] records an episode someone else drives,
[`CountingVectorEnv`][agents.bench.methods.wrappers.CountingVectorEnv] counts the SGD steps a vector env
runs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from agents.engine import EpisodeLog, EpisodeRecord


class EpisodeRecorder(gym.Wrapper):
    """Records the last episode of an HPTune env that someone else drives (the online learner) as
    an [`EpisodeRecord`][agents.engine.EpisodeRecord], the way [`agents.engine.play_episodes`][] records."""

    def reset(self, **kwargs):
        self.log = EpisodeLog()
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.log.add(reward, info)
        return obs, reward, terminated, truncated, info

    def result(self, seed: int, wall_time_s: float) -> EpisodeRecord:
        return self.log.record(seed, wall_time_s)


class CountingVectorEnv(gym.vector.VectorWrapper):
    """Counts the child SGD steps an HPTune vector env actually runs (from ``info["sgd_steps"]``,
    each child's count within its episode: a rise is training, a reset starts again from 0)."""

    def __init__(self, env):
        super().__init__(env)
        self.sgd_steps = 0
        self._last = np.zeros(env.num_envs, dtype=np.int64)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._last[:] = 0
        return obs, info

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        now = np.asarray(info["sgd_steps"], dtype=np.int64)
        self.sgd_steps += int(np.maximum(now - self._last, 0).sum())
        self._last = now.copy()
        return obs, reward, terminated, truncated, info

