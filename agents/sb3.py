"""Stable-Baselines3 / sb3-contrib algorithms by name, and their models seen as policies."""

from __future__ import annotations

import numpy as np

#: Names accepted by ``hptune train --agent`` and the benchmark, with each algorithm's policy.
POLICY_NAMES = {"ppo": "MlpPolicy", "a2c": "MlpPolicy", "recurrent-ppo": "MlpLstmPolicy"}


def sb3_class(name: str):
    """The algorithm class for ``name`` (a key of :data:`POLICY_NAMES`)."""
    if name == "recurrent-ppo":
        try:
            from sb3_contrib import RecurrentPPO
        except ImportError as err:
            raise ImportError("recurrent-ppo needs sb3-contrib: pip install 'hpenv[contrib]'") from err
        return RecurrentPPO
    from stable_baselines3 import A2C, PPO

    if name not in ("ppo", "a2c"):
        raise ValueError(f"unknown Stable-Baselines3 agent {name!r}; known: {sorted(POLICY_NAMES)}")
    return {"ppo": PPO, "a2c": A2C}[name]


class SB3Policy:
    """A Stable-Baselines3 model seen through the evaluation protocol's ``predict``."""

    def __init__(self, model):
        self.model = model

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        return self.model.predict(observation, state=state, episode_start=np.array([episode_start]),
                                  deterministic=deterministic)
