"""Wrappers that make any env fit the agents of this package.

[`PreviousReward`][agents.wrappers.PreviousReward] appends the reward of the previous step to the observation,
as RL^2 agents take it (Duan et al., 2016). A [`agents.reinforce.RecurrentReinforce`][] built on a
wrapped env recovers the previous reward from the observation, so its ``predict`` needs exactly
Stable-Baselines3's arguments on any env (``evaluate_policy`` included).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["PreviousReward"]


class PreviousReward(gym.Wrapper):
    """Append the previous step's reward (0 after ``reset``) to a flat ``Box`` observation.

    Args:
        env: An env with a 1-D ``Box`` observation space.

    Raises:
        TypeError: If the observation space is not a 1-D ``Box``.
    """

    carries_previous_reward = True
    """Marks the wrapper for [`agents.rollout.reward_mode_of`][] (seen through other wrappers)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise TypeError(
                f"PreviousReward needs a flat (1-D) Box observation space, got {space!r}"
            )
        self.observation_space = gym.spaces.Box(
            low=np.append(space.low, -np.inf).astype(space.dtype),
            high=np.append(space.high, np.inf).astype(space.dtype),
            dtype=space.dtype,
        )

    def _with(self, obs: np.ndarray, reward: float) -> np.ndarray:
        return np.append(obs, reward).astype(self.observation_space.dtype)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._with(obs, 0.0), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._with(obs, float(reward)), reward, terminated, truncated, info
