"""Policies without learning, which every honest comparison needs.

Each has the ``predict(obs, state, episode_start, deterministic) -> (action, state)`` shape of
Stable-Baselines3 policies, so the same evaluation code runs them beside trained agents.

They choose grid positions (values), so they act in an env with ``relative_actions`` too: there
a relative hyper-parameter is moved toward the chosen position, at most ``k`` positions per step,
from the current position its observation feature shows (:meth:`hpenv.HPSpace.action_toward`).
:class:`ReduceOnPlateauPolicy`, whose state is the learning rate's position, takes absolute actions only.
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import numpy as np

from hpenv.observe import feature_index, hp_positions
from hpenv.spaces import HPSpace

_PROGRESS = feature_index("progress")
_VAL_ACCURACY = feature_index("val_accuracy")

#: The tuple a practitioner would try first: full depth, no dropout, lr 0.03, Nesterov 0.9.
DEFAULT_TUPLE = {"depth": 4, "dropout": 0.0, "learning_rate": 0.03, "momentum": 0.9}
#: Where the learning-rate rules start: :data:`DEFAULT_TUPLE` with the largest safe learning rate 0.1.
DECAY_START = {**DEFAULT_TUPLE, "learning_rate": 0.1}


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
        values = dict(start or DECAY_START)
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


class PlateauState(NamedTuple):
    """What :class:`ReduceOnPlateauPolicy` carries between steps, one entry per row of the batch
    (0-d arrays for a single observation)."""

    lr_position: np.ndarray
    """the learning rate's grid position now applied"""
    best: np.ndarray
    """the best validation accuracy of the episode so far"""
    bad_steps: np.ndarray
    """consecutive steps whose validation accuracy did not beat ``best`` by more than ``min_delta``"""


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


class ReduceOnPlateauPolicy:
    """Lower the learning rate when validation accuracy stops improving (torch's
    ``ReduceLROnPlateau`` in mode ``max`` with an absolute threshold, on the grid).

    Starts every episode from ``start`` and reads validation accuracy from each observation
    (feature ``val_accuracy``). A step whose accuracy does not beat the episode's best by more
    than ``min_delta`` is a bad step; after ``patience`` consecutive bad steps the learning rate
    moves ``factor_steps`` grid positions down (by value; never below the grid's smallest) and
    the count starts again from zero. So ``patience=p`` here is torch's ``patience=p - 1``, and
    there is no cooldown beyond that restart: the lowered rate gets ``patience`` steps to beat
    the best before the next drop, which on a horizon of 10-20 steps is all the wait there is
    room for. The other hyper-parameters stay at ``start``.

    Args:
        env_or_space: an HPTune env or its :class:`hpenv.HPSpace`; its actions must be absolute
            and it must have a ``learning_rate``.
        start: the tuple each episode starts from: values by name (hyper-parameters not named
            take :class:`FixedPolicy`'s defaults) or one action (grid positions). None:
            :data:`DECAY_START`.
        patience: consecutive bad steps before a drop (>= 1).
        factor_steps: grid positions per drop (>= 1).
        min_delta: how much accuracy must rise over the best to count as an improvement (>= 0).

    ``predict`` takes one observation or a batch ``(n, obs_dim)``; its ``state``
    (:class:`PlateauState`) holds one entry per row, and rows whose ``episode_start`` is set
    (all of them when ``state`` is None) start again from ``start``.
    """

    def __init__(self, env_or_space, start: Mapping[str, float] | np.ndarray | None = None, *,
                 patience: int = 1, factor_steps: int = 1, min_delta: float = 0.0):
        self.space = _space_of(env_or_space)
        self.space.require_absolute("ReduceOnPlateauPolicy")  # its state is the lr's grid position
        if "learning_rate" not in self.space:
            raise ValueError(f"ReduceOnPlateauPolicy needs a space with a learning_rate hyper-parameter, "
                             f"got {list(self.space.names)}")
        self.patience = _positive_int("patience", patience)
        self.factor_steps = _positive_int("factor_steps", factor_steps)
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.number)) \
                or not math.isfinite(min_delta) or min_delta < 0:
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
        if start is None:
            start = {k: v for k, v in DECAY_START.items() if k in self.space}
        if isinstance(start, Mapping):
            unknown = sorted(set(start) - set(self.space.names))
            if unknown:
                raise ValueError(f"start names hyper-parameters {unknown} that the space does not have; "
                                 f"allowed: {list(self.space.names)}")
            start = FixedPolicy(self.space, start).target
        #: the start tuple's grid positions (the first action of every episode)
        self.start = self.space.check_action(start, argument="start")
        self.j = self.space.names.index("learning_rate")
        lrs = np.asarray(self.space.params[self.j].values)
        # grid positions in increasing learning rate, and each position's rank in that order
        self._by_value = np.argsort(lrs, kind="stable")
        self._rank = np.argsort(self._by_value, kind="stable")

    def lower(self, lr_position: np.ndarray) -> np.ndarray:
        """The grid position ``factor_steps`` learning rates below ``lr_position`` (or the smallest)."""
        return self._by_value[np.maximum(self._rank[lr_position] - self.factor_steps, 0)]

    def predict(self, observation, state: PlateauState | None = None, episode_start=True, deterministic=True):
        accuracy = np.asarray(observation, dtype=np.float64)[..., _VAL_ACCURACY]
        restart = np.broadcast_to(np.asarray(episode_start, dtype=bool), accuracy.shape)
        if state is None:
            restart = np.ones(accuracy.shape, dtype=bool)
            state = PlateauState(np.zeros(accuracy.shape, dtype=np.int64), np.zeros(accuracy.shape),
                                 np.zeros(accuracy.shape, dtype=np.int64))
        lr = np.where(restart, self.start[self.j], state.lr_position)
        best = np.where(restart, -np.inf, state.best)  # the reset observation becomes the first best
        bad = np.where(restart, 0, state.bad_steps)
        improved = accuracy > best + self.min_delta
        best = np.where(improved, accuracy, best)
        bad = np.where(improved, 0, bad + 1)
        drop = bad >= self.patience
        lr = np.where(drop, self.lower(lr), lr)
        bad = np.where(drop, 0, bad)
        action = np.broadcast_to(self.start, accuracy.shape + self.start.shape).copy()
        action[..., self.j] = lr
        return action, PlateauState(lr, best, bad)
