"""Policies without learning, which every honest comparison needs.

Each has the ``predict(obs, state, episode_start, deterministic) -> (action, state)`` shape of
Stable-Baselines3 policies, so the same evaluation code runs them beside trained agents.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from hpenv.observe import feature_index
from hpenv.spaces import HPSpace

_PROGRESS = feature_index("progress")

#: The tuple a practitioner would try first: full depth, no dropout, lr 0.03, Nesterov 0.9.
DEFAULT_TUPLE = {"depth": 4, "dropout": 0.0, "learning_rate": 0.03, "momentum": 0.9}


def _space_of(env_or_space) -> HPSpace:
    if isinstance(env_or_space, HPSpace):
        return env_or_space
    space = getattr(getattr(env_or_space, "unwrapped", env_or_space), "hp_space", None)
    if space is None:
        raise ValueError(f"expected an HPTune env or an HPSpace, got {type(env_or_space).__name__}")
    return space


class FixedPolicy:
    """The same tuple at every step. ``values`` defaults to :data:`DEFAULT_TUPLE` (restricted to the space)."""

    def __init__(self, env_or_space, values: Mapping[str, float] | None = None):
        self.space = _space_of(env_or_space)
        values = dict(values or {k: v for k, v in DEFAULT_TUPLE.items() if k in self.space})
        for p in self.space.params:  # hyper-parameters the default does not name: middle choice
            values.setdefault(p.name, p.values[len(p.values) // 2])
        self.action = self.space.encode(values)

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        return self.action.copy(), state


class RandomPolicy:
    """A uniformly random tuple at every step (the floor any learned controller must clear)."""

    def __init__(self, env_or_space, seed: int | None = None):
        self.space = _space_of(env_or_space)
        self.rng = np.random.default_rng(seed)

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        return self.rng.integers(0, self.space.nvec), state


class RandomStaticPolicy:
    """One uniformly random tuple per episode, kept for the whole episode."""

    def __init__(self, env_or_space, seed: int | None = None):
        self.space = _space_of(env_or_space)
        self.rng = np.random.default_rng(seed)

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        if episode_start or state is None:
            state = self.rng.integers(0, self.space.nvec)
        return state.copy(), state


class SchedulePolicy:
    """A hand-written learning-rate schedule over the episode: ``"step"`` or ``"cosine"`` decay.

    Starts from ``start`` (a tuple, default :data:`DEFAULT_TUPLE` with the largest safe learning
    rate 0.1) and lowers the learning rate along the grid as ``progress = t / horizon`` grows;
    the other hyper-parameters stay fixed.
    """

    def __init__(self, env_or_space, kind: str = "cosine", start: Mapping[str, float] | None = None):
        if kind not in ("step", "cosine"):
            raise ValueError(f"kind must be 'step' or 'cosine', got {kind!r}")
        self.space = _space_of(env_or_space)
        if "learning_rate" not in self.space:
            raise ValueError("SchedulePolicy needs a space with a learning_rate hyper-parameter")
        self.kind = kind
        values = dict(start or {**DEFAULT_TUPLE, "learning_rate": 0.1})
        values = {k: v for k, v in values.items() if k in self.space}
        self.base = FixedPolicy(self.space, values).action
        self.j = self.space.names.index("learning_rate")

    def lr_index(self, progress: float) -> int:
        top = int(self.base[self.j])
        if self.kind == "step":  # one grid notch down at 50% and again at 75% of the episode
            return max(top - (progress >= 0.5) - (progress >= 0.75), 0)
        lrs = np.asarray(self.space.params[self.j].values)
        target = 0.5 * lrs[top] * (1 + math.cos(math.pi * progress))
        return int(np.argmin(np.abs(np.log(lrs[: top + 1]) - np.log(max(target, lrs[0])))))

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        progress = float(np.asarray(observation)[..., _PROGRESS])  # t / horizon
        action = self.base.copy()
        action[self.j] = self.lr_index(progress)
        return action, state
