"""Policies without learning, which every honest comparison needs.

Each has the ``predict(obs, state, episode_start, deterministic) -> (action, state)`` shape of
Stable-Baselines3 policies, so the same evaluation code runs them beside trained agents.

They choose grid positions (values), so they act in an env with ``relative_actions`` too: there
a relative hyper-parameter is moved toward the chosen position, at most ``k`` positions per step,
from the current position its observation feature shows ([`hpenv.HPSpace.action_toward`][]).
[`ReduceOnPlateauPolicy`][agents.baselines.ReduceOnPlateauPolicy] and
[`LossJumpPolicy`][agents.baselines.LossJumpPolicy], whose state is the learning rate's position, take
absolute actions only.
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple

import numpy as np

from hpenv.observe import feature_index, hp_positions
from hpenv.spaces import HPSpace

_PROGRESS = feature_index("progress")
_VAL_ACCURACY = feature_index("val_accuracy")
_TRAIN_LOSS = feature_index("train_loss_mean")

#: The tuple a practitioner would try first: full depth, no dropout, lr 0.03, Nesterov 0.9.
DEFAULT_TUPLE = {"depth": 4, "dropout": 0.0, "learning_rate": 0.03, "momentum": 0.9}
#: Where the learning-rate rules start: `DEFAULT_TUPLE` with the largest safe learning rate 0.1.
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
    """The same tuple at every step. ``values`` defaults to `DEFAULT_TUPLE` (restricted to the space).

    With relative actions the tuple is reached as fast as the moves allow and then kept (from the
    env's default start, `DEFAULT_TUPLE` is kept from the first step).
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

    Starts from ``start`` (a tuple, default `DEFAULT_TUPLE` with the largest safe learning
    rate 0.1) and lowers the learning rate along the grid as ``progress = t / horizon`` grows;
    the other hyper-parameters stay fixed. ``base`` and `lr_index` are grid positions.
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
    """What [`ReduceOnPlateauPolicy`][agents.baselines.ReduceOnPlateauPolicy] carries between steps, one entry
    per row of the batch (0-d arrays for a single observation)."""

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
        env_or_space: an HPTune env or its [`hpenv.HPSpace`][]; its actions must be absolute
            and it must have a ``learning_rate``.
        start: the tuple each episode starts from: values by name (hyper-parameters not named
            take [`FixedPolicy`][agents.baselines.FixedPolicy]'s defaults) or one action (grid positions).
            None: `DECAY_START`.
        patience: consecutive bad steps before a drop (>= 1).
        factor_steps: grid positions per drop (>= 1).
        min_delta: how much accuracy must rise over the best to count as an improvement (>= 0).

    ``predict`` takes one observation or a batch ``(n, obs_dim)``; its ``state``
    ([`PlateauState`][agents.baselines.PlateauState]) holds one entry per row, and rows whose
    ``episode_start`` is set (all of them when ``state`` is None) start again from ``start``.
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


class JumpState(NamedTuple):
    """What [`LossJumpPolicy`][agents.baselines.LossJumpPolicy] carries between steps, one entry per row of
    the batch."""

    lr_position: np.ndarray
    """the learning rate's grid position now applied"""
    previous_loss: np.ndarray
    """the previous step's mean training loss (NaN after a reset: the reset observation holds none)"""
    fired: np.ndarray
    """steps since the rule fired (0: not yet; 1: fired at the last observation; ...)"""


class LossJumpPolicy:
    """A closed-loop rule: keep the start tuple until the training loss jumps, then lower the rate.

    The rule reads the observation's ``train_loss_mean`` (the mean training loss of the step just
    trained). When it rises above the previous step's by more than ``threshold`` (relative: the
    loss exceeds ``(1 + threshold)`` times the previous one), the training data have most likely
    changed (wrong labels, unseen classes, rescaled inputs: see [`hpenv.streams`][]), and the
    rule moves the learning rate ``drop_steps`` grid positions below the start (by value; at least
    the grid's smallest) for the rest of the episode. With ``raise_first`` it first trains one step
    one position *above* the start (learn the new data fast), then drops. It fires once per
    episode; the other hyper-parameters stay at ``start``. A controller that reads the state can
    time its response to a change whose step no fixed schedule knows: this is the hand-written
    reference of that idea.

    Args:
        env_or_space: an HPTune env or its [`hpenv.HPSpace`][] (absolute actions, with a
            ``learning_rate``).
        start: the start tuple, values by name (others: [`FixedPolicy`][agents.baselines.FixedPolicy]'s
            defaults) or one action; or ``(n, n_hp)`` actions, one per row of the batches ``predict`` will
            see.
        threshold: the relative rise that fires the rule (> 0); a number, or one per row.
        drop_steps: grid positions below the start after firing (>= 1); a number, or one per row.
        raise_first: train one step one position above the start before dropping; a bool, or one per row.

    ``predict`` takes one observation or a batch ``(n, obs_dim)``; rows whose ``episode_start`` is
    set (all of them when ``state`` is None) start again.
    """

    def __init__(self, env_or_space, start: Mapping[str, float] | np.ndarray | None = None, *,
                 threshold: float | np.ndarray = 0.25, drop_steps: int | np.ndarray = 2,
                 raise_first: bool | np.ndarray = False):
        self.space = _space_of(env_or_space)
        self.space.require_absolute("LossJumpPolicy")
        if "learning_rate" not in self.space:
            raise ValueError(f"LossJumpPolicy needs a space with a learning_rate hyper-parameter, got "
                             f"{list(self.space.names)}")
        if start is None or isinstance(start, Mapping):
            given = start or {k: v for k, v in DEFAULT_TUPLE.items() if k in self.space}
            unknown = sorted(set(given) - set(self.space.names))
            if unknown:
                raise ValueError(f"start names hyper-parameters {unknown} that the space does not have; "
                                 f"allowed: {list(self.space.names)}")
            start = FixedPolicy(self.space, given).target
        start = np.asarray(start)
        self.start = (self.space.check_action(start, argument="start") if start.ndim <= 1 else
                      np.stack([self.space.check_action(row, argument="start") for row in start]))
        threshold = np.asarray(threshold, dtype=np.float64)
        if not np.all(np.isfinite(threshold)) or np.any(threshold <= 0):
            raise ValueError(f"threshold must be > 0 (a relative rise of the training loss), got {threshold.tolist()}")
        drop = np.asarray(drop_steps)
        if drop.dtype == bool or not np.issubdtype(drop.dtype, np.integer) or np.any(drop < 1):
            raise ValueError(f"drop_steps must be integers >= 1, got {drop.tolist()}")
        self.threshold, self.drop_steps = threshold, drop.astype(np.int64)
        self.raise_first = np.asarray(raise_first, dtype=bool)
        self.j = self.space.names.index("learning_rate")
        lrs = np.asarray(self.space.params[self.j].values)
        self._by_value = np.argsort(lrs, kind="stable")
        self._rank = np.argsort(self._by_value, kind="stable")

    def _moved(self, position: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """The grid position ``steps`` learning rates above ``position`` (below when negative), clipped."""
        return self._by_value[np.clip(self._rank[position] + steps, 0, len(self._by_value) - 1)]

    def predict(self, observation, state: JumpState | None = None, episode_start=True, deterministic=True):
        loss = np.asarray(observation, dtype=np.float64)[..., _TRAIN_LOSS]
        restart = np.broadcast_to(np.asarray(episode_start, dtype=bool), loss.shape)
        if state is None:
            restart = np.ones(loss.shape, dtype=bool)
            state = JumpState(np.zeros(loss.shape, dtype=np.int64), np.full(loss.shape, np.nan),
                              np.zeros(loss.shape, dtype=np.int64))
        start_lr = np.broadcast_to(self.start[..., self.j], loss.shape)
        previous = np.where(restart, np.nan, state.previous_loss)
        fired = np.where(restart, 0, state.fired)
        with np.errstate(invalid="ignore"):
            jump = (fired == 0) & np.isfinite(previous) & (loss > previous * (1.0 + self.threshold))
        fired = np.where(jump | (fired > 0), fired + 1, 0)
        raising = (fired == 1) & self.raise_first
        lr = np.where(fired == 0, start_lr,
                      np.where(raising, self._moved(start_lr, np.ones_like(start_lr)),
                               self._moved(start_lr, -np.broadcast_to(self.drop_steps, loss.shape))))
        action = np.broadcast_to(self.start, loss.shape + (len(self.space.params),)).copy()
        action[..., self.j] = lr
        return action, JumpState(lr, np.where(restart, np.nan, loss), fired)
