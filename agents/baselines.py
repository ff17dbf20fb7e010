"""Policies without learning, which every honest comparison needs.

Each has the ``predict(obs, state, episode_start, deterministic) -> (action, state)`` shape of
Stable-Baselines3 policies, so the same evaluation code runs them beside trained agents.

They choose grid positions (values), so they act in an env with ``relative_actions`` too: there
a relative hyper-parameter is moved toward the chosen position, at most ``k`` positions per step,
from the current position its observation feature shows (:meth:`hpenv.HPSpace.action_toward`).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from hpenv.observe import feature_index, hp_positions
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


def _action_for(space: HPSpace, target: np.ndarray, observation) -> np.ndarray:
    """The action that applies the grid positions ``target``: ``target`` itself in an absolute
    space; in a relative one, a move toward it from the position the observation shows."""
    if not space.is_relative:
        return target.copy()
    return space.action_toward(target, hp_positions(observation, space))


class FixedPolicy:
    """The same tuple at every step. ``values`` defaults to :data:`DEFAULT_TUPLE` (restricted to the space).

    With relative actions the tuple is reached as fast as the moves allow and then kept (from the
    env's default start, :data:`DEFAULT_TUPLE` is kept from the first step).
    """

    def __init__(self, env_or_space, values: Mapping[str, float] | None = None):
        self.space = _space_of(env_or_space)
        values = dict(values or {k: v for k, v in DEFAULT_TUPLE.items() if k in self.space})
        for p in self.space.params:  # hyper-parameters the default does not name: middle choice
            values.setdefault(p.name, p.values[len(p.values) // 2])
        #: the tuple's grid positions (the action, in an absolute space)
        self.target = self.space.positions_of(values)

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        return _action_for(self.space, self.target, observation), state


class RandomPolicy:
    """A uniformly random action at every step (the floor any learned controller must clear): a
    random tuple, or a random move for a relative hyper-parameter."""

    def __init__(self, env_or_space, seed: int | None = None):
        self.space = _space_of(env_or_space)
        self.rng = np.random.default_rng(seed)

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        return self.rng.integers(0, self.space.nvec), state


class RandomStaticPolicy:
    """One uniformly random tuple per episode, kept for the whole episode (the state is its grid positions)."""

    def __init__(self, env_or_space, seed: int | None = None):
        self.space = _space_of(env_or_space)
        self.rng = np.random.default_rng(seed)

    def predict(self, observation, state=None, episode_start=True, deterministic=True):
        if episode_start or state is None:
            state = self.rng.integers(0, self.space.sizes)
        return _action_for(self.space, state, observation), state


class SchedulePolicy:
    """A hand-written learning-rate schedule over the episode: ``"step"`` or ``"cosine"`` decay.

    Starts from ``start`` (a tuple, default :data:`DEFAULT_TUPLE` with the largest safe learning
    rate 0.1) and lowers the learning rate along the grid as ``progress = t / horizon`` grows;
    the other hyper-parameters stay fixed. ``base`` and :meth:`lr_index` are grid positions.
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
        self.base = FixedPolicy(self.space, values).target
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
        target = self.base.copy()
        target[self.j] = self.lr_index(progress)
        return _action_for(self.space, target, observation), state
