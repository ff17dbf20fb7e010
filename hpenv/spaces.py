"""Hyper-parameters and spaces of them.

A [`HyperParameter`][hpenv.spaces.HyperParameter] is a named, finite, ordered list of values (its *grid*). A
[`HPSpace`][hpenv.spaces.HPSpace] is an ordered tuple of them; it turns an action into the grid positions,
hence the values, to apply, and gives the ``MultiDiscrete`` action space the environment exposes.

An action dimension is *absolute* by default: the action is the grid position itself. A space may
make some dimensions *relative* (``relative_actions={name: k}``): the action is then a move of
``-k..+k`` grid positions from the hyper-parameter's current position (index ``k`` keeps it),
clipped at the ends of the grid, and every episode starts from the position of ``relative_start``.
Everything that reads an action (the action space,
[`HPSpace.check_action`][hpenv.spaces.HPSpace.check_action], the action mask,
[`HPSpace.apply`][hpenv.spaces.HPSpace.apply]) follows the space, so the env, its wrappers and the agents
agree on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
from gymnasium import spaces

#: Names the training kernel knows how to apply, with the values each may take.
KNOWN_HYPERPARAMETERS = {
    "depth": "number of active residual blocks, an integer from 1 to the child's max_depth",
    "dropout": "dropout probability inside each residual block, in [0, 1) (drawn with 16 random bits per unit)",
    "learning_rate": "SGD step size, > 0",
    "momentum": "Nesterov momentum, in [0, 1)",
    "weight_decay": "L2 penalty added to the gradient, >= 0",
    "batch_size": "mini-batch size, a positive integer",
}


@dataclass(frozen=True)
class HyperParameter:
    """One hyper-parameter: a name from `KNOWN_HYPERPARAMETERS` and its candidate values.

    Args:
        name: which hyper-parameter this is (``"learning_rate"``, ``"depth"``...).
        values: the candidate values, in the order the action index selects them.
    """

    name: str
    values: tuple

    def __post_init__(self) -> None:
        if self.name not in KNOWN_HYPERPARAMETERS:
            raise ValueError(
                f"unknown hyper-parameter name {self.name!r}; allowed names: "
                f"{sorted(KNOWN_HYPERPARAMETERS)}"
            )
        # A bare number has no candidates to choose from, and a string would be read one
        # character at a time; a set has no order for the action index to follow.
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, (Sequence, np.ndarray)):
            raise ValueError(
                f"hyper-parameter {self.name!r} needs a sequence of candidate values (a list, tuple, "
                f"range or 1-D array such as [0.01, 0.1]), got {self.values!r}"
            )
        values = tuple(self.values)
        if len(values) == 0:
            raise ValueError(f"hyper-parameter {self.name!r} needs at least one value, got {values!r}")
        for v in values:
            if not _valid_value(self.name, v):
                raise ValueError(
                    f"hyper-parameter {self.name!r} got value {v!r}; allowed: "
                    f"{KNOWN_HYPERPARAMETERS[self.name]}"
                )
        if self.name in ("depth", "batch_size"):
            values = tuple(int(v) for v in values)
        else:
            values = tuple(float(v) for v in values)
        object.__setattr__(self, "values", values)

    @classmethod
    def log_grid(cls, name: str, low: float, high: float, num: int) -> "HyperParameter":
        """``num`` values spaced evenly on a log scale from ``low`` to ``high``."""
        grid = np.geomspace(low, high, num)
        return cls(name, tuple(float(f"{v:.4g}") for v in grid))

    def __len__(self) -> int:
        return len(self.values)


def _valid_value(name: str, v) -> bool:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    if not math.isfinite(f):
        return False
    if name in ("depth", "batch_size"):
        return f == int(f) and f >= 1
    if name in ("dropout", "momentum"):
        return 0.0 <= f < 1.0
    if name == "learning_rate":
        return f > 0.0
    return f >= 0.0  # weight_decay


class HPSpace:
    """An ordered set of hyper-parameters that one action sets together.

    Args:
        params: the hyper-parameters, in action order. Names must be distinct.
        relative_actions: ``{name: k}`` makes that hyper-parameter's action a move of ``-k..+k``
            grid positions from its current position (``2k + 1`` choices; index ``k`` keeps the
            value), clipped at the ends of the grid; ``1 <= k < len(grid)``. Other
            hyper-parameters stay absolute (the action is the grid position). On a log grid with
            ratio 3 (the default learning rates), ``k=1`` gives x1/3, x1 and x3.
        relative_start: ``{name: value}``, the value each relative hyper-parameter starts every
            episode from; it must name exactly the relative hyper-parameters, with values on
            their grids. (The environment fills in its defaults, see [`hpenv.EnvConfig`][].)

    Attributes:
        nvec: choices per action dimension (the grid size, or ``2k + 1`` for a relative one).
        sizes: grid size per hyper-parameter.
        relative_actions: ``{name: k}`` of the relative dimensions (empty for an absolute space).
        relative_start: ``{name: value}`` of their start values.
        moves: ``k`` per action dimension (0 for an absolute one); ``relative``: ``moves > 0``.

    Example:
        >>> space = HPSpace.default()
        >>> space.decode([2, 1, 3, 2])
        {'depth': 3, 'dropout': 0.1, 'learning_rate': 0.03, 'momentum': 0.9}
        >>> rel = HPSpace(space.params, relative_actions={"learning_rate": 1},
        ...               relative_start={"learning_rate": 0.03})
        >>> rel.nvec.tolist()
        [4, 5, 3, 4]
        >>> rel.values_at(rel.apply([2, 1, 2, 2], rel.start_positions()))  # lr x3 from 0.03
        {'depth': 3, 'dropout': 0.1, 'learning_rate': 0.1, 'momentum': 0.9}
    """

    def __init__(self, params: Iterable[HyperParameter], *, relative_actions: Mapping[str, int] | None = None,
                 relative_start: Mapping[str, float] | None = None):
        self.params: tuple[HyperParameter, ...] = tuple(params)
        if not self.params:
            raise ValueError("an HPSpace needs at least one hyper-parameter")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"hyper-parameter names must be distinct, got {names}")
        self.names: tuple[str, ...] = tuple(names)
        self.sizes = np.array([len(p) for p in self.params], dtype=np.int64)
        self.relative_actions, self.relative_start, start_index = self._check_relative(relative_actions,
                                                                                       relative_start)
        # per dimension: k (0 = absolute), and the grid position a relative one starts from
        self.moves = np.array([self.relative_actions.get(n, 0) for n in self.names], dtype=np.int64)
        self.relative = self.moves > 0
        self._start = np.array([start_index.get(n, 0) for n in self.names], dtype=np.int64)
        self.nvec = np.where(self.relative, 2 * self.moves + 1, self.sizes)

    def _check_relative(self, moves: Mapping[str, int] | None, start: Mapping[str, float] | None
                        ) -> tuple[dict[str, int], dict[str, float], dict[str, int]]:
        """``relative_actions`` and ``relative_start`` checked: plain dicts, and the start positions."""
        if moves is None and start is None:
            return {}, {}, {}
        for argument, value in (("relative_actions", moves), ("relative_start", start)):
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"{argument} must be a dict of hyper-parameter name -> "
                                 f"{'k (an integer)' if argument == 'relative_actions' else 'start value'}, "
                                 f"got {value!r}")
        moves, start = dict(moves or {}), dict(start or {})
        for name, k in moves.items():
            if name not in self.names:
                raise ValueError(f"relative_actions names {name!r}, which is not in the space; "
                                 f"its hyper-parameters are {list(self.names)}")
            n = len(self.params[self.names.index(name)])
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < n:
                allowed = f"an integer from 1 to {n - 1}" if n > 1 else "nothing: a grid of one value cannot move"
                raise ValueError(f"relative_actions[{name!r}] = {k!r} is not a valid move size: {name} has {n} grid "
                                 f"values, so k must be {allowed} (a move of -k..+k positions)")
            moves[name] = int(k)
        extra = sorted(set(start) - set(moves))
        if extra:
            raise ValueError(f"relative_start names {extra}, which relative_actions does not make relative "
                             f"(relative hyper-parameters: {sorted(moves)})")
        missing = sorted(set(moves) - set(start))
        if missing:
            raise ValueError(f"relative_start needs a start value for {missing} (one of each grid's values)")
        index = {}
        for name in moves:
            p = self.params[self.names.index(name)]
            matches = _grid_matches(p, start[name])
            if not matches:
                raise ValueError(f"relative_start[{name!r}] = {start[name]!r} is not on {name}'s grid; "
                                 f"allowed: {list(p.values)}")
            index[name] = matches[0]
            start[name] = p.values[matches[0]]
        # kept in space order, whatever order the arguments came in (to_dict, repr and == use it)
        order = [n for n in self.names if n in moves]
        return {n: moves[n] for n in order}, {n: start[n] for n in order}, index

    @classmethod
    def default(cls, max_depth: int = 4) -> "HPSpace":
        """The paper's tuple: active depth, dropout, learning rate (log grid), Nesterov momentum."""
        return cls(
            [
                HyperParameter("depth", tuple(range(1, max_depth + 1))),
                HyperParameter("dropout", (0.0, 0.1, 0.2, 0.3, 0.5)),
                HyperParameter("learning_rate", (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)),
                HyperParameter("momentum", (0.0, 0.5, 0.9, 0.99)),
            ]
        )

    @classmethod
    def from_dict(cls, spec: Mapping[str, Sequence]) -> "HPSpace":
        """Build a space from ``{"learning_rate": [...], "batch_size": [...]}`` (order kept)."""
        return cls(HyperParameter(name, values) for name, values in spec.items())

    def to_dict(self) -> dict[str, list]:
        """``{name: [values]}`` in action order: plain data that [`from_dict`][hpenv.spaces.HPSpace.from_dict]
        reads back.

        The grids only: ``relative_actions`` and ``relative_start`` are attributes of their own."""
        return {p.name: list(p.values) for p in self.params}

    @property
    def action_space(self) -> spaces.MultiDiscrete:
        return spaces.MultiDiscrete(self.nvec)

    @property
    def is_relative(self) -> bool:
        """Whether any action dimension is a relative move (see ``relative_actions``)."""
        return bool(self.relative.any())

    def require_absolute(self, what: str) -> None:
        """Raise a ValueError if ``what`` (a caller that reads actions as grid positions) cannot use this space."""
        if self.is_relative:
            raise ValueError(
                f"{what} takes absolute actions (one grid position per hyper-parameter), but this space's "
                f"{sorted(self.relative_actions)} actions are relative moves (relative_actions="
                f"{self.relative_actions}); use an env without relative_actions")

    def __len__(self) -> int:
        return len(self.params)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __repr__(self) -> str:
        inner = ", ".join(f"{p.name}={list(p.values)}" for p in self.params)
        if self.is_relative:
            inner += f", relative_actions={self.relative_actions}, relative_start={self.relative_start}"
        return f"HPSpace({inner})"

    def __eq__(self, other) -> bool:
        return (isinstance(other, HPSpace) and self.params == other.params
                and self.relative_actions == other.relative_actions and self.relative_start == other.relative_start)

    def action_mask(self) -> np.ndarray:
        """Which action indices are allowed, as one flat bool array of ``sum(nvec)`` entries
        (sb3-contrib's MaskablePPO layout). Every index of every hyper-parameter is always valid."""
        return np.ones(int(self.nvec.sum()), dtype=bool)

    def check_action(self, action, argument: str = "action", num_envs: int | None = None) -> np.ndarray:
        """Return ``action`` as an int64 array, or raise a ValueError saying what is wrong and what is allowed.

        With ``num_envs`` it checks a batch of actions, one row per env (the vector env's step).
        """
        shape = (len(self),) if num_envs is None else (num_envs, len(self))
        arr = np.asarray(action)
        if arr.shape != shape:
            rows = "" if num_envs is None else f"{num_envs} rows of "
            raise ValueError(
                f"{argument} must be {rows}{len(self)} integer indices (one per hyper-parameter "
                f"{list(self.names)}), got shape {arr.shape}"
            )
        try:
            values = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{argument} must hold integer indices, got {action!r}") from None
        for bad, what in ((~np.isfinite(values), "is non-finite"), (values != np.round(values), "is not an integer")):
            if bad.any():
                raise ValueError(f"{_element(argument, bad)} = {float(values[bad][0])} {what}; "
                                 f"{argument} must hold integer indices")
        arr = values.astype(np.int64)
        bad = (arr < 0) | (arr >= self.nvec)
        if bad.any():
            j = np.argwhere(bad)[0][-1]
            move = (f" (a move of -{self.moves[j]}..+{self.moves[j]} grid positions; {self.moves[j]} keeps the value)"
                    if self.relative[j] else "")
            raise ValueError(
                f"{_element(argument, bad)} = {arr[bad][0]} is outside the action space: the index of "
                f"{self.names[j]} must be in [0, {self.nvec[j]}){move}"
            )
        return arr

    # ------------------------------------------------------------ actions -> grid positions
    def start_positions(self) -> np.ndarray:
        """Grid positions at the start of an episode: ``relative_start`` for relative dimensions,
        0 for absolute ones (which have no value before their first action)."""
        return self._start.copy()

    def apply(self, actions, positions) -> np.ndarray:
        """The grid positions that ``actions`` select from the current ``positions`` (one row or a batch).

        An absolute dimension's action is its position; a relative one moves the current position
        by ``action - k``, clipped to the grid.
        """
        actions, positions = np.asarray(actions, dtype=np.int64), np.asarray(positions, dtype=np.int64)
        moved = np.clip(positions + actions - self.moves, 0, self.sizes - 1)
        return np.where(self.relative, moved, actions)

    def action_toward(self, target, positions) -> np.ndarray:
        """The action that brings the current ``positions`` closest to the ``target`` grid positions.

        An absolute dimension gets the target itself; a relative one moves toward it by at most
        ``k`` positions. For an absolute space this is ``target``: policies written in grid
        positions ([`agents.baselines.FixedPolicy`][]) act in either kind of space through it.
        """
        target, positions = np.asarray(target, dtype=np.int64), np.asarray(positions, dtype=np.int64)
        move = np.clip(target - positions, -self.moves, self.moves) + self.moves
        return np.where(self.relative, move, target)

    # ------------------------------------------------------------ grid positions <-> values
    def positions_of(self, values: Mapping[str, float]) -> np.ndarray:
        """The grid position of each of ``values`` (each must be one of the candidate values)."""
        missing = set(self.names) - set(values)
        if missing:
            raise ValueError(f"values is missing hyper-parameters {sorted(missing)}; need {list(self.names)}")
        positions = []
        for p in self.params:
            v = values[p.name]
            matches = _grid_matches(p, v)
            if not matches:
                raise ValueError(f"{p.name}={v!r} is not a candidate value; allowed: {list(p.values)}")
            positions.append(matches[0])
        return np.array(positions, dtype=np.int64)

    def values_at(self, positions) -> dict:
        """The hyper-parameter values at one row of grid positions, as a plain dict."""
        return {p.name: p.values[int(i)] for p, i in zip(self.params, np.asarray(positions).reshape(-1))}

    def decode(self, action) -> dict:
        """The hyper-parameter values an absolute action selects, as a plain dict.

        A relative action has no values by itself (they depend on the current position): for a
        relative space this raises; read ``info["hp_<name>"]``, or use [`apply`][hpenv.spaces.HPSpace.apply]
        and [`values_at`][hpenv.spaces.HPSpace.values_at].
        """
        arr = self.check_action(action)
        self.require_absolute("decode")
        return self.values_at(arr)

    def encode(self, values: Mapping[str, float]) -> np.ndarray:
        """The absolute action that selects ``values`` (each must be one of the candidate values).

        For a relative space this raises: the action that reaches ``values`` depends on the
        current position ([`positions_of`][hpenv.spaces.HPSpace.positions_of] then
        [`action_toward`][hpenv.spaces.HPSpace.action_toward]).
        """
        self.require_absolute("encode")
        return self.positions_of(values)

    def normalized(self, positions: np.ndarray) -> np.ndarray:
        """Each grid position scaled to [0, 1] (``position / (size - 1)``); works on a batch."""
        denom = np.maximum(self.sizes - 1, 1)
        return np.asarray(positions, dtype=np.float32) / denom.astype(np.float32)

    def values_of(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        """For a batch of grid positions ``(K, len(self))``, each hyper-parameter's values as an array.

        For an absolute space the positions are the actions; for a relative one,
        [`apply`][hpenv.spaces.HPSpace.apply] them first.
        """
        positions = np.asarray(positions, dtype=np.int64)
        return {
            p.name: np.asarray(p.values)[positions[:, j]] for j, p in enumerate(self.params)
        }


def _grid_matches(p: HyperParameter, v) -> list[int]:
    """Grid positions of ``p`` whose value is ``v`` (up to float rounding); empty if ``v`` is not a number on it."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return []
    return [i for i, c in enumerate(p.values) if math.isclose(c, f, rel_tol=1e-9)]


def _element(argument: str, bad: np.ndarray) -> str:
    """``action[2]`` or ``actions[1, 3]``: where the first True of ``bad`` sits."""
    return f"{argument}[{', '.join(str(i) for i in np.argwhere(bad)[0])}]"
