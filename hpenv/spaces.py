"""Hyper-parameters and spaces of them.

A :class:`HyperParameter` is a named, finite, ordered list of values. A :class:`HPSpace` is an
ordered tuple of them; it turns an action (one index per hyper-parameter) into the values to
apply, and back, and gives the ``MultiDiscrete`` action space the environment exposes.
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
    """One hyper-parameter: a name from :data:`KNOWN_HYPERPARAMETERS` and its candidate values.

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

    Example:
        >>> space = HPSpace.default()
        >>> space.decode([2, 1, 3, 2])
        {'depth': 3, 'dropout': 0.1, 'learning_rate': 0.03, 'momentum': 0.9}
    """

    def __init__(self, params: Iterable[HyperParameter]):
        self.params: tuple[HyperParameter, ...] = tuple(params)
        if not self.params:
            raise ValueError("an HPSpace needs at least one hyper-parameter")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"hyper-parameter names must be distinct, got {names}")
        self.names: tuple[str, ...] = tuple(names)
        self.nvec = np.array([len(p) for p in self.params], dtype=np.int64)

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
        """``{name: [values]}`` in action order: plain data that :meth:`from_dict` reads back."""
        return {p.name: list(p.values) for p in self.params}

    @property
    def action_space(self) -> spaces.MultiDiscrete:
        return spaces.MultiDiscrete(self.nvec)

    def __len__(self) -> int:
        return len(self.params)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __repr__(self) -> str:
        inner = ", ".join(f"{p.name}={list(p.values)}" for p in self.params)
        return f"HPSpace({inner})"

    def __eq__(self, other) -> bool:
        return isinstance(other, HPSpace) and self.params == other.params

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
            raise ValueError(
                f"{_element(argument, bad)} = {arr[bad][0]} is outside the action space: the index of "
                f"{self.names[j]} must be in [0, {self.nvec[j]})"
            )
        return arr

    def decode(self, action) -> dict:
        """The hyper-parameter values an action selects, as a plain dict."""
        arr = self.check_action(action)
        return {p.name: p.values[i] for p, i in zip(self.params, arr)}

    def encode(self, values: Mapping[str, float]) -> np.ndarray:
        """The action that selects ``values`` (each must be one of the candidate values)."""
        missing = set(self.names) - set(values)
        if missing:
            raise ValueError(f"values is missing hyper-parameters {sorted(missing)}; need {list(self.names)}")
        action = []
        for p in self.params:
            v = values[p.name]
            matches = [i for i, c in enumerate(p.values) if math.isclose(c, float(v), rel_tol=1e-9)]
            if not matches:
                raise ValueError(f"{p.name}={v!r} is not a candidate value; allowed: {list(p.values)}")
            action.append(matches[0])
        return np.array(action, dtype=np.int64)

    def normalized(self, actions: np.ndarray) -> np.ndarray:
        """Each index scaled to [0, 1] (``index / (n - 1)``); works on a batch of actions."""
        denom = np.maximum(self.nvec - 1, 1)
        return np.asarray(actions, dtype=np.float32) / denom.astype(np.float32)

    def values_of(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """For a batch of actions ``(K, len(self))``, each hyper-parameter's values as an array."""
        actions = np.asarray(actions, dtype=np.int64)
        return {
            p.name: np.asarray(p.values)[actions[:, j]] for j, p in enumerate(self.params)
        }


def _element(argument: str, bad: np.ndarray) -> str:
    """``action[2]`` or ``actions[1, 3]``: where the first True of ``bad`` sits."""
    return f"{argument}[{', '.join(str(i) for i in np.argwhere(bad)[0])}]"
